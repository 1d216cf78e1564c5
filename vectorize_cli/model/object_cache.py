"""The folder where compiled.py keeps its machine code: one object file per key (what the code was built
from), checked whole before it is loaded, written so that no reader sees half a file, and pruned.

    CACHE = $VECTORIZE_CACHE, or $XDG_CACHE_HOME/vectorize-cli, or ~/.cache/vectorize-cli
    kernels-<key>.o = sha256(object) + object
"""

import contextlib
import hashlib
import os
import tempfile
import time
from pathlib import Path

CACHE = Path(os.environ.get("VECTORIZE_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
             / "vectorize-cli")
STALE_DAYS = 30  # an object file neither loaded nor written for this long is removed when another is written


def object_path(key: str) -> Path:
    """Where the object file of this key lives."""
    return CACHE / f"kernels-{key}.o"


def load_object(file: Path) -> bytes | None:
    """The object file, if it is there whole (its first 32 bytes are the sha256 of the rest); a file read is
    touched, marking it in use for prune_objects()."""
    try:
        data = file.read_bytes()
    except OSError:
        return None
    digest, obj = data[:32], data[32:]
    if not obj or hashlib.sha256(obj).digest() != digest:
        return None
    with contextlib.suppress(OSError):
        os.utime(file)
    return obj


def store_object(file: Path, obj: bytes) -> None:
    """Written to a file of its own beside, then renamed: no reader sees half a file, however many processes
    or threads compile at once; then the stale files are pruned. Best effort: without a writable cache, the
    next process compiles again."""
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=file.name + ".", suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(hashlib.sha256(obj).digest() + obj)
        os.replace(tmp, file)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return
    prune_objects(file)


def prune_objects(kept: Path) -> None:
    """Removes the folder's object files unused for STALE_DAYS (older sources, compilers or CPUs: each is
    named by what it was built from) and those of the earlier GELU-only format. A file in use is touched on
    every read, so machines sharing one home keep theirs. Best effort."""
    now = time.time()
    for old in (*kept.parent.glob("kernels-*.o"), *kept.parent.glob("gelu-*.o")):
        with contextlib.suppress(OSError):
            if old != kept and (old.name.startswith("gelu-") or now - old.stat().st_mtime > STALE_DAYS * 86400):
                old.unlink()
