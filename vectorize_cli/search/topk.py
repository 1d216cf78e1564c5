"""The k best rows per query, in a fixed order: score descending, then id ascending (ties broken by id).

    best(scores (Q, n), ids, k) -> columns (Q, min(k, n)) of the k best, in that order

np.argpartition finds k best in O(n); where the k-th score has ties beyond the k taken (rare for float
scores, common for Hamming distances), that query's row is sorted whole by (-score, id) instead, so which of
the tied rows make the cut never depends on the partition's internals. A running top-k over blocks of rows
merges with the same function: the union of two tops holds the top of the union.
"""

from dataclasses import dataclass

import numpy as np


def best(scores: np.ndarray, ids: np.ndarray, k: int) -> np.ndarray:
    """scores (Q, n), ids (Q, n) int64 -> the columns of each query's k best (Q, min(k, n)), best first."""
    Q, n = scores.shape
    if n > k:
        at = np.argpartition(-scores, k - 1, axis=1)[:, :k]  # (Q, k) the k best, ties at the cut arbitrary
        kth = np.take_along_axis(scores, at, axis=1).min(axis=1, keepdims=True)  # (Q, 1)
        crossing = (scores == kth).sum(axis=1) != (np.take_along_axis(scores, at, axis=1) == kth).sum(axis=1)
        for qi in np.flatnonzero(crossing):  # ties straddle the cut: order this query exactly
            at[qi] = np.lexsort((ids[qi], -scores[qi]))[:k]
    else:
        at = np.broadcast_to(np.arange(n), (Q, n))
    s, i = np.take_along_axis(scores, at, axis=1), np.take_along_axis(ids, at, axis=1)
    return np.take_along_axis(at, np.lexsort((i, -s), axis=-1), axis=1)


@dataclass(frozen=True)
class Top:
    """Each query's best rows so far, best first; rows: their stored vectors when they are to be rescored."""

    scores: np.ndarray  # (Q, m) float32
    ids: np.ndarray  # (Q, m) int64
    rows: np.ndarray | None = None  # (Q, m, width) as stored, or None

    def take(self, at: np.ndarray) -> "Top":
        rows = None if self.rows is None else np.take_along_axis(self.rows, at[:, :, None], axis=1)
        return Top(np.take_along_axis(self.scores, at, axis=1), np.take_along_axis(self.ids, at, axis=1), rows)

    def best(self, k: int) -> "Top":
        return self.take(best(self.scores, self.ids, k))


def merge(a: Top | None, b: Top, k: int) -> Top:
    """The k best of two tops of the same queries."""
    if a is None:
        return b.best(k)
    rows = None if a.rows is None else np.concatenate([a.rows, b.rows], axis=1)
    both = Top(np.concatenate([a.scores, b.scores], axis=1), np.concatenate([a.ids, b.ids], axis=1), rows)
    return both.best(k)
