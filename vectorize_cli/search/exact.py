"""Exact k-nearest-neighbour search by cosine, streamed over a dataset's blocks on every core.

    per block (one row group, at most 8,192 rows):   x' = AS_FLOAT[precision](stored)      (B, d)
                                                     S  = q'_unit x'ᵀ / |x'|                (Q, B)
                                                     top = best(S, ids, m)                  (Q, m)
    over the blocks:                                 top = merge(top, block's top)          (Q, m)

m = k, or k * rescore for binary --rescore: the m best by Hamming distance, then each rescored against the
float query (q . bits(x)) and the k best of those kept, as sentence-transformers' semantic_search_usearch
does with rescore_multiplier. Memory holds one block per core and (Q, m) per query chunk, whatever the
corpus's size; blocks run in threads (numpy lets go of the GIL in pyarrow's reads and in BLAS).
"""

import numpy as np

from vectorize_cli.errors import UsageError
from vectorize_cli.parallel import core_map
from vectorize_cli.search import vectors
from vectorize_cli.search.dataset import Block, Dataset, read_block
from vectorize_cli.search.topk import Top, best, merge

QUERY_CHUNK = 256  # queries scored at once against a block: S stays (256, 8192) float32 = 8 MiB


def check_rescore(precision: str, rescore: int | None) -> int:
    """--rescore N: binary precisions only (default 1: the Hamming ranking itself); 1 <= N."""
    if rescore is None:
        return 1
    if precision not in vectors.BINARY:
        raise UsageError(f"--rescore applies to binary and ubinary datasets; this one is {precision}")
    if rescore < 1:
        raise UsageError(f"--rescore {rescore}: give a multiple of k, 1 or more")
    return rescore


def score_block(ds: Dataset, q_unit: np.ndarray, stored: np.ndarray, ids: np.ndarray, m: int,
                keep_rows: bool) -> Top:
    """Queries (Q, d) against one block's stored rows (B, width) -> each query's m best of the block."""
    x = vectors.AS_FLOAT[ds.precision](stored, ds.ranges, ds.d)  # (B, d) float32
    inv = vectors.inverse_norms(x)  # (B,)
    tops = []
    for start in range(0, len(q_unit), QUERY_CHUNK):
        q = q_unit[start : start + QUERY_CHUNK]  # (Qc, d)
        s = (q @ x.T) * inv[None, :]  # (Qc, B)
        block_ids = np.broadcast_to(ids, s.shape)
        at = best(s, block_ids, m)  # (Qc, m)
        rows = stored[at] if keep_rows else None  # (Qc, m, width)
        tops.append(Top(np.take_along_axis(s, at, axis=1), np.take_along_axis(block_ids, at, axis=1), rows))
    return Top(np.concatenate([t.scores for t in tops]), np.concatenate([t.ids for t in tops]),
               None if not keep_rows else np.concatenate([t.rows for t in tops]))


def search(ds: Dataset, queries: np.ndarray, k: int, rescore: int | None = None,
           threads: bool = True) -> Top:
    """Queries (Q, d) float32 -> their k nearest rows: Top with scores (Q, k') and ids (Q, k'), k' = min(k, rows)."""
    n = check_rescore(ds.precision, rescore)
    m = k * n
    keep_rows = rescore is not None
    q_unit = vectors.query_as(ds.precision, queries)  # (Q, d)

    def scan(block: Block) -> Top:
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
    q_unit = vectors.query_as("float32", queries)  # (Q, d)
    s = vectors.rescore(q_unit, candidates.rows, ds.d, ds.precision == "binary").astype(np.float32)  # (Q, m)
    return Top(s, candidates.ids).best(k)
