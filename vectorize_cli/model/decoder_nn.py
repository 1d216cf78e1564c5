"""The pieces of a decoder layer that BERT's has not (model/nn.py has the dense layer): each formula written once,
against the array API, for numpy arrays and torch tensors alike (SiLU: torch's own kernel on torch).

On numpy the two steps between the products, SwiGLU and the residual add + RMSNorm, may run as compiled loops
(compiled_decoder.decoder_fused, numba_decoder_loops.py) where the caller passes them: SwiGLU through sigmoid and
silu_times below, written once with nn.exp_le0 for numpy arrays and for the one float32 value numba compiles
them for (numpy's np.exp is not numba's), RMSNorm's sum of squares in numpy's pairwise order: both numpy's
passes within float32 rounding (compiled_decoder.SWIGLU_ULPS, RMS_NORM_ULPS ulps of float64), not their bits.

Notation: B sentences, T tokens, d = d_model, H query heads, KV key/value heads, hs head size.
"""

import numpy as np

from vectorize_cli.backend import import_torch, namespace
from vectorize_cli.model.nn import ONE, exp_le0


def rms_norm(x, g, eps: float, out=None):
    """RMSNorm(x) = x / sqrt(mean(x²) + eps) * g over the last axis (Zhang & Sennrich 2019): no mean subtracted,
    no bias. The mean of squares in float32 whatever x's dtype, as transformers' Qwen3RMSNorm, as one dot product a
    row (no (..., n) temporary of squares). out: where to write it (a new array if None), any layout of x's shape:
    a heads-first (B, h, T, hs) array fed x's (B, T, h, hs) view swapped, so the norm does the head split's copy."""
    xp = namespace(x)
    x32 = xp.astype(x, xp.float32, copy=False)
    r = (xp.vecdot(x32, x32)[..., None] / x.shape[-1] + eps) ** -0.5  # (..., 1) 1 / sqrt(mean(x²) + eps)
    if out is None:
        y = xp.astype(x32 * r, x.dtype, copy=False)  # a new array: x is the residual stream
    elif isinstance(x, np.ndarray):
        y = np.multiply(x32, r, out=out)
    else:
        y = import_torch().mul(x32, r, out=out)
    y *= g
    return y


def add_rms_norm(y, r, g, eps: float, loops=None):
    """The pre-norm stream's step between two sublayers:  x = y + r,  h = RMSNorm(x) g  -> (x, h), x in place of
    y (a sublayer's output, the caller's new array: the old stream r stays as it was), h a new array; r None:
    x = y, left as it is (the first layer's norm). On numpy with loops (compiled_decoder.decoder_fused's): one loop a
    row, the add numpy's bits, h within compiled_decoder.RMS_NORM_ULPS ulps of float64 as numpy's own is."""
    if loops is not None:
        return loops.add_rms_norm_(y, r, g, eps)
    if r is not None:
        y += r  # (..., d)
    return y, rms_norm(y, g, eps)


def silu(x):
    """SiLU(x) = x σ(x) = x / (1 + exp(-x))   (Elfwing et al. 2018; SwiGLU's gate, Shazeer 2020)."""
    if not isinstance(x, np.ndarray):
        return import_torch().nn.functional.silu(x)
    y = np.negative(x)
    np.exp(y, out=y)
    y += 1.0
    return np.divide(x, y, out=y)  # one new array, not four


def swiglu_(gate_up, d_ff: int, loops=None):
    """SwiGLU's hidden layer from the stacked products [x W_gate, x W_up] (..., 2 d_ff):
        silu(x W_gate) * x W_up = (x W_gate * x W_up) / (1 + exp(-x W_gate))
    -> (..., d_ff). On numpy in place in gate_up's memory, five passes and no new array (the result is the view of
    its up half: a matrix product reads it as it is), or one with loops (compiled_decoder.decoder_fused's: silu_times
    a row at a time, within compiled_decoder.SWIGLU_ULPS ulps of float64); on torch, torch's SiLU kernel into a new
    tensor."""
    if loops is not None:
        return loops.swiglu_(gate_up, d_ff)
    gate, up = gate_up[..., :d_ff], gate_up[..., d_ff:]  # (..., d_ff) views
    if not isinstance(gate_up, np.ndarray):
        h = silu(gate)
        h *= up
        return h
    up *= gate  # x W_gate * x W_up
    np.negative(gate, out=gate)
    np.exp(gate, out=gate)
    gate += 1.0  # 1 + exp(-x W_gate)
    up /= gate
    return up


