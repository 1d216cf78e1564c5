"""The scores search ranks by, over each precision's rows as float32 vectors x' and queries q' (both as
dataset/precision.py's registry gives them: Precision.dequantize and Precision.query), so that one cosine ranks
the rows of every precision (for binary ones it is 1 - 2 Hamming(q, x) / d):

    score(q, x) = float32( q' . x' / |x'| )    in float64, q' a unit vector; 0 where either is zero

A score is a function of (q, x) alone, so equal vectors score equally and their ties are broken by id:
BLAS's float32 products are not (a row's rounding depends on where the kernel's tiles fall), so they
only pick the candidates, and every reported score is this float64 one (see exact.py).

Binary rescoring (sentence-transformers' semantic_search_usearch / _faiss with rescore) scores a candidate
against the float query itself: rescore(q, x) = float32( q . bits(x) ), bits in {0, 1}^d.
"""

import numpy as np

from vectorize_cli.dataset.precision import bits


def inverse_norms(x: np.ndarray) -> np.ndarray:
    """1 / |x| per row (B,), 0 for a zero row."""
    norm = np.sqrt(np.einsum("ij,ij->i", x, x))  # (B,)
    return np.divide(np.float32(1), norm, out=np.zeros_like(norm), where=norm > 0)


def estimate_cosines(q_unit: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Unit queries (Q, d) against rows x' (B, d) -> cosines (Q, B) float32 by BLAS, each within
    error_bound(d) of score(): fast, to pick candidates."""
    return (q_unit @ x.T) * inverse_norms(x)[None, :]  # (Q, B)


def error_bound(d: int) -> float:
    """|estimate_cosines - score| <= d u |q'| |x'| / |x'| for a float32 dot product of length d (u = 2^-24),
    twice over for the norm and the rounding of both: a safe margin for unit q'."""
    return 4.0 * d * 2.0**-24


def score(q_unit: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Unit queries (Q, d) against each query's own rows x' (Q, m, d) -> score (Q, m) float32 (see above)."""
    x64 = x.astype(np.float64)
    dot = np.einsum("qd,qmd->qm", q_unit.astype(np.float64), x64)  # (Q, m)
    norm = np.sqrt(np.einsum("qmd,qmd->qm", x64, x64))  # (Q, m)
    return np.divide(dot, norm, out=np.zeros_like(dot), where=norm > 0).astype(np.float32)


def rescore(q_unit: np.ndarray, packed: np.ndarray, d: int, signed: bool) -> np.ndarray:
    """Float queries (Q, d) against each query's own candidates, packed (Q, m, ceil(d/8)) -> q . bits (Q, m)."""
    Q, m, width = packed.shape
    b = bits(packed.reshape(Q * m, width), d, signed).reshape(Q, m, d).astype(np.float64)  # (Q, m, d)
    return np.einsum("qd,qmd->qm", q_unit.astype(np.float64), b).astype(np.float32)  # (Q, m)
