"""The embedded-corpus dataset's layout: a directory of Parquet parts that `vectorize embed` writes
(dataset/writer.py) and `vectorize search` / `vectorize index` read (dataset/reader.py).

    DIR/part-00000.parquet, ...   complete files, rows in `id` order across parts; row groups of at most 8,192 rows
    DIR/_SUCCESS                  JSON {format, rows, parts, precision, d, model_sha256, part_checks}, written
                                  last: complete; part_checks {part: {rows, rows_sha256}} as each part's footer says
    DIR/.lock                     held (flock) by the one `embed` writing DIR; holds its pid
    DIR/_index.usearch, _index.json  the HNSW index of the dataset (`vectorize index`), when built: names that
                                  pyarrow's dataset skips (a leading `_`); an older version's index.usearch,
                                  index.json are refused by search (rebuild) and removed by `index` and --force

Columns: id int64 (input order), source string, line int64, text string (unless --no-text),
vector fixed_size_list<float32|int8|uint8>[width] (dataset/precision.py), n_tokens int32, truncated bool.
Every part's schema metadata has key `vectorize`: JSON {format, tool_version, model {name, source, sha256, d,
pool, normalize, max_length}, encoder (Encoder.record(): what ran), attention, dtype, precision, ranges, options}.
Every part's footer (file key-value metadata) has key `vectorize_part`: JSON {rows, rows_sha256}, the digest of
the inputs' rows it holds (rows_digest): what --resume checks the inputs against. Pages carry CRC checksums.
"""

import json
from dataclasses import dataclass

import numpy as np

from vectorize_cli.dataset.precision import PRECISIONS
from vectorize_cli.errors import VectorizeError

FORMAT = 1
SUCCESS = "_SUCCESS"
META_KEY = b"vectorize"
PART_KEY = b"vectorize_part"  # a part's own footer metadata: {rows, rows_sha256}
LOCK = ".lock"  # DIR/.lock: the writer's lock file (dataset/lock.py)
ROW_GROUP = 8192  # rows per row group at most: the contract's bound
STAGING = ".staging"  # the ray engine's staged inputs
INDEX_FILES = ("_index.usearch", "_index.json")  # what `vectorize index` writes beside the parts
OLD_INDEX_FILES = ("index.usearch", "index.json")  # their names before: pyarrow's dataset('DIR') read them as data
# How `vectorize index` builds its graph (search/ann.py), the defaults of its options and of search --ef:
GRAPH_DTYPES = ("f16", "i8", "f32")  # the graph's copy of float vectors; binary datasets' is always b1 (their bits)
GRAPH_DTYPE = "f16"  # half the bytes of f32 per distance, the same recall here (benchmarks/README.md, HNSW)
# M 12 and efConstruction 96 build 1,000,000 vectors in under 300 s on 2 cores at recall@10 0.97 (--ef 256), the
# settings before them (16, 128) in about 500 s at 0.99; M 8 at 128 and M 16 at 64 build as fast, recall@10 0.88
# and 0.91 (benchmarks/README.md, "A faster index")
CONNECTIVITY = 12  # M: graph edges per node (usearch's default is 16)
EXPANSION_ADD = 96  # efConstruction: candidates kept while inserting
EXPANSION_SEARCH = 256  # ef: candidates kept while searching; recall rises with it (benchmarks/README.md)


def import_pyarrow(command: str = "embed", extra: str = "corpus"):
    """pyarrow.parquet, or the error naming the extra to install."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise VectorizeError(f"vectorize {command} needs pyarrow: pip install 'vectorize-cli[{extra}]'") from None
    return pq


def part_name(k: int) -> str:
    return f"part-{k:05d}.parquet"


def rows_digest(h, sources: list[str], lines, texts: list[str]) -> None:
    """h (a hashlib.sha256) updated with rows: one JSON line [source, line, text] each, so that a line inserted,
    deleted or changed (even to one of equal length) changes the digest."""
    for source, line, text in zip(sources, lines, texts):
        h.update(json.dumps([source, int(line), text], ensure_ascii=False).encode("utf-8") + b"\n")


def part_check(path) -> dict | None:
    """A part's footer metadata {rows, rows_sha256}, None for a part written before it was recorded."""
    pq = import_pyarrow()
    try:
        raw = (pq.read_metadata(path).metadata or {}).get(PART_KEY)
        return None if raw is None else json.loads(raw)
    except (OSError, ValueError) as e:
        raise VectorizeError(f"cannot read {path}: {e}") from None


@dataclass
class Chunk:
    """Consecutive rows to embed (one row group)."""

    ids: np.ndarray  # (N,) int64
    sources: list[str]
    lines: np.ndarray  # (N,) int64
    texts: list[str]


@dataclass
class Embedded:
    """A chunk and its vectors, as an engine returns them."""

    chunk: Chunk
    vectors: np.ndarray  # (N, d) float32
    n_tokens: np.ndarray  # (N,) int32, the model's special tokens included
    truncated: np.ndarray  # (N,) bool


def schema(d: int, precision: str, text: bool, meta: dict):
    """The columns, with the metadata JSON under key `vectorize`."""
    import pyarrow as pa

    p = PRECISIONS[precision]
    fields = [("id", pa.int64()), ("source", pa.string()), ("line", pa.int64())]
    fields += [("text", pa.string())] if text else []
    fields += [("vector", pa.list_(pa.from_numpy_dtype(p.dtype), p.width(d))), ("n_tokens", pa.int32()),
               ("truncated", pa.bool_())]
    return pa.schema(fields, metadata={META_KEY: json.dumps(meta).encode("utf-8")})


def rows_table(e: Embedded, stored: np.ndarray, schema) -> "pa.Table":
    """An embedded chunk as the dataset's rows: its columns, and `stored` (N, width), its vectors quantized."""
    import pyarrow as pa

    c = e.chunk
    flat = pa.array(np.ascontiguousarray(stored).reshape(-1))
    cols = {"id": pa.array(c.ids, pa.int64()), "source": pa.array(c.sources, pa.string()),
            "line": pa.array(c.lines, pa.int64()), "text": pa.array(c.texts, pa.string()),
            "vector": pa.FixedSizeListArray.from_arrays(flat, stored.shape[1]),
            "n_tokens": pa.array(e.n_tokens, pa.int32()), "truncated": pa.array(e.truncated, pa.bool_())}
    return pa.Table.from_arrays([cols[name] for name in schema.names], schema=schema)
