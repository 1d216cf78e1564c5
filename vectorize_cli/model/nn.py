"""The pointwise pieces of a BERT layer: each formula written here once, for numpy arrays; on torch
tensors the same formula runs as torch's own fused kernel (torch.nn.functional), one pass over memory
that keeps half precision's sums in float32, and is tested against the numpy one
(tests/test_model_nn.py). numpy has no erf: erf_abs below is ours, exp included, so
that numba can compile the same formula (numba_loops.py, run through compiled.py).

Notation: B sentences, T tokens, d = d_model, x (..., d).
"""

import math
import operator

import numpy as np

from vectorize_cli.backend import import_torch

SQRT_HALF = np.float32(1.0 / math.sqrt(2.0))  # float32, as every constant of the formulas below


def dense(x, w, b, product=operator.matmul):
    """x W + b, W in "x @ W" layout (in, out); the bias is added in place (no second temporary). product(x, W):
    the run's matrix product (sgemm.product: numpy's `@`, or MKL's on numpy float32)."""
    y = product(x, w)
    y += b
    return y


def dense_gelu(x, w, b, loops=None, product=operator.matmul):
    """GELU(x W + b): the product by BLAS (product, as dense's), then the bias and GELU in one pass where loops
    (compiled.fused's) are given (numpy's bits either way), else dense then gelu_."""
    if loops is None:
        return gelu_(dense(x, w, b, product))
    return loops.bias_gelu_(product(x, w), b)


def dense_add_norm(x, w, b, residual, g, beta, eps: float, loops=None, product=operator.matmul):
    """LayerNorm(residual + x W + b) with gain g and bias beta (post-LN's sublayer end): the product by BLAS
    (product, as dense's), then the bias, the residual and LayerNorm in one loop where loops (compiled.fused's)
    are given (numpy's bits either way), else dense, += and layer_norm_."""
    if loops is not None:
        return loops.add_layer_norm_(product(x, w), b, residual, g, beta, eps)
    y = dense(x, w, b, product)
    y += residual
    return layer_norm_(y, g, beta, eps)


def layer_norm_(x, g, b, eps: float):
    """LayerNorm(x) = (x - mean) / sqrt(var + eps) * g + b over the last axis (Ba et al. 2016),
    var the biased variance mean((x - mean)^2), as torch.nn.LayerNorm. On numpy in place: x is
    overwritten and returned (the same bits as into new arrays, in less time: benchmarks/README.md);
    on torch its kernel, the mean and variance summed in float32, into a new tensor."""
    if not isinstance(x, np.ndarray):
        return _functional().layer_norm(x, x.shape[-1:], g, b, eps)
    x -= x.mean(-1, keepdims=True)  # (..., d)
    var = (x * x).mean(-1, keepdims=True)  # (..., 1)
    var += eps
    x *= var ** -0.5
    x *= g
    x += b
    return x


def gelu_(x, loop=None):
    """GELU(x) = x Phi(x) = x * (1 + erf(x / sqrt(2))) / 2   (Hendrycks & Gimpel 2016): the exact
    form BERT uses (hidden_act "gelu"), not the tanh approximation. On numpy (float32, the model's dtype)
    in place, in chunks of CHUNK elements that stay in the core's cache, or by loop where the caller has
    it: the same formula compiled into one loop (compiled.fused(backend).gelu_), the same numbers bit for bit."""
    if not isinstance(x, np.ndarray):  # torch: its kernel, the erf form (approximate="none"), into a new tensor
        return _functional().gelu(x)
    if loop is not None:
        return loop(x)  # checks x as check_in_place does
    check_in_place(x)
    return _chunked(x, _gelu_chunk)


def erf_(x: np.ndarray) -> np.ndarray:
    """erf(x) in place on a contiguous float32 x (numpy has no erf; scipy's takes ~12 ns an element here,
    np.vectorize(math.erf) ~100 ns): erf_abs below, signed. Within 7e-7 of math.erf (tested)."""
    check_in_place(x)
    return _chunked(x, _erf_chunk)


def _functional():
    return import_torch().nn.functional


def check_in_place(x: np.ndarray) -> None:
    """A contiguous, writeable float32 array (the model's dtype): what the formulas below run on, in place."""
    if x.dtype != np.float32 or not x.flags.c_contiguous or not x.flags.writeable:
        raise TypeError(f"the model's pointwise formulas take a contiguous, writeable float32 array, not {x.dtype} "
                        f"({'' if x.flags.c_contiguous else 'not '}contiguous, "
                        f"{'' if x.flags.writeable else 'not '}writeable)")


