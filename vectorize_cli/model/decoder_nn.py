"""The pieces of a decoder layer that BERT's has not (model/nn.py has the dense layer): each formula written once,
against the array API, for numpy arrays and torch tensors alike (SiLU: torch's own kernel on torch).

Notation: B sentences, T tokens, d = d_model, H query heads, KV key/value heads, hs head size.
"""

import numpy as np

from vectorize_cli.backend import import_torch, namespace


def rms_norm(x, g, eps: float):
    """RMSNorm(x) = x / sqrt(mean(x²) + eps) * g over the last axis (Zhang & Sennrich 2019): no mean subtracted,
    no bias. The mean of squares in float32 whatever x's dtype, as transformers' Qwen3RMSNorm."""
    xp = namespace(x)
    x32 = xp.astype(x, xp.float32, copy=False)
    var = xp.mean(x32 * x32, axis=-1, keepdims=True)  # (..., 1)
    y = xp.astype(x32 * (var + eps) ** -0.5, x.dtype, copy=False)  # a new array: x is the residual stream
    y *= g
    return y


def silu(x):
    """SiLU(x) = x σ(x) = x / (1 + exp(-x))   (Elfwing et al. 2018; SwiGLU's gate, Shazeer 2020)."""
    if not isinstance(x, np.ndarray):
        return import_torch().nn.functional.silu(x)
    y = np.negative(x)
    np.exp(y, out=y)
    y += 1.0
    return np.divide(x, y, out=y)  # one new array, not four


def swiglu(gate_up, d_ff: int):
    """SwiGLU's hidden layer from the stacked products [x W_gate, x W_up] (..., 2 d_ff): silu(x W_gate) * x W_up."""
    h = silu(gate_up[..., :d_ff])  # (..., d_ff), a new array
    h *= gate_up[..., d_ff:]
    return h


def rotary_angles(T: int, hs: int, theta: float) -> np.ndarray:
    """Rotary position embedding's angles (Su et al. 2021, RoFormer, arXiv:2104.09864):
        angle[t, i] = t θ_i,   θ_i = theta^(-2i / hs),   i = 0 .. hs/2 - 1
    (T, hs/2) float32, computed as transformers computes them (float32 inverse frequencies, position times each)."""
    inv_freq = 1.0 / (np.float32(theta) ** (np.arange(0, hs, 2, dtype=np.float32) / np.float32(hs)))  # (hs/2,)
    return np.arange(T, dtype=np.float32)[:, None] * inv_freq.astype(np.float32)[None, :]  # (T, hs/2)


def rotary_cos_sin(angles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cos, sin) of [angle, angle]: (T, hs), feature i and i + hs/2 turned by the same angle (transformers' layout,
    the halves paired, not adjacent features)."""
    both = np.concatenate([angles, angles], axis=-1)  # (T, hs)
    return np.cos(both), np.sin(both)


def rotate(x, cos, sin):
    """RoPE(x)_t = x_t cos(t θ) + rotate_half(x_t) sin(t θ),  rotate_half([x1, x2]) = [-x2, x1]:
    each pair (x_i, x_{i+hs/2}) turned by angle t θ_i, so q_s · k_t depends on s - t alone. x (..., T, hs)."""
    xp = namespace(x)
    half = x.shape[-1] // 2
    turned = xp.concat([-x[..., half:], x[..., :half]], axis=-1)  # rotate_half(x), a new array
    turned *= sin
    y = x * cos
    y += turned
    return y


def heads_first(a):
    """(B, T, h, hs) -> (B, h, T, hs), contiguous: numpy's batched matrix product on the transposed view runs
    about ten times slower than on a copy (the copy costs less than the product)."""
    if isinstance(a, np.ndarray):
        return np.ascontiguousarray(a.swapaxes(1, 2))
    return a.swapaxes(1, 2).contiguous()


def repeat_kv(k, n: int):
    """Grouped-query attention (Ainslie et al. 2023, arXiv:2305.13245): KV key (or value) heads (B, KV, T, hs)
    -> (B, KV n, T, hs), head g repeated for the n query heads g n .. g n + n - 1 that share it."""
    if n == 1:
        return k
    return namespace(k).repeat(k, n, axis=1)
