"""A corpus's inputs: text files (one text per line), stdin (`-`), .jsonl / .csv / .parquet (one text per row, the
column --column), directories (their files of those kinds, sorted, recursively) and globs; read lazily as rows
(source, line, text).

`line` is the 1-based line of a text or .jsonl file and the 1-based data row of a .csv (header not counted) or
.parquet. Blank texts are skipped (blank lines as `vectorize run` skips them; empty or null cells alike). Input
must be UTF-8 (the decoding of vectorize_cli/inputs.py, errors naming the byte offset); a bad row is an error
naming the file and its line or row: JSON nested too deep or a number too long for Python's json, a lone surrogate
(`"\ud800"`), a damaged Parquet page (its checksum verified when written). A path that is not a regular file (a pipe:
`<(cat FILE)`, /dev/stdin) is a stream, read once, as `-` is.
"""

import glob
import json
import os
import re
import stat
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from vectorize_cli.dataset.format import import_pyarrow
from vectorize_cli.errors import UsageError, VectorizeError
from vectorize_cli.inputs import decode, reading, open_input

STDIN = "-"
DIR_SUFFIXES = (".txt", ".text", ".jsonl", ".csv", ".parquet")  # what a directory contributes
SURROGATE = re.compile("[\ud800-\udfff]")  # a JSON `\ud800` escape decodes to one; no UTF-8 encodes it


@dataclass(frozen=True)
class Row:
    source: str  # the input's path as given (a directory's files: the directory / their relative path), `-`
    line: int  # 1-based line (text, .jsonl) or data row (.csv, .parquet)
    text: str
    size: int  # bytes it took in the input (for the progress bar)


@dataclass(frozen=True)
class Input:
    source: str
    kind: str  # a key of READERS

    def size(self) -> int | None:
        """Bytes in the file; None for a stream (stdin or a path that is not a regular file)."""
        from vectorize_cli import progress

        if self.source == STDIN:
            return None if sys.stdin is None else progress.size_of(sys.stdin.buffer)
        st = os.stat(self.source)
        return st.st_size if stat.S_ISREG(st.st_mode) else None

    def stream(self) -> bool:
        """Read once: stdin, or a pipe (`<(cat FILE)` is /dev/fd/N, a FIFO), not a file --resume reads again."""
        return self.size() is None


def _kind(path: str) -> str:
    suffix = Path(path).suffix.lower()
    return suffix[1:] if suffix in (".jsonl", ".csv", ".parquet") else "text"


def _glob_chars(s: str) -> bool:
    return any(c in s for c in "*?[")


def resolve_inputs(paths: list[str]) -> list[Input]:
    """INPUT... -> the files to read, in order; every one checked to exist before any is read."""
    if not paths:
        raise UsageError("give at least one INPUT: a file, a directory, a glob, or `-` for stdin")
    found: list[Input] = []
    for p in paths:
        if p == STDIN:
            if sys.stdin is None:
                raise VectorizeError("stdin is closed: give files, or redirect stdin")
            found.append(Input(STDIN, "text"))
        elif Path(p).is_dir():
            files = sorted(f for f in Path(p).rglob("*") if f.is_file() and f.suffix.lower() in DIR_SUFFIXES
                           and not any(part.startswith((".", "_")) for part in f.relative_to(p).parts))
            if not files:
                raise UsageError(f"{p}: no {', '.join(DIR_SUFFIXES)} files in this directory")
            found += [Input(str(f), _kind(str(f))) for f in files]
        elif Path(p).is_file():
            found.append(Input(p, _kind(p)))
        elif Path(p).exists():  # a pipe or a device: a stream (--resume refuses it)
            found.append(Input(p, _kind(p)))
        elif _glob_chars(p):
            matches = sorted(m for m in glob.glob(p, recursive=True) if Path(m).is_file())
            if not matches:
                raise UsageError(f"{p}: no file matches this pattern")
            found += [Input(m, _kind(m)) for m in matches]
        else:
            raise VectorizeError(f"cannot read {p}: No such file or directory")
    if sum(i.source == STDIN for i in found) > 1:
        raise UsageError("`-` (stdin) can be read once")
    return found


def _lines(inp: Input) -> Iterator[tuple[int, str, int]]:
    """(line number, decoded line without its ending, bytes) for every line, blank ones included."""
    stream = sys.stdin.buffer if inp.source == STDIN else open_input(Path(inp.source))
    name = "stdin" if inp.source == STDIN else inp.source
    offset = 0
    try:
        with reading(name):
            for n, raw in enumerate(stream, 1):
                text = decode(raw, f"{name} line {n}", offset)
                if offset == 0:
                    text = text.removeprefix("\ufeff")
                offset += len(raw)
                yield n, text.rstrip("\r\n"), len(raw)
    finally:
        if inp.source != STDIN:
            stream.close()


