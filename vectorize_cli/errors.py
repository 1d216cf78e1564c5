"""The two errors the library raises; the CLI turns each into one line on stderr and its exit code."""

import sys


class VectorizeError(Exception):
    """Something the tool could not do (unreadable input, too much memory): exit 1."""

    exit_code = 1


class UsageError(VectorizeError):
    """The user asked for something that does not fit (empty text, bad sizes, unknown names): exit 2."""

    exit_code = 2


def lookup(registry: dict, kind: str, name: str):
    """registry[name], or a UsageError listing the names there are."""
    try:
        return registry[name]
    except KeyError:
        raise UsageError(f"unknown {kind} {name!r}; choose from: {', '.join(registry)}") from None


def tell(kind: str, message: str) -> None:
    """One line on stderr, `vectorize: error: ...` or `vectorize: warning: ...`; nothing when the
    shell closed stderr (`2>&-`), where the exit code alone tells."""
    if sys.stderr is not None:
        sys.stderr.write(f"vectorize: {kind}: {message}\n")
        sys.stderr.flush()
