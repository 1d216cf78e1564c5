"""The one reader for every file of a model folder, which is treated as untrusted (downloaded from
anywhere): what it names is read only when it is

    a regular file        never a FIFO (which would block forever), a device (/dev/zero: endless),
                          a socket or a folder; checked with stat before opening, and again with
                          fstat on the descriptor opened (O_NONBLOCK: a FIFO swapped in cannot block)
    inside the folder     a name from a file (modules.json's `path`) is relative and has no `..`;
                          a link may lead only inside the folder, or, for a Hugging Face hub cache
                          snapshot (models--org--name/snapshots/REV/), inside that cache entry,
                          whose snapshots link into blobs/
    not too big           at most `cap` bytes, checked before reading and while reading (a file
                          that grows under the reader is refused, not read on and on)

JSON is parsed with limits: at most MAX_DEPTH levels of nesting, integers of at most MAX_DIGITS
digits, no NaN / Infinity; every failure is a VectorizeError naming the file.
"""

import json
import math
import os
import stat
from pathlib import Path

from vectorize_cli.errors import VectorizeError

JSON_CAP = 1 << 20  # a config file: 1 MiB is a thousand times what one needs
MAX_DEPTH = 64  # nesting of a config file
MAX_DIGITS = 20  # an integer in a config file: 64 bits need 20 digits


def inside(folder: Path, name: str) -> Path:
    """folder / name, for a name read from a file of the folder: relative, without `..`."""
    parts = Path(name).parts
    if Path(name).is_absolute() or ".." in parts or "\x00" in name:
        raise VectorizeError(f"{folder}: the path {name!r} leads outside the model folder")
    return folder.joinpath(*parts)


def _allowed_roots(folder: Path) -> list[Path]:
    """Where the folder's links may lead: the folder, and a hub cache entry (models--*) above it."""
    real = folder.resolve()
    cache_entry = real.parent.parent  # models--org--name, when real is models--org--name/snapshots/REV
    hub = real.parent.name == "snapshots" and cache_entry.name.startswith("models--")
    return [real, cache_entry] if hub else [real]


def _regular(path: Path, st: os.stat_result, cap: int) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise VectorizeError(f"{path} is not a regular file (a FIFO, device or folder is never read)")
    if st.st_size > cap:
        raise VectorizeError(f"{path} is {st.st_size:,} bytes; a model folder's file of this kind is at most {cap:,}")


def open_in_folder(folder: Path, path: Path, cap: int) -> tuple[int, int]:
    """A read-only descriptor of a regular file of the folder, and its size; the caller closes it.
    Missing: FileNotFoundError (the callers say which files a folder needs)."""
    try:
        real = path.resolve(strict=True)
    except FileNotFoundError:
        raise
    except (OSError, RuntimeError) as e:  # a loop of links, a name too long, no permission
        raise VectorizeError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
    if not any(real.is_relative_to(root) for root in _allowed_roots(folder)):
        raise VectorizeError(f"{path} links outside the model folder (to {real}); copy the file into the folder")
    try:
        _regular(path, os.stat(real), cap)
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise VectorizeError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        st = os.fstat(fd)
        _regular(path, st, cap)  # what was opened, which a race may have swapped
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


def read_bytes(folder: Path, path: Path, cap: int) -> bytes:
    """All of a regular file of the folder, at most cap bytes (see the module docstring)."""
    fd, size = open_in_folder(folder, path, cap)
    chunks, n = [], 0
    try:
        while True:
            chunk = os.read(fd, min(1 << 20, cap + 1 - n))
            if not chunk:
                break
            chunks.append(chunk)
            n += len(chunk)
            if n > cap:
                raise VectorizeError(f"{path} grew past {cap:,} bytes while it was read")
    except OSError as e:
        raise VectorizeError(f"cannot read {path}: {e.strerror or e}") from None
    finally:
        os.close(fd)
    return b"".join(chunks)


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise ValueError(f"an integer of {len(text.lstrip('-'))} digits (at most {MAX_DIGITS})")
    return int(text)


def _float(text: str) -> float:
    x = float(text)
    if not math.isfinite(x):
        raise ValueError(f"the number {text[:30]} is out of range")
    return x


def _constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _depth(doc) -> int:
    """Levels of nesting, without recursion."""
    deepest, todo = 0, [(doc, 1)]
    while todo:
        node, depth = todo.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, depth)
            if depth <= MAX_DEPTH:
                todo.extend((v, depth + 1) for v in (node.values() if isinstance(node, dict) else node))
    return deepest


def parse_json(path: Path, raw: bytes):
    """A config file's bytes -> its value, within the limits above."""
    try:
        doc = json.loads(raw.decode("utf-8"), parse_int=_int, parse_float=_float, parse_constant=_constant)
    except RecursionError:
        raise VectorizeError(f"{path} is not valid JSON: nested too deeply (at most {MAX_DEPTH} levels)") from None
    except (UnicodeDecodeError, ValueError) as e:  # json.JSONDecodeError is a ValueError
        raise VectorizeError(f"{path} is not valid JSON: {e}") from None
    if _depth(doc) > MAX_DEPTH:
        raise VectorizeError(f"{path} is not valid JSON: nested too deeply (at most {MAX_DEPTH} levels)")
    return doc


def read_json(folder: Path, path: Path):
    """A config file of the folder, read safely and parsed within limits."""
    return parse_json(path, read_bytes(folder, path, JSON_CAP))
