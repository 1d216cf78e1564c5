"""DIR/.lock: the one `vectorize embed` writing a dataset holds it (flock), so that a second one (--force,
--resume, another run) is refused at once, naming the holder's pid.

flock belongs to the open file: the kernel lets go of it when the holder exits, however it exits, so a lock
file left by a crash never blocks. The holder removes the file when done, while it still holds the lock; a
run that locked a file since removed (its inode no longer at DIR/.lock) tries again on the new one.
Readers never see it: the dataset's parts are `part-*.parquet` and pyarrow's dataset skips names with a dot.
"""

import os
from contextlib import contextmanager
from pathlib import Path

from vectorize_cli.dataset.format import LOCK
from vectorize_cli.errors import UsageError, VectorizeError


def _holder(path: Path) -> str:
    try:
        pid = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        pid = ""
    return f"pid {pid}" if pid.isdigit() else "another process"


def _acquire(out: Path) -> int:
    """A descriptor of DIR/.lock, locked by this process; or the UsageError naming the holder."""
    import fcntl

    path = out / LOCK
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise VectorizeError(f"cannot create {path}: {e.strerror or e}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UsageError(f"-o {out}: another `vectorize embed` ({_holder(path)}) is writing this dataset; "
                             "wait for it to finish") from None
        try:
            same = os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode("ascii"))
            return fd
        os.close(fd)  # the holder before us removed it as we opened it: lock the new one


@contextmanager
def locked(out: Path):
    """DIR made if missing and locked for this process until the block ends (the lock file then removed); a
    run that fails leaves no empty DIR it made itself behind."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"-o {out}: not a directory")
    made = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise VectorizeError(f"cannot create {out}: {e.strerror or e}") from None
    fd = _acquire(out)
    done = False
    try:
        yield
        done = True
    finally:
        try:
            os.unlink(out / LOCK)  # still ours: removed while held
        except OSError:
            pass
        os.close(fd)
        if made and not done:
            try:
                out.rmdir()  # only if empty: a part written stays
            except OSError:
                pass