def _cell(inp: Input, where: str, value, column: str) -> str | None:
    """A row's text: a string, or None (null, blank: skipped); anything else is an error."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise VectorizeError(f"{inp.source} {where}: column {column!r} is {type(value).__name__}, not text")
    if (bad := SURROGATE.search(value)) is not None:
        raise VectorizeError(f"{inp.source} {where}: column {column!r} holds a lone surrogate "
                             f"U+{ord(bad.group()):04X} (not Unicode text)")
    return value


def read_text(inp: Input, column: str | None) -> Iterator[Row]:
    for n, text, size in _lines(inp):
        if text.strip():
            yield Row(inp.source, n, text, size)


def read_jsonl(inp: Input, column: str | None) -> Iterator[Row]:
    column = column or "text"
    for n, line, size in _lines(inp):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as e:
            raise VectorizeError(f"{inp.source} line {n}: not JSON ({e.msg}, column {e.colno})") from None
        except RecursionError:  # json's scanner bounds nesting by the interpreter's recursion limit
            raise VectorizeError(f"{inp.source} line {n}: JSON nested too deep to read") from None
        except ValueError:  # an integer beyond sys.get_int_max_str_digits()
            raise VectorizeError(f"{inp.source} line {n}: a JSON number of more than "
                                 f"{sys.get_int_max_str_digits():,} digits") from None
        if not isinstance(doc, dict):
            raise VectorizeError(f"{inp.source} line {n}: expected a JSON object, got {type(doc).__name__}")
        if column not in doc:
            raise VectorizeError(f"{inp.source} line {n}: no key {column!r} (give --column NAME)")
        text = _cell(inp, f"line {n}", doc[column], column)
        if text is not None:
            yield Row(inp.source, n, text, size)


def read_csv(inp: Input, column: str | None) -> Iterator[Row]:
    import csv

    column = column or "text"
    sizes: list[int] = []  # bytes of the lines csv has taken since the last row

    def decoded():
        for n, line, size in _lines(inp):
            sizes.append(size)
            yield line + "\n"

    reader = csv.reader(decoded(), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            return
        header[0] = header[0].removeprefix("\ufeff")
        if column not in header:
            raise VectorizeError(f"{inp.source} line 1: no column {column!r} in the header (give --column NAME)")
        at = header.index(column)
        sizes.clear()
        for n, fields in enumerate(reader, 1):
            size, sizes[:] = sum(sizes), []
            if not any(f.strip() for f in fields):
                continue  # a blank line
            if len(fields) != len(header):
                raise VectorizeError(f"{inp.source} row {n} (line {reader.line_num}): {len(fields)} fields, "
                                     f"the header has {len(header)}")
            text = _cell(inp, f"row {n} (line {reader.line_num})", fields[at], column)
            if text is not None:
                yield Row(inp.source, n, text, size)
    except csv.Error as e:
        raise VectorizeError(f"{inp.source} line {reader.line_num}: not CSV ({e})") from None


def read_parquet(inp: Input, column: str | None) -> Iterator[Row]:
    pq = import_pyarrow()
    import pyarrow as pa

    column = column or "text"
    try:
        f = pq.ParquetFile(inp.source, page_checksum_verification=True)  # pages written with one are checked
    except (OSError, pa.ArrowException) as e:
        raise VectorizeError(f"cannot read {inp.source}: {_first_line(e)}") from None
    if column not in f.schema_arrow.names:
        raise VectorizeError(f"{inp.source}: no column {column!r} (give --column NAME; it has "
                             f"{', '.join(f.schema_arrow.names)})")
    kind = f.schema_arrow.field(column).type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)):
        raise VectorizeError(f"{inp.source}: column {column!r} is {kind}, not text")
    size = max(1, inp.size() // max(1, f.metadata.num_rows))  # a row's share of the file
    n = 0
    try:
        for batch in f.iter_batches(batch_size=8192, columns=[column]):
            for value in batch.column(0).to_pylist():
                n += 1
                text = _cell(inp, f"row {n}", value, column)
                if text is not None:
                    yield Row(inp.source, n, text, size)
    except (OSError, pa.ArrowException, UnicodeDecodeError) as e:
        raise VectorizeError(f"cannot read {inp.source} after row {n}: {_first_line(e)}") from None


def _first_line(e: Exception) -> str:
    """Arrow's message, as one printable line (its first: the others repeat it, its bytes escaped)."""
    line = next((x for x in str(e).splitlines() if x.strip()), type(e).__name__)
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in line)


READERS: dict[str, Callable[[Input, str | None], Iterator[Row]]] = {
    "text": read_text, "jsonl": read_jsonl, "csv": read_csv, "parquet": read_parquet}


def read_rows(found: list[Input], column: str | None) -> Iterator[Row]:
    """Every row of every input, in order."""
    for inp in found:
        yield from READERS[inp.kind](inp, column)
