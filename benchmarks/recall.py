"""recall@k of a search against a reference search, fair to ties.

sample_inputs/sentences-10k.txt repeats some sentences (9,207 distinct lines in 10,000), so the reference
ranking has exact ties, and which of two equal neighbours a search returns is an accident of rounding: a
plain |top-k & top-k| / k scores float32 against its own renormalised copy at about 0.95. Here a returned
row counts when its reference score is at least the reference's k-th best (less 1e-6).
"""

import numpy as np


def recall_at_k(base: np.ndarray, scores: np.ndarray, k: int = 10) -> float:
    """base, scores: (Q, N) similarities of Q queries to N rows, query q being row q (left out of its own list)."""
    base, scores = base.astype(np.float64), scores.astype(np.float64)
    q = np.arange(len(base))
    base[q, q] = scores[q, q] = -np.inf
    found = np.argpartition(-scores, k, axis=1)[:, :k]  # (Q, k) the search's top k, in any order
    kth = -np.partition(-base, k - 1, axis=1)[:, k - 1 : k]  # (Q, 1) the reference's k-th best score
    return float(np.mean(np.take_along_axis(base, found, axis=1) >= kth - 1e-6))


def cosine_recall(ref: np.ndarray, v: np.ndarray, queries: int, k: int = 10) -> float:
    """recall@k of a cosine search with vectors v against one with ref (N, d), the first `queries` rows as queries."""
    def unit(x):
        x = x.astype(np.float64)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    r, u = unit(ref), unit(v)
    return recall_at_k(r[:queries] @ r.T, u[:queries] @ u.T, k)
