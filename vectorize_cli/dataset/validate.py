"""One schema for a dataset's metadata (dataset/format.py), checked on every open: _SUCCESS, the parts'
`vectorize` metadata and their columns. A dataset is read, never believed: each failure is one VectorizeError
naming the file and the key.

    _SUCCESS   format == FORMAT; rows int >= 0; parts [part-NNNNN.parquet, ...] without duplicates, the files
               there; precision known; d int > 0; part_checks (when there) {part: {rows int >= 0, rows_sha256}}
    metadata   model.d int in 1 .. 2^31 - 1; precision known; ranges (int8, uint8) [[lo] * d, [hi] * d] finite
               in float32, lo <= hi, else null; what search opens the encoder with of the right types (model.source,
               model.name, attention, backend, dtype: strings; truncate_dim: null or int > 0)
    columns    id int64; vector fixed_size_list<PRECISIONS[precision].dtype>[width(d)]
"""

import json
import re
from pathlib import Path

from vectorize_cli.dataset.format import FORMAT
from vectorize_cli.dataset.precision import PRECISIONS
from vectorize_cli.errors import VectorizeError, short

PART = re.compile(r"part-\d{5}\.parquet")
SHA256 = re.compile(r"[0-9a-f]{64}")
FLOAT32_MAX = 3.4028234663852886e38  # np.finfo(np.float32).max: a range beyond it is inf once read


def json_object(raw: bytes, what: str) -> dict:
    try:
        value = json.loads(raw)
    except RecursionError:
        raise VectorizeError(f"{what}: not valid JSON (nested too deep)") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise VectorizeError(f"{what}: not valid JSON ({e})") from None
    if not isinstance(value, dict):
        raise VectorizeError(f"{what}: not a JSON object")
    return value


def read_success(marker: Path) -> dict:
    try:
        raw = marker.read_bytes()
    except OSError as e:
        raise VectorizeError(f"cannot read {marker}: {e.strerror or e}") from None
    return json_object(raw, str(marker))


def _known(precision) -> bool:
    return isinstance(precision, str) and precision in PRECISIONS


def _count(value, lowest: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= lowest


def _bad(where, key: str, what: str):
    raise VectorizeError(f"{where}: {key} {what}")


def check_success(success: dict, marker: Path, on_disk: list[str]) -> None:
    """_SUCCESS against the schema, and its parts against the part files on disk (sorted names)."""
    if success.get("format") != FORMAT:
        _bad(marker, "format", f"is {short(success.get('format'))}; this version reads {FORMAT}")
    if not _count(success.get("rows"), 0):
        _bad(marker, "rows", f"is {short(success.get('rows'))}, not a count of rows")
    parts = success.get("parts")
    if not isinstance(parts, list) or not all(isinstance(p, str) and PART.fullmatch(p) for p in parts):
        _bad(marker, "parts", "is not a list of part-NNNNN.parquet names")
    if len(set(parts)) != len(parts):
        _bad(marker, "parts", "lists a part twice")
    missing = sorted(set(parts) - set(on_disk))
    if missing:
        _bad(marker, "parts", f"lists {missing[0]}, which is missing")
    extra = sorted(set(on_disk) - set(parts))
    if extra:
        _bad(marker, "parts", f"does not list {extra[0]}, which is there")
    if not _known(success.get("precision")):
        _bad(marker, "precision", f"{short(success.get('precision'))} is unknown; known: {', '.join(PRECISIONS)}")
    if not _count(success.get("d"), 1):
        _bad(marker, "d", f"is {short(success.get('d'))}, not a positive integer")
    checks = success.get("part_checks")
    if checks is not None:
        if not isinstance(checks, dict) or sorted(checks) != sorted(parts):
            _bad(marker, "part_checks", "does not list the parts")
        for name, c in checks.items():
            if not (isinstance(c, dict) and _count(c.get("rows"), 0) and isinstance(c.get("rows_sha256"), str)
                    and SHA256.fullmatch(c["rows_sha256"])):
                _bad(marker, f"part_checks.{name}", "is not {rows, rows_sha256}")


def check_meta(meta: dict, part: Path) -> None:
    """A part's `vectorize` metadata against the schema: what search needs to read its vectors."""
    where = f"{part}: metadata `vectorize`"
    model = meta.get("model")
    if not isinstance(model, dict):
        _bad(where, "model", "is not an object")
    d = model.get("d")
    if not _count(d, 1) or d >= 2**31:  # a vector of d values is an Arrow list: its size an int32
        _bad(where, "model.d", f"is {short(d)}, not a positive integer below 2^31")
    if not isinstance(model.get("sha256", ""), str):
        _bad(where, "model.sha256", "is not a string")
    if not isinstance(meta.get("options", {}), dict):
        _bad(where, "options", "is not an object")
    strings = [("model.source", model.get("source", "")), ("model.name", model.get("name", "")),
               ("options.backend", meta.get("options", {}).get("backend", ""))]
    strings += [(key, meta.get(key, "")) for key in ("attention", "backend", "dtype")]  # the encoder search opens
    for key, value in strings:
        if not isinstance(value, str):
            _bad(where, key, f"is {short(value)}, not a string")
    if meta.get("truncate_dim") is not None and not _count(meta["truncate_dim"], 1):
        _bad(where, "truncate_dim", f"is {short(meta['truncate_dim'])}, not a positive integer")
    p = meta.get("precision")
    if not _known(p):
        _bad(where, "precision", f"{short(p)} is unknown; known: {', '.join(PRECISIONS)}")
    ranges = meta.get("ranges")
    if not PRECISIONS[p].calibrated:
        if ranges is not None:
            _bad(where, "ranges", f"is set, but {p} has none")
        return
    if not (isinstance(ranges, list) and len(ranges) == 2
            and all(isinstance(r, list) and len(r) == d for r in ranges)):
        _bad(where, "ranges", f"is not 2 lists of d = {d} numbers ({p} needs them)")
    for row in ranges:
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) <= FLOAT32_MAX for v in row):
            _bad(where, "ranges", "holds a value that is not a finite float32 number")
    if any(lo > hi for lo, hi in zip(*ranges)):
        _bad(where, "ranges", "has a dimension whose lo is above its hi")


def check_columns(schema, meta: dict, part: Path) -> None:
    """The part's columns: id int64, vector fixed_size_list<dtype>[width(d)] of the metadata's precision."""
    import pyarrow as pa

    if "id" not in schema.names or schema.field("id").type != pa.int64():
        _bad(part, "column id", "is missing or not int64")
    if "vector" not in schema.names:
        _bad(part, "column vector", "is missing")
    p, d = PRECISIONS[meta["precision"]], meta["model"]["d"]
    want = pa.list_(pa.from_numpy_dtype(p.dtype), p.width(d))
    got = schema.field("vector").type
    if got != want:
        _bad(part, "column vector", f"is {got}, not {want} ({meta['precision']}, d = {d})")
