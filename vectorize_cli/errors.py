"""The two errors the library raises; the CLI turns each into one line on stderr and its exit code.

Where stderr goes is owned here too: kept_off_stderr() points fd 2 at a scratch file while a library writes
reports of its own (the Rust tokenizer's panics), and tell() always writes to the real stderr, even when a signal
cut kept_off_stderr() short before fd 2 was put back (the last line of a run was then lost: issue 26).
"""

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress

_real_stderr: int | None = None  # a copy of fd 2 as it was, while kept_off_stderr() points fd 2 elsewhere


class VectorizeError(Exception):
    """Something the tool could not do (unreadable input, too much memory): exit 1."""

    exit_code = 1


class UsageError(VectorizeError):
    """The user asked for something that does not fit (empty text, bad sizes, unknown names): exit 2."""

    exit_code = 2


def short(value, n: int = 60) -> str:
    """repr(value) for a message, cut to n characters: a value read from a file may be anything (10**400, a long
    list), and a message is one line."""
    r = repr(value)
    return r if len(r) <= n else r[: n - 3] + "..."


def lookup(registry: dict, kind: str, name: str):
    """registry[name], or a UsageError listing the names there are."""
    try:
        return registry[name]
    except KeyError:
        raise UsageError(f"unknown {kind} {name!r}; choose from: {', '.join(registry)}") from None


def tell(kind: str, message: str) -> None:
    """One line on stderr, `vectorize: error: ...` or `vectorize: warning: ...`; nothing when the
    shell closed stderr (`2>&-`), where the exit code alone tells."""
    if _real_stderr is not None:  # a redirection still in place: put the real stderr back first
        with suppress(OSError):
            os.dup2(_real_stderr, 2)
    if sys.stderr is not None:
        sys.stderr.write(f"vectorize: {kind}: {message}\n")
        sys.stderr.flush()


@contextmanager
def kept_off_stderr() -> Iterator[None]:
    """fd 2 on a scratch file inside (nothing when there is no stderr); put back on leaving, or by tell()."""
    import tempfile

    global _real_stderr
    outer = _real_stderr  # nested: the real stderr is still the outermost one's
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (AttributeError, OSError, ValueError):  # no stderr: nothing to keep clean
        yield
        return
    try:
        with tempfile.TemporaryFile() as scratch:
            _real_stderr = saved if outer is None else outer  # before fd 2 moves: tell() finds it from here on
            try:  # a signal right after the next line still puts fd 2 back
                os.dup2(scratch.fileno(), 2)
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        _real_stderr = outer
        os.close(saved)
