"""Pooling by name: token outputs y (..., T, d) -> one float32 vector per sentence (..., d), or None.

real (..., T), True for a sentence's real tokens, leaves a batch's padding out; without it every token
counts (one sentence, (T, d)). Written once against the array API, for numpy arrays and torch tensors
alike: a model's batch is pooled where it ran, and only its (B, d) vectors come back to the host.

    mean   v = sum_t real_t y_t / sum_t real_t     the average token, as sentence-transformers pool
    max    v_j = max_{t real} y_tj                 each feature's strongest token
    first  v = y_0                                 the first token, as BERT's [CLS]

    cos(u, v) = u . v / (|u| |v|)                  cosines(): every pair of sentence vectors
"""

import math
from collections.abc import Callable

from vectorize_cli.backend import namespace


def mean(y, real=None):
    """Summed in float64, since a float32 sum of thousands of rows drifts by 1e-5 (the fuzzer found it)."""
    xp = namespace(y)
    if real is None:
        return xp.astype(xp.sum(y, axis=-2, dtype=xp.float64) / y.shape[-2], xp.float32)
    n = xp.sum(xp.astype(real, xp.float64), axis=-1)[..., None]  # (..., 1) real tokens
    return xp.astype(xp.sum(y * xp.astype(real, y.dtype)[..., None], axis=-2, dtype=xp.float64) / n, xp.float32)


def max_(y, real=None):
    xp = namespace(y)
    if real is not None:
        y = xp.where(real[..., None], y, -math.inf)
    return xp.astype(xp.max(y, axis=-2), xp.float32)


def first(y, real=None):
    xp = namespace(y)
    return xp.astype(y[..., 0, :], xp.float32)  # a copy, never a view of y


POOLING: dict[str, Callable] = {"mean": mean, "max": max_, "first": first, "none": lambda y, real=None: None}


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
