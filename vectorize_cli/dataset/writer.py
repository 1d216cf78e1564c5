"""Writing a dataset (dataset/format.py): its parts, each whole or not at all, then _SUCCESS; resuming one.

Each file is written by sink (NewFile, open_file) as --output is without --force: to a temporary file beside it
(.part-NNNNN.parquet.XXXXXXXX.part), linked into place when complete, never over a file nor through a link.

Resume: the complete parts are read back (ids 0..n-1 once each, the same metadata), temp files of parts cut
short are deleted, and writing goes on at row n in part number len(parts). A signal waits until the part's
slice or footer being written is whole, so the rows written so far are kept as a complete part.
--force replaces a dataset: its parts, _SUCCESS and the index files `vectorize index` wrote beside them; never
DIR/.lock, which the caller holds (dataset/lock.py). Each part's footer records the digest of the inputs' rows it
holds (format.rows_digest), and _SUCCESS every part's: --resume checks the inputs and the parts against them.
"""

import hashlib
import json
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vectorize_cli import sink
from vectorize_cli.dataset.format import (
    FORMAT, INDEX_FILES, LOCK, OLD_INDEX_FILES, META_KEY, PART_KEY, ROW_GROUP, STAGING, SUCCESS, Embedded, import_pyarrow, part_check,
    part_name, rows_digest, rows_table)
from vectorize_cli.errors import UsageError, VectorizeError


def _is_temp(name: str) -> bool:
    """A part or _SUCCESS being written, or left by a crash (sink's temporary file; .tmp: an older version's)."""
    return name.startswith((".part-", f".{SUCCESS}.")) and name.endswith((sink.TEMP_SUFFIX, ".tmp"))


def _is_index_temp(name: str) -> bool:
    """An index file `vectorize index` was writing when it was stopped."""
    return (name.startswith(tuple(f".{n}." for n in INDEX_FILES + OLD_INDEX_FILES))
            and name.endswith(sink.TEMP_SUFFIX))


def _is_ours(p: Path) -> bool:
    """The files a dataset consists of (what --force may delete)."""
    n = p.name
    return ((n.startswith("part-") and n.endswith(".parquet")) or _is_temp(n) or _is_index_temp(n)
            or n in (SUCCESS, STAGING, *INDEX_FILES, *OLD_INDEX_FILES))


@dataclass(frozen=True)
class Existing:
    """What a directory already holds."""

    parts: list[str]  # complete parts, in order
    rows: int  # rows in them: ids 0..rows-1
    meta: dict | None  # the parts' metadata (None when there are none)
    last: tuple[str, int] | None  # (source, line) of the last row
    complete: bool  # _SUCCESS is there
    checks: list[dict | None]  # each part's footer {rows, rows_sha256} (None: written before they were recorded)


def read_meta(path: Path) -> dict:
    pq = import_pyarrow()
    try:
        raw = (pq.read_schema(path).metadata or {}).get(META_KEY)
        meta = json.loads(raw)
    except Exception as e:  # pyarrow's errors, a missing key, bad JSON: not one of ours
        raise VectorizeError(f"{path}: not a part of a vectorize dataset ({e})") from None
    if not isinstance(meta, dict):
        raise VectorizeError(f"{path}: metadata `vectorize` is not a JSON object")
    return meta


def inspect(out: Path) -> Existing:
    """Read back the complete parts of out: ids must run 0..n-1 once each, all parts with one metadata."""
    pq = import_pyarrow()
    names = sorted(p.name for p in out.glob("part-*.parquet"))
    if names != [part_name(k) for k in range(len(names))]:
        raise VectorizeError(f"{out}: parts are missing or misnamed ({', '.join(names[:5])}...): not resumable")
    rows, meta, last, checks = 0, None, None, []
    for name in names:
        m = read_meta(out / name)
        if meta is None:
            from vectorize_cli.dataset.validate import check_meta

            check_meta(m, out / name)  # the metadata a resumed run reuses: ranges included
        if meta is not None and m != meta:
            raise VectorizeError(f"{out / name}: its metadata differs from {names[0]}'s")
        meta = m
        try:
            t = pq.read_table(out / name, columns=["id", "source", "line"], page_checksum_verification=True)
        except Exception as e:
            raise VectorizeError(f"cannot read {out / name}: {e}") from None
        ids = t.column("id").to_numpy()
        if not np.array_equal(ids, np.arange(rows, rows + len(ids))):
            raise VectorizeError(f"{out / name}: ids do not continue from {rows}: not resumable")
        checks.append(part_check(out / name))
        if checks[-1] is not None and checks[-1].get("rows") != len(ids):
            raise VectorizeError(f"{out / name}: {len(ids)} rows, its footer says {checks[-1].get('rows')!r}")
        rows += len(ids)
        if len(ids):
            last = (t.column("source")[-1].as_py(), t.column("line")[-1].as_py())
    return Existing(names, rows, meta, last, (out / SUCCESS).exists(), checks)


def check_complete(out: Path, existing: Existing) -> None:
    """_SUCCESS believed only when the parts it lists are there, each with the rows and digest it recorded."""
    from vectorize_cli.dataset.validate import check_success, read_success

    success = read_success(out / SUCCESS)
    check_success(success, out / SUCCESS, existing.parts)
    recorded = success.get("part_checks")
    for name, check in zip(existing.parts, existing.checks):
        if recorded is not None and recorded.get(name) != check:
            raise VectorizeError(f"{out / name}: not the part {out / SUCCESS} recorded (rows or digest differ); "
                                 "--force makes the dataset again")


