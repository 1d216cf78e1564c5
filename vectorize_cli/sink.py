"""Where output goes: stdout, or a file written atomically; and writes that Ctrl-C cannot cut.

A file is written to a temporary file beside it and renamed over it only when everything is
written, so an error or an interrupt never leaves a truncated file, and an existing file is
replaced only with --force. While a record is being written, SIGINT is held back until the
record is whole: a consumer never sees half a line.
"""

import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from vectorize_cli.errors import UsageError, VectorizeError

_writing = False  # inside uninterrupted(): SIGINT waits
_interrupted = False  # SIGINT arrived while writing


def _on_sigint(signum, frame) -> None:
    global _interrupted
    if _writing:
        _interrupted = True
    else:
        raise KeyboardInterrupt


def install_sigint_handler() -> None:
    """Called once by the CLI (never on import): Ctrl-C raises KeyboardInterrupt, but not mid-record."""
    signal.signal(signal.SIGINT, _on_sigint)


@contextmanager
def uninterrupted() -> Iterator[None]:
    """Write one record inside: an interrupt during it takes effect right after it."""
    global _writing, _interrupted
    _writing = True
    try:
        yield
    finally:
        _writing = False
        if _interrupted:
            _interrupted = False
            raise KeyboardInterrupt


def stdout() -> BinaryIO:
    """stdout's bytes; an error when the shell closed it (`>&-`)."""
    if sys.stdout is None:
        raise VectorizeError("stdout is closed: redirect it, or write to a file with --output FILE")
    return sys.stdout.buffer


def discard_stdout() -> None:
    """Point stdout at /dev/null after a failed write, so that the interpreter's last flush of
    what it still buffers does not fail a second time."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # no stdout, or not a real file (CliRunner)
        pass


def write_failed(e: OSError) -> VectorizeError:
    """A write that failed (disk full, I/O error) as the error to report."""
    discard_stdout()
    return VectorizeError(f"cannot write the output: {e.strerror or e}")


def write_all(sink: BinaryIO, data: bytes) -> None:
    """Write all of data. A signal can cut a blocked write short (BufferedWriter.write then
    returns fewer bytes), so loop until all are out."""
    view = memoryview(data)
    try:
        while view:
            view = view[sink.write(view) :]
    except BrokenPipeError:
        raise
    except OSError as e:
        raise write_failed(e) from None


def write_record(sink: BinaryIO, data: bytes) -> None:
    """Write all of data and flush, with Ctrl-C held back until it is out."""
    with uninterrupted():
        write_all(sink, data)
        flush(sink)


def flush(sink: BinaryIO) -> None:
    try:
        sink.flush()
    except BrokenPipeError:
        raise
    except OSError as e:
        raise write_failed(e) from None


@contextmanager
def open_sink(path: Path | None, force: bool) -> Iterator[BinaryIO]:
    """stdout's bytes, or a temporary file renamed to `path` once the block ends without error."""
    if path is None:
        yield stdout()
        return
    if path.exists() and not force:
        raise UsageError(f"{path} exists; add --force to replace it")
    if path.is_dir():
        raise UsageError(f"{path} is a directory")
    if path.exists() and not path.is_file():  # a device or a pipe (/dev/null): never replaced by a file
        raise UsageError(f"{path} is not a regular file; write to it with the shell: > {path}")
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=directory)
    except OSError as e:
        raise VectorizeError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
