"""Pooling by name: token outputs y (..., T, d) -> one float32 vector per sentence (..., d), or None.

real (..., T), True for a sentence's real tokens, leaves a batch's padding out; without it every token
counts (one sentence, (T, d)). Written once against the array API, for numpy arrays and torch tensors
alike: a model's batch is pooled where it ran, and only its (B, d) vectors come back to the host.

    mean           v = sum_t real_t y_t / sum_t real_t          the average token, as sentence-transformers pool
    max            v_j = max_{t real} y_tj                      each feature's strongest token
    first          v = y_f, f the first real token (t = 0)      BERT's [CLS] (sentence-transformers' cls)
    mean_sqrt_len  v = sum_t real_t y_t / sqrt(sum_t real_t)    the sum over the square root of the count
    weightedmean   v = sum_t w_t y_t / sum_t w_t, w_t = (t+1) real_t   later tokens weigh more (SGPT)
    lasttoken      v = y_l, l the last real token               a decoder's summary token

A sentence-transformers Pooling with include_prompt false leaves the prompt's tokens out of real (the caller
does, pipelines/bert.py), so every mode pools the text's tokens alone, as sentence-transformers does.

    cos(u, v) = u . v / (|u| |v|)                  cosines(): every pair of sentence vectors
"""

import math
from collections.abc import Callable

from vectorize_cli.backend import namespace


def _sum_count(y, real):
    """(sum_t real_t y_t (..., d), sum_t real_t (..., 1)), both float64."""
    xp = namespace(y)
    if real is None:
        return xp.sum(y, axis=-2, dtype=xp.float64), y.shape[-2]
    n = xp.sum(xp.astype(real, xp.float64), axis=-1)[..., None]  # (..., 1) real tokens
    n = xp.where(n > 0, n, 1e-9)  # no real token (a text all prompt): zeros, as sentence-transformers' clamp
    return xp.sum(y * xp.astype(real, y.dtype)[..., None], axis=-2, dtype=xp.float64), n


def mean(y, real=None):
    """Summed in float64, since a float32 sum of thousands of rows drifts by 1e-5 (the fuzzer found it)."""
    xp = namespace(y)
    total, n = _sum_count(y, real)
    return xp.astype(total / n, xp.float32)


def mean_sqrt_len(y, real=None):
    """v = sum_t real_t y_t / sqrt(sum_t real_t)."""
    xp = namespace(y)
    total, n = _sum_count(y, real)
    return xp.astype(total / n ** 0.5, xp.float32)


def weightedmean(y, real=None):
    """v = sum_t w_t y_t / sum_t w_t, w_t = (t + 1) real_t: position-weighted (Muennighoff 2022, SGPT)."""
    xp = namespace(y)
    T = y.shape[-2]
    w = xp.astype(xp.arange(1, T + 1), xp.float64)  # (T,)
    if real is not None:
        w = w * xp.astype(real, xp.float64)  # (..., T)
    w = xp.broadcast_to(w, y.shape[:-1])  # (..., T)
    total = xp.sum(y * xp.astype(w, y.dtype)[..., None], axis=-2, dtype=xp.float64)  # (..., d)
    n = xp.sum(w, axis=-1)[..., None]  # (..., 1)
    return xp.astype(total / xp.where(n > 0, n, 1e-9), xp.float32)


def _pick(y, t):
    """y (..., T, d) at token t (...,) -> (..., d)."""
    xp = namespace(y)
    if y.ndim == 2:
        return y[int(t), :]
    return y[xp.arange(y.shape[0], device=t.device), t, :]


def max_(y, real=None):
    xp = namespace(y)
    if real is not None:
        y = xp.where(real[..., None], y, -math.inf)
    return xp.astype(xp.max(y, axis=-2), xp.float32)


def first(y, real=None):
    """y at the first real token: t = 0 unless a prompt is left out (include_prompt false)."""
    xp = namespace(y)
    if real is None:
        return xp.astype(y[..., 0, :], xp.float32)  # a copy, never a view of y
    return xp.astype(_pick(y, xp.argmax(xp.astype(real, xp.int32), axis=-1)), xp.float32)


def lasttoken(y, real=None):
    """y at the last real token (right padding: the n-th; none real: the last row, zeroed), as
    sentence-transformers' lasttoken."""
    xp = namespace(y)
    if real is None:
        return xp.astype(y[..., -1, :], xp.float32)
    r = xp.astype(real, xp.int32)  # (..., T)
    T = y.shape[-2]
    last = T - 1 - xp.argmax(xp.flip(r, axis=-1), axis=-1)  # (...,)
    v = _pick(y, last) * xp.astype(_pick(r[..., None], last), y.dtype)  # (..., d), zero where none is real
    return xp.astype(v, xp.float32)


POOLING: dict[str, Callable] = {"mean": mean, "max": max_, "first": first, "mean_sqrt_len": mean_sqrt_len,
                                "weightedmean": weightedmean, "lasttoken": lasttoken,
                                "none": lambda y, real=None: None}


def l2_normalize(v, eps: float = 1e-12):
    """v / max(|v|, eps) over the last axis: sentence-transformers' Normalize (F.normalize)."""
    xp = namespace(v)
    return v / xp.clip(xp.linalg.vector_norm(v, axis=-1, keepdims=True), eps, None)


def cosines(v):
    """Sentence vectors (N, d) -> (N, N) cos(v_i, v_j) = v_i . v_j / (|v_i| |v_j|), clipped to [-1, 1]:
    `similarity`'s matrix and `explain`'s cosine, one formula."""
    xp = namespace(v)
    unit = l2_normalize(v)
    return xp.clip(unit @ unit.T, -1.0, 1.0)
