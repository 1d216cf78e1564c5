"""The embedded-corpus dataset: a directory of Parquet parts, the contract `vectorize embed` writes and
`vectorize search` reads.

    DIR/part-00000.parquet, part-00001.parquet, ...   complete files, rows in `id` order across parts;
                                                      each written as DIR/.part-NNNNN.parquet.tmp, then renamed
    DIR/_SUCCESS                                      JSON, written last: the dataset is complete

Columns: id int64 (input order), source string, line int64, text string (unless --no-text),
vector fixed_size_list<float32|int8|uint8>[width], n_tokens int32, truncated bool. Every part's schema metadata
has key `vectorize`: JSON {format, tool_version, model {...}, attention, precision, ranges, options}.

Resume: the complete parts are read back (ids 0..n-1 once each, the same metadata), temp files of parts cut
short are deleted, and writing goes on at row n in part number len(parts).
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vectorize_cli.corpus.inputs import import_pyarrow
from vectorize_cli.errors import UsageError, VectorizeError

FORMAT = 1
SUCCESS = "_SUCCESS"
META_KEY = b"vectorize"
ROW_GROUP = 8192  # rows per row group at most: the contract's bound
STAGING = ".staging"  # the ray engine's staged inputs


def part_name(k: int) -> str:
    return f"part-{k:05d}.parquet"


def _is_ours(p: Path) -> bool:
    """The files a dataset consists of (what --force may delete)."""
    n = p.name
    return (n.startswith("part-") and n.endswith(".parquet")) or (n.startswith(".part-") and n.endswith(".tmp")) \
        or n in (SUCCESS, f".{SUCCESS}.tmp", STAGING)


def schema(d: int, precision: str, text: bool, meta: dict):
    """The columns, with the metadata JSON under key `vectorize`."""
    import pyarrow as pa

    from vectorize_cli.corpus.quantize import PRECISIONS

    p = PRECISIONS[precision]
    fields = [("id", pa.int64()), ("source", pa.string()), ("line", pa.int64())]
    fields += [("text", pa.string())] if text else []
    fields += [("vector", pa.list_(pa.from_numpy_dtype(p.dtype), p.width(d))), ("n_tokens", pa.int32()),
               ("truncated", pa.bool_())]
    return pa.schema(fields, metadata={META_KEY: json.dumps(meta).encode("utf-8")})


@dataclass
class Batch:
    """Rows ready to write: all columns, vectors already quantized."""

    ids: np.ndarray  # (N,) int64
    sources: list[str]
    lines: np.ndarray  # (N,) int64
    texts: list[str]
    vectors: np.ndarray  # (N, width) of the precision's dtype
    n_tokens: np.ndarray  # (N,) int32
    truncated: np.ndarray  # (N,) bool

    def table(self, schema):
        import pyarrow as pa

        width = self.vectors.shape[1]
        flat = pa.array(np.ascontiguousarray(self.vectors).reshape(-1))
        cols = {"id": pa.array(self.ids, pa.int64()), "source": pa.array(self.sources, pa.string()),
                "line": pa.array(self.lines, pa.int64()), "text": pa.array(self.texts, pa.string()),
                "vector": pa.FixedSizeListArray.from_arrays(flat, width),
                "n_tokens": pa.array(self.n_tokens, pa.int32()), "truncated": pa.array(self.truncated, pa.bool_())}
        return pa.Table.from_arrays([cols[name] for name in schema.names], schema=schema)


@dataclass(frozen=True)
class Existing:
    """What a directory already holds."""

    parts: list[str]  # complete parts, in order
    rows: int  # rows in them: ids 0..rows-1
    meta: dict | None  # the parts' metadata (None when there are none)
    last: tuple[str, int] | None  # (source, line) of the last row
    complete: bool  # _SUCCESS is there


def read_meta(path: Path) -> dict:
    pq = import_pyarrow()
    try:
        raw = (pq.read_schema(path).metadata or {}).get(META_KEY)
        return json.loads(raw)
    except Exception as e:  # pyarrow's errors, a missing key, bad JSON: not one of ours
        raise VectorizeError(f"{path}: not a part of a vectorize dataset ({e})") from None


def inspect(out: Path) -> Existing:
    """Read back the complete parts of out: ids must run 0..n-1 once each, all parts with one metadata."""
    pq = import_pyarrow()
    names = sorted(p.name for p in out.glob("part-*.parquet"))
    if names != [part_name(k) for k in range(len(names))]:
        raise VectorizeError(f"{out}: parts are missing or misnamed ({', '.join(names[:5])}...): not resumable")
    rows, meta, last = 0, None, None
    for name in names:
        m = read_meta(out / name)
        if meta is not None and m != meta:
            raise VectorizeError(f"{out / name}: its metadata differs from {names[0]}'s")
        meta = m
        try:
            t = pq.read_table(out / name, columns=["id", "source", "line"])
        except Exception as e:
            raise VectorizeError(f"cannot read {out / name}: {e}") from None
        ids = t.column("id").to_numpy()
        if not np.array_equal(ids, np.arange(rows, rows + len(ids))):
            raise VectorizeError(f"{out / name}: ids do not continue from {rows}: not resumable")
        rows += len(ids)
        if len(ids):
            last = (t.column("source")[-1].as_py(), t.column("line")[-1].as_py())
    return Existing(names, rows, meta, last, (out / SUCCESS).exists())


def prepare(out: Path, resume: bool, force: bool) -> Existing:
    """Check out before anything is computed: empty or new; --resume: a partial dataset; --force: clear it."""
    if resume and force:
        raise UsageError("give --resume or --force, not both")
    if out.exists() and not out.is_dir():
        raise UsageError(f"-o {out}: not a directory")
    entries = list(out.iterdir()) if out.is_dir() else []
    if entries and not resume and not force:
        raise UsageError(f"-o {out}: the directory is not empty (--resume finishes a dataset, --force replaces it)")
    if force:
        foreign = [p.name for p in entries if not _is_ours(p)]
        if foreign:
            raise UsageError(f"-o {out}: --force replaces a dataset, but the directory also holds "
                             f"{', '.join(sorted(foreign)[:3])}{', ...' if len(foreign) > 3 else ''}")
        for p in entries:
            clear(p)
        entries = []
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise VectorizeError(f"cannot create {out}: {e.strerror or e}") from None
    for p in out.glob(".part-*.tmp"):  # parts cut short by a crash
        p.unlink()
    clear(out / STAGING)
    return inspect(out)


def clear(p: Path) -> None:
    import shutil

    if p.is_dir():
        shutil.rmtree(p)
    elif p.exists():
        p.unlink()


class Writer:
    """Parts of part_rows rows (ending at ids that are multiples of part_rows, so that a resumed run cuts
    where the first one did), row groups of at most ROW_GROUP rows; a part is renamed into place when full, and
    by close() (the last, or the rows so far after an error: nothing written is lost)."""

    def __init__(self, out: Path, schema, part_rows: int, first_part: int, first_id: int):
        self.out, self.schema, self.part_rows = out, schema, part_rows
        self.k, self.next_id = first_part, first_id
        self.writer, self.in_part = None, 0
        self.parts: list[str] = []

    def write(self, batch: Batch) -> None:
        if len(batch.ids) and batch.ids[0] != self.next_id:
            raise AssertionError(f"rows out of order: id {batch.ids[0]} after {self.next_id - 1}")
        self.next_id += len(batch.ids)
        table = batch.table(self.schema)
        start = 0
        while start < len(table):
            if self.writer is None:
                self._open()
            room = self.part_rows - int(batch.ids[start]) % self.part_rows  # parts end at multiples of part_rows
            n = min(len(table) - start, room)
            self.writer.write_table(table.slice(start, n), row_group_size=ROW_GROUP)
            self.in_part += n
            start += n
            if n == room:
                self._commit()

    def _tmp(self) -> Path:
        return self.out / f".{part_name(self.k)}.tmp"

    def _open(self) -> None:
        pq = import_pyarrow()
        self.writer = pq.ParquetWriter(self._tmp(), self.schema)
        self.in_part = 0

    def _commit(self) -> None:
        self.writer.close()
        os.replace(self._tmp(), self.out / part_name(self.k))
        self.parts.append(part_name(self.k))
        self.writer, self.k = None, self.k + 1

    def close(self) -> None:
        """The part being written, as a complete part (when it has rows)."""
        if self.writer is not None:
            if self.in_part:
                self._commit()
            else:
                self.writer.close()
                self._tmp().unlink()
                self.writer = None


def finish(out: Path, rows: int, precision: str, d: int, model_sha256: str) -> None:
    """_SUCCESS, last: the list of parts as they are on disk."""
    parts = sorted(p.name for p in out.glob("part-*.parquet"))
    doc = {"format": FORMAT, "rows": rows, "parts": parts, "precision": precision, "d": d,
           "model_sha256": model_sha256}
    tmp = out / f".{SUCCESS}.tmp"
    tmp.write_text(json.dumps(doc) + "\n", encoding="utf-8")
    os.replace(tmp, out / SUCCESS)
