"""MPNet's relative position bias (Song et al. 2020, arXiv:2004.09297; the buckets of T5, Raffel et al. 2020,
arXiv:1910.10683, section 2.1): one learned number per head and distance bucket, added to every layer's scores.

    r         = j - i                                   key j, query i                          (T, T)
    n         = |r|;  half = num_buckets / 2;  exact = half / 2
    bucket(r) = half * [r > 0]                           keys after the query: the upper half
              + n                                        n < exact: one bucket per distance
              + min(exact + ⌊log(n / exact) / log(max_distance / exact) * (half - exact)⌋, half - 1)   otherwise
    B[h, i, j] = E_rel[bucket(j - i), h]                 E_rel (num_buckets, H), shared by the layers  (H, T, T)

transformers' MPNetEncoder computes 32 buckets and max distance 128 whatever config.json says (compute_position_bias
takes its default num_buckets=32), from the positions 0..T-1 (not the padding-offset ones): so here.
"""

import math

import numpy as np

NUM_BUCKETS = 32  # transformers' MPNetEncoder.compute_position_bias: num_buckets=32, always
MAX_DISTANCE = 128  # relative_position_bucket's max_distance: every distance from here on shares the last bucket


def bucket(r: np.ndarray, num_buckets: int = NUM_BUCKETS, max_distance: int = MAX_DISTANCE) -> np.ndarray:
    """r = j - i (any shape, integers) -> its bucket in 0 .. num_buckets-1, int64, the same shape."""
    half = num_buckets // 2
    exact = half // 2
    n = np.abs(r).astype(np.int64)
    far = np.log(np.maximum(n, 1) / exact) / math.log(max_distance / exact) * (half - exact)  # n >= exact only
    far = np.minimum(exact + far.astype(np.int64), half - 1)  # truncated toward 0, as .to(torch.long)
    return half * (r > 0) + np.where(n < exact, n, far)


def relative_position_bias(table, T: int):
    """table (H, num_buckets): E_rel transposed, a backend's array -> B (H, T, T) on the same backend, rows queries,
    columns keys: B[h, i, j] = E_rel[bucket(j - i), h], the same for every sentence of a batch."""
    t = np.arange(T, dtype=np.int64)
    b = bucket(t[None, :] - t[:, None])  # (T, T) int64: keys j minus queries i
    if not isinstance(table, np.ndarray):  # torch: the index on the table's device
        import torch

        b = torch.from_numpy(b).to(table.device)
    return table[:, b]  # (H, T, T)
