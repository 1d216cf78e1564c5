"""Approximate search: an HNSW graph (Malkov & Yashunin 2016, arXiv:1603.09320) over a dataset, by usearch.

    vectorize index DIR      DIR/_index.usearch  the graph and its copy of the vectors (dtype: f16 by default)
                             DIR/_index.json     how it was built and from what: sha256 of DIR/_SUCCESS, precision,
                                                 d, dtype, connectivity, expansion_add, ..., and index_sha256, the
                                                 graph file's own: checked before usearch maps it (a damaged graph
                                                 is an error, never a crash)
    search --ann             ids: the m nearest by the graph (m = k, or k * rescore for binary), searched with
                             ef = --ef candidates; then each id's vector read from the dataset's own parts
                             (reader.vectors_by_id) and scored as exact.py scores it, best first, ties broken by id

The graph only picks candidates: its copy of the vectors (rounded to f16, or i8) never reaches a score, so a
damaged vector inside it can change which rows come back, never the score reported for a row.
float32 / int8 / uint8 datasets: a cosine graph over x' (the dequantized vectors of vectors.py) in `dtype`
(f16 by default: half the bytes each distance reads against f32, the same recall; benchmarks/README.md).
binary / ubinary: a Hamming graph over the packed bits (usearch's b1), as sentence-transformers'
semantic_search_usearch builds one. An index whose dataset has changed since (another _SUCCESS) is refused.
"""

import json
from pathlib import Path

import numpy as np

from vectorize_cli import sink
from vectorize_cli.errors import UsageError, VectorizeError
from vectorize_cli.search import vectors
from vectorize_cli.dataset.format import (
    CONNECTIVITY, EXPANSION_ADD, EXPANSION_SEARCH, GRAPH_DTYPE, GRAPH_DTYPES, INDEX_FILES, OLD_INDEX_FILES)
from vectorize_cli.dataset.reader import Dataset, read_block, vectors_by_id
from vectorize_cli.search.exact import check_rescore, rescored
from vectorize_cli.search.topk import Top

INDEX, INFO = INDEX_FILES  # _index.usearch, _index.json: names pyarrow's dataset('DIR') skips
INDEX_FORMAT = 2  # 2: the graph's dtype recorded, scores from the dataset; 1 (an f32 graph) still loads
INDEX_FORMATS = (1, 2)  # the formats load_index reads (1: an f32 graph, its _index.json without dtype)
BATCH = 65_536  # rows handed to usearch's add at once (its threads start once per add)


def import_usearch():
    try:
        from usearch.index import Index
    except ImportError:
        raise VectorizeError("the HNSW index needs usearch: pip install 'vectorize-cli[search]'") from None
    return Index


def _graph_vectors(ds: Dataset, stored: np.ndarray) -> np.ndarray:
    """A block's rows as the graph holds them: packed bits (binary), else x' float32 (B, d)."""
    if ds.stored.packed:
        raw = stored.view(np.uint8)
        return raw ^ np.uint8(0x80) if ds.precision == "binary" else raw
    return ds.stored.dequantize(stored, ds.ranges, ds.d)


def graph_dtype(ds: Dataset, dtype: str | None) -> str:
    """The graph's dtype: b1 for binary datasets (their own bits), else dtype (GRAPH_DTYPE when None)."""
    if ds.stored.packed:
        if dtype not in (None, "b1"):
            raise UsageError(f"--dtype {dtype}: a {ds.precision} dataset's graph is over its bits (b1); leave it out")
        return "b1"
    if (dtype or GRAPH_DTYPE) not in GRAPH_DTYPES:
        raise UsageError(f"--dtype {dtype}: give one of {', '.join(GRAPH_DTYPES)}")
    return dtype or GRAPH_DTYPE


def _new_index(ds: Dataset, dtype: str, connectivity: int, expansion_add: int, expansion_search: int):
    Index = import_usearch()
    binary = ds.stored.packed
    width = (ds.d + 7) // 8
    return Index(ndim=width * 8 if binary else ds.d, metric="hamming" if binary else "cos", dtype=dtype,
                 connectivity=connectivity, expansion_add=expansion_add, expansion_search=expansion_search)


def _batches(ds: Dataset):
    """(ids (B,) uint64, graph vectors (B, ...)) of up to BATCH rows, block after block."""
    ids, xs, n = [], [], 0
    for block in ds.blocks:
        cols = read_block(block, ["id", "vector"])
        ids.append(cols["id"].astype(np.uint64))
        xs.append(_graph_vectors(ds, cols["vector"]))
        n += block.rows
        if n >= BATCH:
            yield np.concatenate(ids), np.concatenate(xs)
            ids, xs, n = [], [], 0
    if n:
        yield np.concatenate(ids), np.concatenate(xs)


