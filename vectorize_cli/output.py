"""Writers by format: they take the results as they come and put them on stdout.

JSON goes out as bytes through sys.stdout.buffer, never through rich (which wraps and colours);
tables go through a rich Console. Each jsonl record is written and flushed whole, so a consumer
never sees half a record.
"""

import sys
from collections.abc import Callable, Iterable

from vectorize_cli.render import Renderer
from vectorize_cli.result import Result
from vectorize_cli.serialize import dumps, record


def tables(results: Iterable[Result], renderer: Renderer, single: bool) -> None:
    for result in results:
        renderer.console.print(renderer.result(result))


def json(results: Iterable[Result], renderer: Renderer, single: bool) -> None:
    """One document: the record for a TEXT argument, an array of records for stdin or a file."""
    records = [record(r) for r in results]
    sys.stdout.buffer.write(dumps(records[0] if single else records, pretty=True))
    sys.stdout.buffer.flush()


def jsonl(results: Iterable[Result], renderer: Renderer, single: bool) -> None:
    """One compact record per line, streamed: each line is written as soon as it is ready."""
    out = sys.stdout.buffer
    for result in results:
        out.write(dumps(record(result)))
        out.flush()


WRITERS: dict[str, Callable[[Iterable[Result], Renderer, bool], None]] = {
    "table": tables,
    "json": json,
    "jsonl": jsonl,
}
