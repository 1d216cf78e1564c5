"""Writers by format: they take the results as they come and put them on stdout.

JSON goes out as bytes through sys.stdout.buffer, never through rich (which wraps and colours);
tables go through a rich Console, imported only for tables. Each jsonl record is written and
flushed whole, so a consumer never sees half a record.
"""

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from vectorize_cli.result import Result
from vectorize_cli.serialize import dumps, record


@dataclass(frozen=True)
class Output:
    single: bool  # the input was one TEXT argument (json: an object, not an array)
    precision: int = 3  # decimals in tables
    omit: tuple[str, ...] = ()  # JSON fields left out (--omit)


def tables(results: Iterable[Result], out: Output) -> None:
    from rich.console import Console

    from vectorize_cli.render import Renderer

    renderer = Renderer(Console(highlight=False, soft_wrap=False), out.precision)
    for result in results:
        renderer.console.print(renderer.result(result))


def json(results: Iterable[Result], out: Output) -> None:
    """One document: the record for a TEXT argument, an array of records for stdin or a file."""
    records = [record(r, out.omit) for r in results]
    sys.stdout.buffer.write(dumps(records[0] if out.single else records, pretty=True))
    sys.stdout.buffer.flush()


def jsonl(results: Iterable[Result], out: Output) -> None:
    """One compact record per line, streamed: each line is written as soon as it is ready."""
    stdout = sys.stdout.buffer
    for result in results:
        stdout.write(dumps(record(result, out.omit)))
        stdout.flush()


WRITERS: dict[str, Callable[[Iterable[Result], Output], None]] = {"table": tables, "json": json, "jsonl": jsonl}
