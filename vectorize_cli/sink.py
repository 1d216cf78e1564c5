"""Where output goes: stdout, or a file; the one writer for every file the tool writes (--output, --plot,
embed's Parquet parts and _SUCCESS, the HNSW index); and writes that a signal cannot cut.

A file (open_sink) is written to a temporary file beside it, then put in place only when all of it
is written, so an error or a signal never leaves a truncated file:

    no clobber      without --force, the file is linked into place (os.link), which fails when a
                    file of that name exists, even one another program made while the run went
    no links        a symbolic link in the way is never written through: it is an existing file
                    (without --force), or it is replaced by the file (with --force); its target is
                    never touched
    mode            0o666 & ~umask, as `>` gives; with --force over a regular file, that file's
                    permission bits (the new file is owned by whoever runs the tool)
    signals         SIGINT, SIGTERM and SIGHUP remove the temporary file (then exit 130 / 143 / 129)

Signals are turned into exceptions (KeyboardInterrupt; Terminated for SIGTERM and SIGHUP), but
never halfway through a record (uninterrupted()) nor halfway through an import (a C extension's import cut
by an exception can crash the interpreter): there they wait until the record or the import is done.

When stdout is a regular file and a write fails (a full disk), the file is cut back to the end of
the last whole record.
"""

import errno
import os
import signal
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from vectorize_cli.errors import UsageError, VectorizeError

SIGNALS = tuple(s for s in (signal.SIGINT, getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s)
RETRY_S = 0.01  # a signal that arrived during an import is looked at again this much later
TEMP_SUFFIX = ".part"  # a file being written is .NAME.XXXXXXXX.part beside NAME until it is complete

_writing = False  # inside uninterrupted(): signals wait
_pending: int | None = None  # a signal that arrived while writing or importing
_record_start: int | None = None  # stdout's offset at the start of the record being written (a regular file)
_record_bytes = 0  # bytes of that record handed to stdout by write_all


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP: handled as Ctrl-C is (temporary files removed), exit 128 + signum."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _interrupt(signum: int) -> KeyboardInterrupt:
    """The exception for a signal, raised now: a retry still armed is cancelled (at exit, SIGALRM's
    default action would kill the process)."""
    global _pending
    _pending = None
    signal.setitimer(signal.ITIMER_REAL, 0)
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)


