"""The pointwise pieces of a BERT layer: each formula written here once, for numpy arrays; on torch
tensors the same formula runs as torch's own fused kernel (torch.nn.functional), one pass over memory
that keeps half precision's sums in float32, and is tested against the numpy one
(tests/test_model_nn.py). numpy has no erf: erf_ below is ours.

Notation: B sentences, T tokens, d = d_model, x (..., d).
"""

import math

import numpy as np

from vectorize_cli.backend import import_torch

SQRT_HALF = 1.0 / math.sqrt(2.0)


def dense(x, w, b):
    """x W + b, W in "x @ W" layout (in, out); the bias is added in place (no second temporary)."""
    y = x @ w
    y += b
    return y


def layer_norm(x, g, b, eps: float):
    """LayerNorm(x) = (x - mean) / sqrt(var + eps) * g + b over the last axis (Ba et al. 2016),
    var the biased variance mean((x - mean)^2), as torch.nn.LayerNorm."""
    if not isinstance(x, np.ndarray):  # torch: its kernel, the mean and variance summed in float32
        return _functional().layer_norm(x, x.shape[-1:], g, b, eps)
    xc = x - x.mean(-1, keepdims=True)  # (..., d)
    var = (xc * xc).mean(-1, keepdims=True)  # (..., 1)
    xc *= (var + eps) ** -0.5
    xc *= g
    xc += b
    return xc


def gelu_(x):
    """GELU(x) = x Phi(x) = x * (1 + erf(x / sqrt(2))) / 2   (Hendrycks & Gimpel 2016): the exact
    form BERT uses (hidden_act "gelu"), not the tanh approximation. On numpy in place, every step on CHUNK
    elements at a time in the core's cache: one pass over memory instead of five."""
    if not isinstance(x, np.ndarray):  # torch: its kernel, the erf form (approximate="none"), into a new tensor
        return _functional().gelu(x)
    return _chunked(x, _gelu_chunk, 4)


def _functional():
    return import_torch().nn.functional


# Abramowitz & Stegun 1964, Handbook of Mathematical Functions, formula 7.1.26.
_P = 0.3275911
_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)  # a1 .. a5
CHUNK = 1 << 16  # elements per step of erf_: the step's four arrays stay in the core's L2 cache


def _erf_chunk(x: np.ndarray, z: np.ndarray, t: np.ndarray, y: np.ndarray) -> None:
    c = x.dtype.type
    np.abs(x, out=z)
    np.multiply(z, c(_P), out=t)
    t += 1
    np.reciprocal(t, out=t)  # t = 1 / (1 + p|x|)
    np.multiply(t, c(_A[4]), out=y)
    for a in _A[3::-1]:  # Horner: y = t (a1 + t (a2 + t (a3 + t (a4 + t a5))))
        y += c(a)
        y *= t
    np.multiply(z, z, out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)  # exp(-x^2)
    y *= z
    np.subtract(1, y, out=y)
    np.copysign(y, x, out=x)


def _gelu_chunk(x: np.ndarray, e: np.ndarray, z: np.ndarray, t: np.ndarray, y: np.ndarray) -> None:
    c = x.dtype.type
    np.multiply(x, c(SQRT_HALF), out=e)
    _erf_chunk(e, z, t, y)
    e *= c(0.5)
    e += c(0.5)
    x *= e


def erf_(x: np.ndarray) -> np.ndarray:
    """erf(x) = 1 - (a1 t + a2 t^2 + a3 t^3 + a4 t^4 + a5 t^5) exp(-x^2),  t = 1 / (1 + p x)  for x >= 0,
    erf(-x) = -erf(x)   (Abramowitz & Stegun 7.1.26), in place on a contiguous x, in its dtype.
    |error| <= 1.5e-7 in exact arithmetic, about one float32 step of erf near 1; evaluated in
    float32 (the model's dtype) it stays within 7e-7 of math.erf (tested). numpy has no erf;
    scipy's takes ~12 ns an element here, np.vectorize(math.erf) ~100 ns: this ~2 ns."""
    return _chunked(x, _erf_chunk, 3)


def _chunked(x: np.ndarray, step, buffers: int) -> np.ndarray:
    """step(part, *buffers) on each CHUNK of a contiguous x in place, with `buffers` scratch arrays reused."""
    flat = x.reshape(-1)  # a view: x is contiguous
    n = min(CHUNK, flat.size)
    scratch = [np.empty(n, dtype=x.dtype) for _ in range(buffers)]
    for i in range(0, flat.size, CHUNK):
        part = flat[i : i + CHUNK]
        step(part, *(b[: part.size] for b in scratch))
    return x