def build_index(ds: Dataset, connectivity: int = CONNECTIVITY, expansion_add: int = EXPANSION_ADD,
                progress=lambda n: None, dtype: str | None = None) -> Path:
    """Write DIR/_index.usearch and DIR/_index.json by sink, as --output --force writes: each to a temporary file,
    then in place (a symbolic link there is replaced, its target never written)."""
    import time

    path, info = ds.path / INDEX, ds.path / INFO
    dtype = graph_dtype(ds, dtype)
    for p in (path, info):
        sink.check_target(p, True)  # a directory or a device there: refused before the work
    t0 = time.perf_counter()
    index = _new_index(ds, dtype, connectivity, expansion_add, EXPANSION_SEARCH)
    for ids, x in _batches(ds):  # usearch inserts on every core; one batch in memory at a time besides the graph
        index.add(ids, x, threads=0)
        progress(len(ids))
    graph = sink.NewFile(path, True)
    try:  # an error or Ctrl-C leaves no temporary file behind (and the previous index, if any, whole)
        index.save(graph.tmp)  # usearch writes the path itself
        with sink.open_file(info, True) as f:
            f.write((json.dumps({
                "format": INDEX_FORMAT, "dataset_success_sha256": ds.success_sha256, "rows": ds.rows,
                "index_sha256": _file_sha256(Path(graph.tmp)),
                "precision": ds.precision, "d": ds.d, "metric": "hamming" if ds.stored.packed else "cos",
                "connectivity": connectivity, "expansion_add": expansion_add, "usearch": _usearch_version(),
                "dtype": dtype, "expansion_search": EXPANSION_SEARCH, "scores": "dataset",
                "build_seconds": round(time.perf_counter() - t0, 3),
            }, indent=2) + "\n").encode("utf-8"))
            graph.publish()  # the graph first, then its description
    except BaseException as e:
        graph.discard(e)
        raise
    for old in OLD_INDEX_FILES:  # an older version's index, under names pyarrow's dataset reads as data
        if (ds.path / old).is_file() or (ds.path / old).is_symlink():
            (ds.path / old).unlink()
    return path


def _file_sha256(path: Path) -> str:
    import hashlib

    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _usearch_version() -> str:
    import usearch

    return usearch.__version__


def load_index(ds: Dataset, expansion_search: int):
    """The dataset's index, checked to be built from this very dataset."""
    path, info_path = ds.path / INDEX, ds.path / INFO
    if not path.is_file() and (ds.path / OLD_INDEX_FILES[0]).exists():
        raise VectorizeError(f"index file {ds.path / OLD_INDEX_FILES[0]}: an older version's name, which pyarrow's "
                             f"dataset reads as data; rebuild it with `vectorize index {ds.path}`")
    if not path.is_file() or not info_path.is_file():
        raise VectorizeError(f"dataset {ds.path}: no HNSW index file {path}; build it with `vectorize index {ds.path}`")
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as e:  # RecursionError: nested too deep
        raise VectorizeError(f"{info_path}: not valid JSON ({e})") from None
    if not isinstance(info, dict):
        raise VectorizeError(f"{info_path}: not a JSON object")
    if info.get("format") not in INDEX_FORMATS:
        raise VectorizeError(f"index file {path}: format {info.get('format')!r}, not one this version reads "
                             f"({', '.join(map(str, INDEX_FORMATS))}); rebuild it with `vectorize index {ds.path}`")
    if info.get("dataset_success_sha256") != ds.success_sha256 or info.get("rows") != ds.rows:
        raise VectorizeError(f"index file {path} is stale: it was built from another version of the dataset; "
                             f"rebuild it with `vectorize index {ds.path}`")
    if info.get("index_sha256") != _file_sha256(path):
        raise VectorizeError(f"index file {path}: its sha256 is not the one {info_path} recorded (damaged, or built "
                             f"by an older version); rebuild it with `vectorize index {ds.path}`")
    Index = import_usearch()
    index = Index.restore(str(path), view=True)
    if index is None or len(index) != ds.rows:
        raise VectorizeError(f"index file {path}: unreadable or not {ds.rows} vectors; rebuild it with "
                             f"`vectorize index {ds.path}`")
    index.expansion_search = expansion_search  # --ef, not the default the file was saved with
    return index


def check_ef(expansion_search: int, m: int) -> None:
    """The graph search keeps at least the m candidates asked for."""
    if expansion_search < m:
        raise UsageError(f"--ef {expansion_search} is below the {m} candidates asked for; give --ef {m} or more")


def ann_search(ds: Dataset, index, queries: np.ndarray, k: int, rescore: int | None = None) -> Top:
    """Queries (Q, d) -> the k best of the graph's candidates (index from load_index()), each scored exactly
    against the dataset's own stored vector, never the graph's copy (Top (Q, k'))."""
    m = k * check_rescore(ds.precision, rescore)
    check_ef(index.expansion_search, m)
    Q = len(queries)
    if ds.stored.packed:
        q = np.packbits(np.asarray(queries) > 0, axis=-1)  # (Q, width) the queries' bits, as the graph's
    else:
        q = ds.stored.query(queries)
    matches = index.search(q, count=m, threads=0)
    keys = np.asarray(matches.keys).reshape(Q, -1)[:, :m]  # (Q, m)
    counts = np.asarray(getattr(matches, "counts", [keys.shape[1]] * Q)).reshape(Q)
    if counts.min() < keys.shape[1]:  # fewer rows than asked: keep the columns every query filled
        keys = keys[:, : counts.min()]
    ids = keys.astype(np.int64)  # (Q, m)
    stored = vectors_by_id(ds, ids)  # (Q, m, width) as the dataset stores them
    if rescore is not None:
        return rescored(ds, queries, Top(np.zeros(ids.shape, np.float32), ids, stored), k)
    x = ds.stored.dequantize(stored.reshape(-1, stored.shape[-1]), ds.ranges, ds.d).reshape(Q, ids.shape[1], ds.d)
    return Top(vectors.score(ds.stored.query(queries), x), ids).best(k)
