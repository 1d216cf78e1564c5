"""Writers by format: they take the results as they come and write them to a binary sink
(stdout, or the temporary file of --output; see sink.py).

JSON goes out as bytes, never through rich (which wraps and colours); tables go through a rich
Console, imported only for tables. Each record is written and flushed whole, so a consumer never
sees half a record, even on Ctrl-C.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, BinaryIO

from vectorize_cli.memory import check_text
from vectorize_cli.views.json import dumps
from vectorize_cli.sink import flush, uninterrupted, write_all, write_failed, write_record


@dataclass(frozen=True)
class Output:
    """How traces (or any results) become output; the same writers serve every command."""

    single: bool  # the input was one TEXT argument (json: an object, not an array)
    record: Callable[[Any], dict]  # result -> its JSON record
    render: Callable[[Any, Any], Any]  # (Renderer, result) -> a rich renderable
    precision: int = 3  # decimals in tables
    max_memory: int | None = None  # refuse a record whose JSON text would not fit (memory.check_text)


class _TextTo:
    """Text in, UTF-8 bytes out to a binary sink (which it never closes, unlike io.TextIOWrapper)."""

    def __init__(self, sink: BinaryIO):
        self.sink = sink

    def write(self, text: str) -> int:
        write_all(self.sink, text.encode("utf-8"))
        return len(text)

    def flush(self) -> None:
        self.sink.flush()

    def isatty(self) -> bool:
        return False


def _width_without_a_terminal() -> int:
    """Piped (`| less`, `| head`) while stderr is still the user's terminal: that terminal's width; else 120."""
    import os
    import sys

    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns if sys.stderr and sys.stderr.isatty() else 120
    except (OSError, ValueError):
        return 120


@lru_cache(maxsize=1)
def _console_class():
    from rich.console import Console

    class PipeConsole(Console):
        def on_broken_pipe(self) -> None:
            """rich would exit 1 here; the reader went away, which cli.py ends quietly with 141."""
            raise BrokenPipeError

    return PipeConsole


def _is_regular(sink: BinaryIO) -> bool:
    import os
    import stat

    try:
        return stat.S_ISREG(os.fstat(sink.fileno()).st_mode)
    except (AttributeError, OSError, ValueError):
        return False


def console_for(sink: BinaryIO):
    """A rich Console writing UTF-8 to the sink, as wide as the terminal (see _width_without_a_terminal)."""
    import os
    import sys

    regular = _is_regular(sink)  # a file: bytes counted per record (sink.uninterrupted takes back a short write)
    text = sys.stdout if sys.stdout is not None and sink is sys.stdout.buffer and not regular else _TextTo(sink)
    if text is sys.stdout and "utf" not in (sys.stdout.encoding or "").lower().replace("_", "-"):
        sys.stdout.reconfigure(errors="replace")  # PYTHONIOENCODING=latin-1: '?' for what it cannot hold
    columns = os.environ.get("COLUMNS")
    usable = columns is not None and columns.isdigit() and 0 < int(columns) < 10_000  # rich reads it; 0: nothing
    width = None if usable or (text.isatty() and columns is None) else _width_without_a_terminal()
    if width is not None and text.isatty():  # a terminal with an unusable COLUMNS: its real width
        try:
            width = os.get_terminal_size(sys.stdout.fileno()).columns
        except (OSError, ValueError):
            pass
    return _console_class()(file=text, highlight=False, soft_wrap=False, width=width)


def write_json(obj, pretty: bool, sink: BinaryIO) -> None:
    """One JSON document (pretty) or line, whole."""
    write_record(sink, dumps(obj, pretty))


def tables(results: Iterable, out: Output, sink: BinaryIO) -> None:
    from vectorize_cli.views.matrix import Renderer

    renderer = Renderer(console_for(sink), out.precision)
    for result in results:
        table = out.render(renderer, result)
        with uninterrupted():
            try:
                renderer.console.print(table)
            except BrokenPipeError:
                raise
            except OSError as e:
                raise write_failed(e) from None


def _dumps(result, out: Output, pretty: bool) -> bytes:
    rec = out.record(result)
    if out.max_memory is not None:
        check_text(rec, pretty, out.max_memory)
    return dumps(rec, pretty)


def json(results: Iterable, out: Output, sink: BinaryIO) -> None:
    """One document: the record for a TEXT argument, an array of records for stdin or a file.
    The array is written only once whole (an error leaves no output); meanwhile it waits in a
    spool, on disk past 64 MiB, so that memory holds one record at a time, however many there are."""
    if out.single:
        for result in results:
            write_record(sink, _dumps(result, out, pretty=True))
        return
    import tempfile

    with tempfile.SpooledTemporaryFile(max_size=64 * 2**20) as spool:
        n = 0
        for result in results:  # each record as orjson indents it inside an array: two more spaces a line
            spool.write(b",\n  " if n else b"[\n  ")
            spool.write(_dumps(result, out, pretty=True)[:-1].replace(b"\n", b"\n  "))
            n += 1
        spool.write(b"\n]\n" if n else b"[]\n")
        spool.seek(0)
        with uninterrupted():
            for chunk in iter(lambda: spool.read(1 << 20), b""):
                write_all(sink, chunk)
            flush(sink)


def jsonl(results: Iterable, out: Output, sink: BinaryIO) -> None:
    """One compact record per line, streamed: each line is written as soon as it is ready."""
    for result in results:
        write_record(sink, _dumps(result, out, pretty=False))


WRITERS: dict[str, Callable[[Iterable, Output, BinaryIO], None]] = {
    "table": tables,
    "json": json,
    "jsonl": jsonl,
}


def write_picture(data: bytes, fmt: str, sink: BinaryIO) -> None:
    """A page or a figure (views.pictures), whole, to a file or a pipe."""
    from vectorize_cli.errors import UsageError

    if sink.isatty():
        raise UsageError(f"--format {fmt} writes a file: use --output FILE, or redirect stdout")
    write_record(sink, data)


def write_npy(a, sink: BinaryIO) -> None:
    """N x d float32 little-endian, as np.save writes: np.load(io.BytesIO(sys.stdin.buffer.read()))."""
    import io

    import numpy as np

    from vectorize_cli.errors import UsageError

    if sink.isatty():
        raise UsageError("--format npy writes binary: redirect stdout to a file or a pipe, or use --output")
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(a, dtype="<f4"), allow_pickle=False)
    write_record(sink, buf.getvalue())
