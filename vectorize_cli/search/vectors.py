"""Each precision's stored vectors as float32 vectors, so that one cosine ranks the rows of every precision.

    float32            x' = x
    int8, uint8        x' = (x [+ 128 for int8]) * steps + starts,   starts = mins, steps = (maxs - mins) / 255
                       (a step of 0 counts as 1): sentence-transformers' dequantization of quantize_embeddings
    binary, ubinary    x' = 2 bits(x) - 1 in {-1, +1}^d   (np.unpackbits, the padding bits cut off; binary
                       stores packbits - 128, so its bytes are x ^ 0x80), and the query q' = 2 [q > 0] - 1:
                       cos(q', x') = 1 - 2 Hamming(q, x) / d, the Hamming ranking

    score(q, x) = float32( q' . x' / |x'| )    in float64, q' a unit vector; 0 where either is zero

A score is a function of (q, x) alone, so equal vectors score equally and their ties are broken by id:
BLAS's float32 products are not (a row's rounding depends on where the kernel's tiles fall), so they
only pick the candidates, and every reported score is this float64 one (see exact.py).

Binary rescoring (sentence-transformers' semantic_search_usearch / _faiss with rescore) scores a candidate
against the float query itself: rescore(q, x) = float32( q . bits(x) ), bits in {0, 1}^d.
"""

from collections.abc import Callable

import numpy as np


def _floats(x: np.ndarray, ranges: np.ndarray | None, d: int) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def _dequantize(offset: int) -> Callable:
    def dequantize(x: np.ndarray, ranges: np.ndarray | None, d: int) -> np.ndarray:
        starts = ranges[0]  # (d,)
        steps = (ranges[1] - starts) / np.float32(255)
        steps = np.where(steps == 0, np.float32(1), steps)
        return (x.astype(np.float32) + np.float32(offset)) * steps + starts  # (B, d)

    return dequantize


def bits(x: np.ndarray, d: int, signed: bool) -> np.ndarray:
    """Packed rows (B, ceil(d/8)) -> their bits (B, d) uint8 in {0, 1}."""
    raw = x.view(np.uint8) ^ np.uint8(0x80) if signed else x.view(np.uint8)
    return np.unpackbits(raw, axis=-1, count=d)


def _signs(signed: bool) -> Callable:
    def signs(x: np.ndarray, ranges: np.ndarray | None, d: int) -> np.ndarray:
        return bits(x, d, signed).astype(np.float32) * np.float32(2) - np.float32(1)  # (B, d) in {-1, +1}

    return signs


# precision -> (stored rows (B, width), ranges, d) -> x' (B, d) float32
AS_FLOAT: dict[str, Callable[[np.ndarray, np.ndarray | None, int], np.ndarray]] = {
    "float32": _floats,
    "int8": _dequantize(128),
    "uint8": _dequantize(0),
    "binary": _signs(True),
    "ubinary": _signs(False),
}
BINARY = ("binary", "ubinary")


def query_as(precision: str, q: np.ndarray) -> np.ndarray:
    """Queries (Q, d) float32 as the precision compares them: unit vectors, or unit sign vectors for binary."""
    q = np.asarray(q, dtype=np.float32)
    if precision in BINARY:
        q = np.where(q > 0, np.float32(1), np.float32(-1))
    norm = np.linalg.norm(q, axis=1, keepdims=True)  # (Q, 1)
    return np.divide(q, norm, out=np.zeros_like(q), where=norm > 0)


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
