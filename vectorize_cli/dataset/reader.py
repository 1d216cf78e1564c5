"""Reading a dataset (dataset/format.py) for search and index: checked complete, its metadata, its rows
block by block.

A block is one row group: reading it holds one block's columns in memory, whatever the corpus's size.
Rows by id (rows_by_id: their text; vectors_by_id: their stored vectors, what --ann scores) read only the
blocks whose id range (the row groups' statistics) holds one of them.
A missing or partial dataset, or parts that disagree with _SUCCESS, is a VectorizeError naming the file.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vectorize_cli.dataset.format import META_KEY, PART_KEY, SUCCESS, import_pyarrow
from vectorize_cli.dataset.precision import PRECISIONS, Precision
from vectorize_cli.dataset.validate import check_columns, check_meta, check_success, json_object
from vectorize_cli.errors import VectorizeError, short
from vectorize_cli.parallel import core_map


@dataclass(frozen=True)
class RowGroup:
    """One row group of one part."""

    part: Path
    group: int  # row group number in the part
    rows: int


@dataclass(frozen=True)
class Dataset:
    path: Path
    success: dict  # _SUCCESS's JSON
    success_sha256: str  # of _SUCCESS's bytes: what an ANN index records of the dataset it was built from
    meta: dict  # the parts' `vectorize` metadata
    blocks: list[RowGroup]
    columns: tuple[str, ...]

    @property
    def precision(self) -> str:
        return self.meta["precision"]

    @property
    def stored(self) -> Precision:
        """The precision's quantize, dequantize and metric (dataset/precision.py)."""
        return PRECISIONS[self.precision]

    @property
    def d(self) -> int:
        return int(self.meta["model"]["d"])

    @property
    def rows(self) -> int:
        return int(self.success["rows"])

    @property
    def ranges(self) -> np.ndarray | None:
        """(2, d) float32 mins and maxs of int8 / uint8 calibration, else None."""
        r = self.meta.get("ranges")
        return None if r is None else np.asarray(r, dtype=np.float32)


def open_dataset(path: Path) -> Dataset:
    """Check DIR is a complete dataset whose parts agree with _SUCCESS and the schema (dataset/validate.py); list
    its blocks (reads metadata only). Pages are read with their checksums verified."""
    pq = import_pyarrow("search", "search")
    if not path.is_dir():
        raise VectorizeError(f"dataset {path}: no such directory (make one with `vectorize embed`)")
    marker = path / SUCCESS
    on_disk = sorted(p.name for p in path.glob("part-*.parquet"))
    if not marker.is_file():
        if on_disk:
            raise VectorizeError(f"dataset {path} is partial (no {SUCCESS}); "
                                 "finish it with `vectorize embed --resume`")
        raise VectorizeError(f"dataset {path}: not a vectorize dataset (no {SUCCESS})")
    raw = marker.read_bytes()
    success = json_object(raw, str(marker))
    check_success(success, marker, on_disk)
    meta, blocks, columns, rows = None, [], ("id", "vector"), 0
    for name in success["parts"]:
        f, meta = open_part(path / name, success, meta)
        columns = tuple(f.schema_arrow.names)
        blocks += [RowGroup(path / name, g, f.metadata.row_group(g).num_rows) for g in range(f.num_row_groups)
                   if f.metadata.row_group(g).num_rows]  # a row group of no rows is no block: nothing to score
        rows += f.metadata.num_rows
    if meta is None:
        raise VectorizeError(f"{marker}: parts lists no parts (a dataset of no rows has one part of no rows)")
    ds = Dataset(path, success, hashlib.sha256(raw).hexdigest(), meta, blocks, columns)
    agree = {"rows": rows, "precision": ds.precision, "d": ds.d, "model_sha256": meta["model"].get("sha256")}
    for key, value in agree.items():
        if success.get(key) != value:
            raise VectorizeError(f"{marker}: {key} is {short(success.get(key))}, the parts say {short(value)}")
    return ds


def open_part(part: Path, success: dict | None, first: dict | None):
    """One part opened (pages read with their checksums verified) and checked: its metadata against the schema
    (and equal to the first part's, `first`), its columns, its footer's rows and digest as _SUCCESS recorded them
    (success None: not compared) -> (ParquetFile, its metadata)."""
    pq = import_pyarrow("search", "search")
    marker = part.parent / SUCCESS
    try:
        f = pq.ParquetFile(part, page_checksum_verification=True)
    except (OSError, ValueError) as e:  # pyarrow's ArrowInvalid is a ValueError
        raise VectorizeError(f"cannot read {part}: {one_line(e)}") from None
    m = json_object((f.schema_arrow.metadata or {}).get(META_KEY, b"null"), f"{part}: metadata `vectorize`")
    if first is not None and m != first:
        raise VectorizeError(f"{part}: its metadata differs from the first part's")
    if first is None:
        check_meta(m, part)
    check_columns(f.schema_arrow, m, part)
    recorded = (success or {}).get("part_checks")
    if recorded is not None and part.name in recorded:
        if json_object((f.metadata.metadata or {}).get(PART_KEY, b"{}"),
                       f"{part}: footer `vectorize_part`") != recorded[part.name]:
            raise VectorizeError(f"{part}: not the part {marker} recorded (its rows or their digest differ)")
        if f.metadata.num_rows != recorded[part.name]["rows"]:
            raise VectorizeError(f"{part}: {f.metadata.num_rows} rows, {marker} recorded "
                                 f"{recorded[part.name]['rows']}")
    return f, m


