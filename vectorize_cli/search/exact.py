"""Exact k-nearest-neighbour search by cosine, streamed over a dataset's blocks on every core.

    per block (one row group, at most 8,192 rows):   x' = dequantize(stored)              (B, d)
                                                     S  = q'_unit x'ᵀ / |x'|  (float32 BLAS)  (Q, B)
                                                     candidates: S >= m-th best S - 2 err   (Q, c)
                                                     top = best(score(candidates), ids, m)  (Q, m)
    over the blocks:                                 top = merge(top, block's top)          (Q, m)

BLAS's estimate is within err of the exact score (vectors.error_bound), so a row below the m-th best
estimate by more than 2 err cannot be among the m best: only the candidates are scored exactly (float64),
which makes a row's score the same wherever it sits, and ties between equal vectors fall to the id.

m = k, or k * rescore for binary --rescore: the m best by Hamming distance, then each rescored against the
float query (q . bits(x)) and the k best of those kept, as sentence-transformers' semantic_search_usearch
does with rescore_multiplier. Memory holds one block per core and (Q, m) per query chunk, whatever the
corpus's size; blocks run in threads (numpy lets go of the GIL in pyarrow's reads and in BLAS).
"""

import numpy as np

from vectorize_cli.errors import UsageError
from vectorize_cli.parallel import core_map
from vectorize_cli.search import vectors
from vectorize_cli.dataset.precision import PRECISIONS
from vectorize_cli.dataset.reader import RowGroup, Dataset, read_block
from vectorize_cli.search.topk import Top, merge

QUERY_CHUNK = 256  # queries scored at once against a block: S stays (256, 8192) float32 = 8 MiB


def check_rescore(precision: str, rescore: int | None) -> int:
    """--rescore N -> the candidates per hit: N for binary precisions only (1 <= N), 1 without --rescore."""
    if rescore is None:
        return 1
    if not PRECISIONS[precision].packed:
        raise UsageError(f"--rescore applies to binary and ubinary datasets; this one is {precision}")
    if rescore < 1:
        raise UsageError(f"--rescore {rescore}: give a multiple of k, 1 or more")
    return rescore


def score_block(ds: Dataset, q_unit: np.ndarray, stored: np.ndarray, ids: np.ndarray, m: int,
                keep_rows: bool) -> Top:
    """Queries (Q, d) against one block's stored rows (B, width) -> each query's m best of the block."""
    x = ds.stored.dequantize(stored, ds.ranges, ds.d)  # (B, d) float32
    margin = np.float32(2 * vectors.error_bound(ds.d))
    tops = []
    for start in range(0, len(q_unit), QUERY_CHUNK):
        q = q_unit[start : start + QUERY_CHUNK]  # (Qc, d)
        s = vectors.estimate_cosines(q, x)  # (Qc, B)
        np.nan_to_num(s, copy=False, nan=-np.inf)  # a row of NaN (a broken vector) ranks last, never first
        B = s.shape[1]
        if B > m:
            cut = np.partition(s, B - m, axis=1)[:, B - m : B - m + 1] - margin  # (Qc, 1)
            c = max(m, int((s >= cut).sum(axis=1).max()))  # candidates: the most any query has
            at = np.argpartition(-s, c - 1, axis=1)[:, :c] if c < B else np.broadcast_to(np.arange(B), s.shape)
        else:
            at = np.broadcast_to(np.arange(B), s.shape)
        for lo in range(0, len(q), max(1, 2**23 // (at.shape[1] * ds.d))):  # gathers of 64 MiB at most
            a = at[lo : lo + max(1, 2**23 // (at.shape[1] * ds.d))]  # (Qs, c)
            exact = vectors.score(q[lo : lo + len(a)], x[a])  # (Qs, c)
            cand = Top(exact, ids[a], stored[a] if keep_rows else None)
            tops.append(cand.best(m))
    return Top(np.concatenate([t.scores for t in tops]), np.concatenate([t.ids for t in tops]),
               None if not keep_rows else np.concatenate([t.rows for t in tops]))


def exact_search(ds: Dataset, queries: np.ndarray, k: int, rescore: int | None = None,
                 threads: bool = True) -> Top:
    """Queries (Q, d) float32 -> their k nearest rows: Top with scores (Q, k') and ids (Q, k'), k' = min(k, rows)."""
    n = check_rescore(ds.precision, rescore)
    m = k * n
    keep_rows = rescore is not None
    q_unit = ds.stored.query(queries)  # (Q, d)

    def scan(block: RowGroup) -> Top:
        cols = read_block(block, ["id", "vector"])
        return score_block(ds, q_unit, cols["vector"], cols["id"].astype(np.int64), m, keep_rows)

    top = None
    with core_map(threads) as map_:
        for block_top in map_(scan, ds.blocks):
            top = merge(top, block_top, m)
    if top is None:  # a dataset of no rows
        Q = len(queries)
        return Top(np.zeros((Q, 0), np.float32), np.zeros((Q, 0), np.int64))
    if keep_rows:
        return rescored(ds, queries, top, k)
    return top


def rescored(ds: Dataset, queries: np.ndarray, candidates: Top, k: int) -> Top:
    """Binary candidates (their packed rows) rescored against the float queries, q . bits(x); the k best."""
    q_unit = PRECISIONS["float32"].query(queries)  # (Q, d)
    s = vectors.rescore(q_unit, candidates.rows, ds.d, ds.precision == "binary").astype(np.float32)  # (Q, m)
    return Top(s, candidates.ids).best(k)