# The formulas, written once for a float32 numpy array and for one float32 value: numba_loops.py compiles
# these same functions with numba (its loops call them on x[i]), so both give the same bits (flash's
# exp loop fuses multiply-adds: within an ulp). Only
# operators, in-place operators (on a number they rebind it) and numpy ufuncs appear, every constant is
# a float32, and no step is left to a library's own rounding (numpy's exp is not numba's).
HALF, ONE, FOUR = np.float32(0.5), np.float32(1.0), np.float32(4.0)
# Abramowitz & Stegun 1964, Handbook of Mathematical Functions, formula 7.1.26: p, a1 .. a5
P, A1, A2, A3, A4, A5 = (np.float32(c) for c in (0.3275911, 0.254829592, -0.284496736, 1.421413741,
                                                -1.453152027, 1.061405429))
LOG2E = np.float32(1 / math.log(2))
LN2_HI, LN2_LO = np.float32(0.693359375), np.float32(-2.12194440e-4)  # ln 2 in two parts: k LN2_HI is exact
TAYLOR = tuple(np.float32(1 / math.factorial(n)) for n in range(7, 0, -1))  # 1/7! .. 1/1!: exp's polynomial
BIAS, SHIFT = np.int32(127), np.int32(23)  # float32: exponent bias, mantissa bits
EXP_FLOOR = np.float32(-88.0)  # exp_le0's a from here up: trunc(-88 / ln 2 - 1/2) = -127, so 2^k's bits are 0


def times_poly(x, coefficients):
    """x (c_1 + x (c_2 + ... + x c_n)) for coefficients (c_n, ..., c_1), highest power first: Horner's rule,
    one multiply and one add a step (in place after the first product)."""
    p = x * coefficients[0]
    for c in coefficients[1:]:
        p += c
        p *= x
    return p


def float_bits(i):
    """The float32 values whose bits are the int32 i (numba_loops.py gives numba its own)."""
    return i.view(np.float32)


def exp_le0(a):
    """exp(a) for every a <= 0, -inf included:  exp(a) = 2^k exp(r),  k = trunc(a / ln 2 - 1/2) (a <= 0: round
    to nearest), r = a - k ln 2 in [-ln(2)/2, ln(2)/2] (Cody & Waite 1980), exp(r) by its Taylor polynomial to
    r^7/7! (relative error below 6e-9), 2^k written into the exponent bits. a is first raised to EXP_FLOOR
    (fmax: -inf and NaN too), where k = -127 writes exponent bits 0: exactly 0 from a = -87.68 down (the true
    value is below float32's smallest normal, 1.2e-38; subnormal results above it are rounded as IEEE says)."""
    a = np.fmax(a, EXP_FLOOR)
    kf = a * LOG2E
    kf -= HALF
    kf = np.trunc(kf)
    r = kf * LN2_HI
    r = a - r
    r -= kf * LN2_LO
    p = times_poly(r, TAYLOR)  # exp(r) - 1 = r (1 + r (1/2 + r (1/6 + ... + r / 7!)))
    p += ONE
    k = np.int32(kf)
    k += BIAS
    k <<= SHIFT
    p *= float_bits(k)
    return p


def erf_abs(z):
    """erf(z) for z = |x| >= 0:  erf(z) = 1 - t (a1 + t (a2 + t (a3 + t (a4 + t a5)))) exp(-z^2),
    t = 1 / (1 + p z)   (Abramowitz & Stegun 7.1.26: |error| <= 1.5e-7). z is first clamped to 4
    (erf(4) rounds to 1 in float32 either way; fmin turns NaN into 4 too, so every step stays finite)."""
    z = np.fmin(z, FOUR)
    t = P * z
    t += ONE
    t = ONE / t
    y = times_poly(t, (A5, A4, A3, A2, A1))
    z *= z
    y *= exp_le0(-z)
    return ONE - y


def gelu_factor(x):
    """Phi(x) = (1 + erf(x / sqrt 2)) / 2, so that GELU(x) = x * gelu_factor(x)."""
    e = np.copysign(erf_abs(abs(x) * SQRT_HALF), x)
    e *= HALF
    e += HALF
    return e


CHUNK = 1 << 16  # elements per step: the step's arrays stay in the core's L2 cache


def _gelu_chunk(x: np.ndarray) -> None:
    x *= gelu_factor(x)


def _erf_chunk(x: np.ndarray) -> None:
    np.copyto(x, np.copysign(erf_abs(abs(x)), x), where=~np.isnan(x))  # erf(NaN) = NaN (erf_abs gives 1)


def _chunked(x: np.ndarray, step) -> np.ndarray:
    """step(part) on each CHUNK of a contiguous x, in place."""
    flat = x.reshape(-1)  # a view: x is contiguous
    with np.errstate(invalid="ignore"):  # NaN * 0 in a NaN's lane: the NaN comes out, no warning
        for i in range(0, flat.size, CHUNK):
            step(flat[i : i + CHUNK])
    return x
