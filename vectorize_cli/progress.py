"""Progress bars on stderr, for batches (bar) and for `vectorize bench` (steps): shown only when
stderr is a terminal and the data does not go to that same terminal (so it never mixes with tables
or reaches a file); transient, free when off."""

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import BinaryIO


def wanted() -> bool:
    """stderr is a terminal (the cli also checks that the data does not go to that terminal)."""
    return sys.stderr is not None and sys.stderr.isatty()


def size_of(stream: BinaryIO) -> int | None:
    """The stream's size in bytes when it is a regular file (a file or `< file` on stdin), else None."""
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return None
    import stat

    return st.st_size if stat.S_ISREG(st.st_mode) else None


def _on_stderr(*columns):
    from rich.console import Console
    from rich.progress import Progress

    return Progress(*columns, console=Console(stderr=True), transient=True)


@contextmanager
def bar(total_bytes: int | None, enabled: bool, unit: str = "lines") -> Iterator[Callable[[int], None]]:
    """Yields advance(n_bytes), to call once per sentence (or row) with the bytes it took: the bar shows
    the count, the bytes of total_bytes, the rate and the time left."""
    if not enabled:
        yield lambda n: None
        return
    from rich.progress import BarColumn, DownloadColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = [TextColumn("{task.fields[sentences]:,} " + unit), BarColumn(), DownloadColumn(),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn()]
    with _on_stderr(*columns) as progress:
        task = progress.add_task("vectorize", total=total_bytes, sentences=0, rate="")

        def advance(n: int) -> None:
            t = progress.tasks[0]
            done = t.fields["sentences"] + 1
            rate = f"{done / t.elapsed:,.0f}/s" if t.elapsed else ""
            progress.update(task, advance=n, sentences=done, rate=rate)

        yield advance


@contextmanager
def steps(total: int, enabled: bool) -> Iterator[Callable[[str], None]]:
    """Yields step(description), to call before each of `total` steps (bench's cases)."""
    if not enabled:
        yield lambda description: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

    with _on_stderr(TextColumn("{task.description:<32}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn()) as progress:
        task = progress.add_task("", total=total)
        done = -1  # the first call starts the first step

        def step(description: str) -> None:
            nonlocal done
            done += 1
            progress.update(task, description=description, completed=done)

        yield step