# The compiled SwiGLU's formulas, for a float32 numpy array and for one float32 value (numba_decoder_loops.py
# compiles these functions themselves): operators, numpy ufuncs and nn.exp_le0 only, as nn.py's.
def sigmoid(x):
    """σ(x) = 1 / (1 + exp(-x)) = exp(min(x, 0)) / (1 + exp(-|x|)): one exp, its argument -|x| <= 0 (nn.exp_le0's
    domain), for either sign; the numerator exp(min(x, 0)) is 1 for x >= 0 and exp(-|x|) below, that is
    fmax(exp(-|x|), sign(x)). No overflow (numpy's 1 + exp(-x) is inf from x = -88.7); σ(±inf) = 1, 0; σ(NaN) = 0
    (exp_le0 takes NaN to 0 and fmax drops sign's NaN): silu_times carries x's NaN."""
    e = exp_le0(-abs(x))
    n = np.fmax(e, np.sign(x))
    e += ONE
    return n / e


def silu_times(gate, up):
    """silu(gate) * up = gate * up * σ(gate), SwiGLU's product (Shazeer 2020), numpy's order of the first
    product: NaN where numpy's swiglu_ gives NaN (gate or up NaN, gate = -inf, inf * 0)."""
    h = gate * up
    h *= sigmoid(gate)
    return h


def rotary_angles(T: int, hs: int, theta: float) -> np.ndarray:
    """Rotary position embedding's angles (Su et al. 2021, RoFormer, arXiv:2104.09864):
        angle[t, i] = t θ_i,   θ_i = theta^(-2i / hs),   i = 0 .. hs/2 - 1
    (T, hs/2) float32, computed as transformers computes them (float32 inverse frequencies, position times each)."""
    inv_freq = 1.0 / (np.float32(theta) ** (np.arange(0, hs, 2, dtype=np.float32) / np.float32(hs)))  # (hs/2,)
    return np.arange(T, dtype=np.float32)[:, None] * inv_freq.astype(np.float32)[None, :]  # (T, hs/2)


def rotary_cos_sin(angles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cos, sin) of the angles: (T, hs/2) each, once per batch; pair i is features i and i + hs/2 (transformers'
    layout, the halves paired, not adjacent features), both turned by angle i."""
    return np.cos(angles), np.sin(angles)


def rotate_(x, cos, sin):
    """RoPE(x)_t = x_t cos(t θ) + rotate_half(x_t) sin(t θ),  rotate_half([x1, x2]) = [-x2, x1]:
    each pair (x_i, x_{i+hs/2}) turned by angle t θ_i, so q_s · k_t depends on s - t alone, in halves:
        x1 <- x1 cos - x2 sin,   x2 <- x2 cos + x1 sin
    (transformers' operations in its order, so its bits). In place on x (..., T, hs), an array of the caller's;
    cos, sin (T, hs/2). Two half-size temporaries."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]  # views
    x1_sin, x2_sin = x1 * sin, x2 * sin
    x1 *= cos
    x1 -= x2_sin
    x2 *= cos
    x2 += x1_sin
    return x


def heads_first(a, g=None, eps: float = 0.0):
    """(B, T, h, hs) -> (B, h, T, hs), contiguous: numpy's batched matrix product on the transposed view runs
    about ten times slower than on a copy (the copy costs less than the product). With g: RMSNorm(a) g over each
    head's hs features (Qwen3's q_norm, k_norm), written heads-first by the norm itself: one pass, not two."""
    if g is not None:
        B, T, h, hs = a.shape
        out = namespace(a).empty((B, h, T, hs), dtype=a.dtype, device=getattr(a, "device", None))
        return rms_norm(a.swapaxes(1, 2), g, eps, out=out)
    if isinstance(a, np.ndarray):
        return np.ascontiguousarray(a.swapaxes(1, 2))
    return a.swapaxes(1, 2).contiguous()


def repeat_kv(k, n: int):
    """Grouped-query attention (Ainslie et al. 2023, arXiv:2305.13245): KV key (or value) heads (B, KV, T, hs)
    -> (B, KV n, T, hs), head g repeated for the n query heads g n .. g n + n - 1 that share it."""
    if n == 1:
        return k
    return namespace(k).repeat(k, n, axis=1)