def _importing(frame) -> bool:
    """Python is inside an import (importlib's frames are on the stack)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def _on_signal(signum, frame) -> None:
    global _pending
    if _writing or _importing(frame):
        _pending = _pending or signum
        if not _writing:  # uninterrupted() raises it on leaving; an import is looked at again shortly
            signal.setitimer(signal.ITIMER_REAL, RETRY_S)
        return
    raise _interrupt(signum)


def _on_retry(signum, frame) -> None:
    global _pending
    if _pending is None or _writing:
        return
    if _importing(frame):
        signal.setitimer(signal.ITIMER_REAL, RETRY_S)
        return
    raise _interrupt(_pending)


def install_signal_handlers() -> None:
    """Called once, first thing (vectorize_cli/__main__.py), never on import: SIGINT, SIGTERM and SIGHUP
    raise KeyboardInterrupt / Terminated, but not mid-record nor mid-import."""
    for s in SIGNALS:
        signal.signal(s, _on_signal)
    signal.signal(signal.SIGALRM, _on_retry)


def _stdout_offset() -> int | None:
    """Where the next byte goes when stdout is a regular file (else None)."""
    try:
        fd = sys.stdout.fileno()
        return os.lseek(fd, 0, os.SEEK_CUR) if stat.S_ISREG(os.fstat(fd).st_mode) else None
    except (AttributeError, OSError, ValueError):  # no stdout, or not a real file (CliRunner)
        return None


@contextmanager
def uninterrupted() -> Iterator[None]:
    """Write one record inside: a signal during it takes effect right after it."""
    global _writing, _pending, _record_start
    global _record_bytes
    _writing, _record_start, _record_bytes = True, _stdout_offset(), 0
    try:
        yield
        # A disk filling up can take part of a flush without an error (CPython drops the rest of a short
        # write); the file's offset tells, while this record can still be taken back.
        if _record_start is not None and _record_bytes and _stdout_offset() != _record_start + _record_bytes:
            raise write_failed(OSError(errno.ENOSPC, "the file took only part of the record (disk full?)"))
    finally:
        _writing, _record_start = False, None
        if _pending is not None:
            raise _interrupt(_pending)


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


def _cut_back() -> None:
    """stdout, a regular file, cut back to the end of the last whole record."""
    try:
        fd = sys.stdout.fileno()
        if os.fstat(fd).st_size > _record_start:
            os.ftruncate(fd, _record_start)
    except (AttributeError, OSError, ValueError):
        pass


def write_failed(e: OSError) -> VectorizeError:
    """A write that failed (disk full, I/O error) as the error to report; half a record written to
    a regular file on stdout is taken back."""
    if _record_start is not None:
        _cut_back()
    discard_stdout()
    return VectorizeError(f"cannot write the output: {e.strerror or e}")


def write_all(sink: BinaryIO, data: bytes) -> None:
    """Write all of data. A signal can cut a blocked write short (BufferedWriter.write then
    returns fewer bytes), so loop until all are out."""
    global _record_bytes
    if _record_start is not None and sys.stdout is not None and sink is sys.stdout.buffer:
        _record_bytes += len(data)
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


def _umask() -> int:
    mask = os.umask(0o22)
    os.umask(mask)
    return mask


def check_target(path: Path, force: bool) -> int:
    """What may be put at path, before any work is done; -> the new file's mode."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return 0o666 & ~_umask()
    except OSError as e:
        raise VectorizeError(f"cannot write {path}: {e.strerror or e}") from None
    if stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{path} is a directory")
    if not force:
        kind = "is a symbolic link" if stat.S_ISLNK(st.st_mode) else "exists"
        raise UsageError(f"{path} {kind}; add --force to replace it")
    if stat.S_ISLNK(st.st_mode):
        return 0o666 & ~_umask()  # the link itself is replaced, its target never written
    if not stat.S_ISREG(st.st_mode):  # a device or a pipe (/dev/null): never replaced by a file
        raise UsageError(f"{path} is not a regular file; write to it with the shell: > {path}")
    return stat.S_IMODE(st.st_mode) & 0o777  # --force over a file keeps its permissions


def _place(tmp: str, path: Path, force: bool) -> None:
    """The finished temporary file at path: replacing only with --force, never through a link."""
    if force:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # fails if path exists, whatever made it, whenever
    except FileExistsError:
        raise UsageError(f"{path} was created by something else while this ran; not replaced (add --force)") from None
    except OSError:  # a file system without hard links: claim the name, then rename over the claim
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
        except FileExistsError:
            raise UsageError(f"{path} was created by something else while this ran; not replaced (add --force)") \
                from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


class NewFile:
    """A file for path, written as a temporary file beside it (tmp, open as file), then put in place (publish) or
    removed (discard): open_file's with block, or a writer that keeps it across calls or takes a path (tmp)."""

    def __init__(self, path: Path, force: bool):
        import tempfile

        self.path, self.force = path, force
        mode = check_target(path, force)
        try:
            fd, self.tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
        except OSError as e:
            raise VectorizeError(f"cannot write {path}: {e.strerror or e}") from None
        self.file = os.fdopen(fd, "wb")
        try:
            os.fchmod(fd, mode)
        except BaseException as e:
            self.discard(e)
            raise

    def discard(self, error: BaseException | None = None) -> None:
        """The temporary file removed, nothing put in place; an OSError that caused it: one line naming path."""
        with suppress(OSError):
            self.file.close()
        Path(self.tmp).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise VectorizeError(f"cannot write {self.path}: {error.strerror or error}") from None

    def publish(self) -> None:
        """All of it on disk, then in place."""
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            _place(self.tmp, self.path, self.force)
        except BaseException as e:
            self.discard(e)
            raise


@contextmanager
def open_file(path: Path, force: bool) -> Iterator[BinaryIO]:
    """A temporary file beside path, put in place once the block ends without error (see the
    module docstring); removed on any error or signal."""
    new = NewFile(path, force)
    try:
        yield new.file
    except BaseException as e:
        new.discard(e)
        raise
    new.publish()


@contextmanager
def open_sink(path: Path | None, force: bool) -> Iterator[BinaryIO]:
    """stdout's bytes, or path written by open_file."""
    if path is None:
        yield stdout()
        return
    with open_file(path, force) as f:
        yield f