def prepare(out: Path, resume: bool, force: bool) -> Existing:
    """Check out before anything is computed: empty or new; --resume: a partial dataset; --force: clear it."""
    if resume and force:
        raise UsageError("give --resume or --force, not both")
    if out.exists() and not out.is_dir():
        raise UsageError(f"-o {out}: not a directory")
    entries = [p for p in out.iterdir() if p.name != LOCK] if out.is_dir() else []
    if entries and not resume and not force:
        raise UsageError(f"-o {out}: the directory is not empty (--resume finishes a dataset, --force replaces it)")
    if force:
        foreign = [p.name for p in entries if not _is_ours(p)]
        if foreign:
            raise UsageError(f"-o {out}: --force replaces a dataset, but the directory also holds "
                             f"{', '.join(sorted(foreign)[:3])}{', ...' if len(foreign) > 3 else ''}")
        for p in entries:  # never DIR/.lock: held by this run
            clear(p)
        entries = []
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise VectorizeError(f"cannot create {out}: {e.strerror or e}") from None
    for p in out.iterdir():  # parts (or _SUCCESS) cut short by a crash
        if _is_temp(p.name):
            clear(p)
    clear(out / STAGING)
    return inspect(out)


def clear(p: Path) -> None:
    """p removed: a directory and its files, a file, or a symbolic link (never what it points to)."""
    import shutil

    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
    else:
        p.unlink(missing_ok=True)


class Writer:
    """Parts of part_rows rows (ending at ids that are multiples of part_rows, so that a resumed run cuts
    where the first one did), row groups of at most ROW_GROUP rows; a part is put in place when full, and
    by close() (the last, or the rows so far after an error: nothing written is lost)."""

    def __init__(self, out: Path, schema, part_rows: int, first_part: int, first_id: int):
        self.out, self.schema, self.part_rows = out, schema, part_rows
        self.k, self.next_id = first_part, first_id
        self.part: sink.NewFile | None = None  # the part being written
        self.writer, self.in_part = None, 0
        self.parts: list[str] = []
        self.digest = hashlib.sha256()  # of the part's rows (format.rows_digest)

    def write(self, e: Embedded, stored: np.ndarray) -> None:
        """An embedded chunk, its vectors quantized (stored), after the rows before it."""
        ids = e.chunk.ids
        if len(ids) and ids[0] != self.next_id:
            raise AssertionError(f"rows out of order: id {ids[0]} after {self.next_id - 1}")
        self.next_id += len(ids)
        table = rows_table(e, stored, self.schema)
        start = 0
        while start < len(table):
            if self.part is None:
                self._open()
            room = self.part_rows - int(ids[start]) % self.part_rows  # parts end at multiples of part_rows
            n = min(len(table) - start, room)
            with sink.uninterrupted():  # a signal waits until the slice is written whole (and counted)
                self._or_drop(self.writer.write_table, table.slice(start, n), row_group_size=ROW_GROUP)
                c = e.chunk
                rows_digest(self.digest, c.sources[start : start + n], c.lines[start : start + n],
                            c.texts[start : start + n])
                self.in_part += n
            start += n
            if n == room:
                self._commit()

    def _open(self) -> None:
        pq = import_pyarrow()
        self.part, self.in_part = sink.NewFile(self.out / part_name(self.k), False), 0  # never over a file or link
        self.digest = hashlib.sha256()
        self.writer = self._or_drop(pq.ParquetWriter, self.part.file, self.schema, write_page_checksum=True)

    def _or_drop(self, step, *args, **kwargs):
        """step(...) on the part; if it fails, the part may be cut anywhere: removed (--resume writes it again)."""
        try:
            return step(*args, **kwargs)
        except BaseException as e:
            self._drop(e)
            raise

    def _drop(self, error: BaseException | None = None) -> None:
        """The part given up: its writer closed (into the file about to go: errors ignored), its file removed."""
        part, writer, self.part, self.writer = self.part, self.writer, None, None
        if writer is not None:
            with suppress(Exception):
                writer.close()
            writer.is_open = False  # else pyarrow's __del__ closes it again, into the closed file
        part.discard(error)

    def _commit(self) -> None:
        with sink.uninterrupted():  # a signal waits until the part is closed and in place
            check = {"rows": self.in_part, "rows_sha256": self.digest.hexdigest()}
            self._or_drop(self.writer.add_key_value_metadata, {PART_KEY: json.dumps(check).encode("utf-8")})
            self._or_drop(self.writer.close)
            part, self.part, self.writer = self.part, None, None
            part.publish()
        self.parts.append(part_name(self.k))
        self.k += 1

    def close(self) -> None:
        """The part being written, as a complete part (when it has rows)."""
        if self.part is not None:
            if self.in_part:
                self._commit()
            else:
                self._drop()


def finish(out: Path, rows: int, precision: str, d: int, model_sha256: str) -> None:
    """_SUCCESS, last: the list of parts as they are on disk."""
    parts = sorted(p.name for p in out.glob("part-*.parquet"))
    with sink.open_file(out / SUCCESS, False) as f:  # refused first where _SUCCESS cannot go
        checks = {name: part_check(out / name) for name in parts}
        doc = {"format": FORMAT, "rows": rows, "parts": parts, "precision": precision, "d": d,
               "model_sha256": model_sha256}
        if None not in checks.values():  # parts an older version wrote have none
            doc["part_checks"] = checks
        f.write((json.dumps(doc) + "\n").encode("utf-8"))
