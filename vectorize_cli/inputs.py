"""Where sentences come from: the TEXT argument, stdin (`-`) or a file; one sentence per line
unless the whole input is asked for as one text.

Input must be UTF-8. A bad byte is an error naming its offset (never a silent replacement);
a leading byte-order mark and Windows line endings are accepted; blank lines are skipped.
"""

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from vectorize_cli.errors import UsageError, VectorizeError


def check_argument(text: str) -> str:
    """The TEXT argument as given; Python maps undecodable argv bytes to lone surrogates
    U+DC80..U+DCFF, which are reported as the byte they stand for."""
    for i, c in enumerate(text):
        if "\ud800" <= c <= "\udfff":
            offset = len(text[:i].encode("utf-8", "surrogateescape"))
            escaped = "\udc80" <= c <= "\udcff"  # a byte Python could not decode, kept as U+DC80 + byte
            byte = f"byte 0x{ord(c) - 0xDC00:02x}" if escaped else f"lone surrogate U+{ord(c):04X}"
            raise UsageError(f"TEXT is not valid UTF-8: {byte} at byte offset {offset}")
    return text


def decode(raw: bytes, name: str, offset: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        utf16 = offset == 0 and raw[:2] in (b"\xff\xfe", b"\xfe\xff")  # UTF-16's byte-order mark
        hint = " (UTF-16? convert it to UTF-8: iconv -f UTF-16 -t UTF-8)" if utf16 else ""
        raise VectorizeError(
            f"{name} is not valid UTF-8: byte 0x{raw[e.start]:02x} at byte offset {offset + e.start}{hint}"
        ) from None


@contextmanager
def reading(name: str) -> Iterator[None]:
    """A read that fails inside (an I/O error) is an error naming the input."""
    try:
        yield
    except OSError as e:
        raise VectorizeError(f"cannot read {name}: {e.strerror or e}") from None


def lines(stream: BinaryIO, name: str, on_read=lambda n: None) -> Iterator[str]:
    """Each non-blank line of a binary stream, decoded, without its line ending; read lazily.
    on_read(n) is told the bytes each line took (for a progress bar)."""
    offset = 0
    with reading(name):
        for raw in stream:
            on_read(len(raw))
            text = decode(raw, name, offset)
            if offset == 0:
                text = text.removeprefix("\ufeff")
            offset += len(raw)
            text = text.rstrip("\r\n")
            if text.strip():
                yield text


def read_whole(stream: BinaryIO, name: str) -> Iterator[str]:
    """The whole stream as one text."""
    with reading(name):
        raw = stream.read()
    text = decode(raw, name, 0).removeprefix("\ufeff")
    if text.strip():
        yield text


def open_input(path: Path) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as e:
        raise VectorizeError(f"cannot read {path}: {e.strerror or e}") from None


def sentences(stream: BinaryIO, name: str, as_one: bool, on_read=lambda n: None) -> Iterable[str]:
    return read_whole(stream, name) if as_one else lines(stream, name, on_read)


@dataclass(frozen=True)
class Source:
    """The sentences a command was given: TEXT arguments, or a stream (stdin or --file) read lazily."""

    texts: list[str] | None  # the TEXT arguments, or None for a stream
    stream: BinaryIO | None
    name: str  # for messages: "stdin" or the file's path
    as_one: bool  # --whole: the stream is one text

    @property
    def single(self) -> bool:
        """One TEXT argument: JSON then writes one record, not an array."""
        return self.texts is not None and len(self.texts) == 1

    def sentences(self, on_read=lambda n: None) -> Iterator[str]:
        """The sentences, lazily; on_read(n) hears the bytes each line of a stream took.
        A stream with none (empty or blank) is a usage error, raised when it ends."""
        n = 0
        for n, text in enumerate(self.texts if self.stream is None else
                                 sentences(self.stream, self.name, self.as_one, on_read), 1):
            yield text
        if n == 0:
            raise UsageError("no text: the input is empty or blank")


def from_cli(texts: list[str], file: Path | None, as_one: bool) -> Source:
    if file is not None and texts:
        raise UsageError("give TEXT or --file, not both")
    if file is None and not texts:
        raise UsageError("give a TEXT, `-` to read stdin, or --file FILE")
    if texts != ["-"] and file is None:
        if as_one:
            raise UsageError("--whole applies to stdin (`-`) or --file")
        return Source([check_argument(t) for t in texts], None, "TEXT", False)
    if file is not None:
        return Source(None, open_input(file), str(file), as_one)
    if sys.stdin is None:
        raise VectorizeError("stdin is closed: give TEXT or --file FILE, or redirect stdin")
    return Source(None, sys.stdin.buffer, "stdin", as_one)