def one_line(e: BaseException) -> str:
    """An error's message on one line (pyarrow's span several)."""
    return " ".join(str(e).split())


def _numpy(arr, block: RowGroup) -> np.ndarray:
    """A primitive Arrow array as numpy, sharing its memory (pyarrow's to_numpy imports pandas: 1 s or more)."""
    import pyarrow as pa

    dtype = {pa.float32(): np.float32, pa.int8(): np.int8, pa.uint8(): np.uint8, pa.int64(): np.int64}.get(arr.type)
    if dtype is None or arr.null_count:
        raise VectorizeError(f"{block.part}: a column of {arr.type}{' with nulls' if arr.null_count else ''}, "
                             "not the dataset format's")
    return np.frombuffer(arr.buffers()[1], dtype=dtype, count=len(arr), offset=arr.offset * np.dtype(dtype).itemsize)


def read_block(block: RowGroup, columns: list[str]) -> dict[str, np.ndarray | list]:
    """One block's columns: id (B,) int64, vector (B, width) as stored; source, text as lists, line (B,)."""
    pq = import_pyarrow("search", "search")
    try:
        t = pq.ParquetFile(block.part, page_checksum_verification=True).read_row_group(block.group, columns=columns)
    except (OSError, ValueError) as e:
        raise VectorizeError(f"cannot read {block.part} (row group {block.group}): {one_line(e)}") from None
    out: dict = {}
    for name in columns:
        col = t.column(name).combine_chunks()
        if name == "vector":
            flat = col.values.slice(col.offset * col.type.list_size, len(col) * col.type.list_size)
            out[name] = _numpy(flat, block).reshape(len(col), col.type.list_size)  # (B, width)
            if out[name].dtype == np.float32 and not np.isfinite(out[name]).all():
                row = int(np.flatnonzero(~np.isfinite(out[name]).all(axis=1))[0])
                raise VectorizeError(f"{block.part} (row group {block.group}, row {row}): a stored vector that is "
                                     "not finite (inf or NaN)")
        elif name in ("id", "line"):
            out[name] = _numpy(col, block)
        else:
            out[name] = col.to_pylist()
    return out


def _id_ranges(ds: Dataset) -> list[tuple[int, int]]:
    """(min id, max id) of each block: the row groups' statistics (each part's footer read once), or the block's
    id column where there are none; (0, -1) for a block of no ids."""
    pq = import_pyarrow("search", "search")
    footers: dict[Path, object] = {}
    out = []
    for block in ds.blocks:
        if block.part not in footers:
            footers[block.part] = pq.ParquetFile(block.part).metadata
        meta = footers[block.part].row_group(block.group)
        stats = next((meta.column(c).statistics for c in range(meta.num_columns)
                      if meta.column(c).path_in_schema == "id"), None)
        if stats is not None and stats.has_min_max:
            out.append((int(stats.min), int(stats.max)))
        else:
            ids = read_block(block, ["id"])["id"]
            out.append((int(ids.min()), int(ids.max())) if len(ids) else (0, -1))
    return out


def rows_by_id(ds: Dataset, ids: set[int]) -> dict[int, dict]:
    """The stored fields of the rows with these ids: {id: {source, line, text (when stored)}}.
    Reads only the blocks that hold them, without their vectors."""
    columns = ["id"] + [c for c in ("source", "line", "text") if c in ds.columns]
    found: dict[int, dict] = {}
    for block, (lo, hi) in zip(ds.blocks, _id_ranges(ds)):
        wanted = {i for i in ids if lo <= i <= hi and i not in found}
        if not wanted:
            continue
        cols = read_block(block, columns)
        for r, i in enumerate(cols["id"].tolist()):
            if i in wanted:
                found[i] = {c: (cols[c][r].item() if isinstance(cols[c], np.ndarray) else cols[c][r])
                            for c in columns[1:]}
        if len(found) == len(ids):
            break
    return found


def vectors_by_id(ds: Dataset, ids: np.ndarray) -> np.ndarray:
    """The stored vectors of the rows with these ids (any shape S) -> (*S, width), as stored, read from the parts
    (pages checksummed): each block that holds one of them is read once, the blocks on every core."""
    wanted = np.unique(ids)  # (U,) sorted
    out = np.zeros((len(wanted), ds.stored.width(ds.d)), ds.stored.dtype)  # (U, width)
    found = np.zeros(len(wanted), bool)
    jobs = []
    for block, (lo, hi) in zip(ds.blocks, _id_ranges(ds)):
        at = np.flatnonzero((wanted >= lo) & (wanted <= hi))  # positions in wanted this block may hold
        if len(at):
            jobs.append((block, at))

    def read(job):
        block, at = job
        cols = read_block(block, ["id", "vector"])
        order = np.argsort(cols["id"], kind="stable")  # ids are in order within a block; sorted to be sure
        sorted_ids = cols["id"][order]
        pos = np.minimum(np.searchsorted(sorted_ids, wanted[at]), len(sorted_ids) - 1)
        hit = sorted_ids[pos] == wanted[at]
        return at[hit], cols["vector"][order[pos[hit]]]

    with core_map() as map_:
        for at, rows in map_(read, jobs):
            out[at], found[at] = rows, True
    if not found.all():
        raise VectorizeError(f"dataset {ds.path} holds no row with id {int(wanted[~found][0])}")
    return out[np.searchsorted(wanted, ids)]  # (*S, width)
