"""`--token WORD|N`: the one token the tables and the page focus on."""

from vectorize_cli.errors import UsageError


def token_index(tokens: list[str], spec: str) -> int:
    """N (digits): the table's row number, 0-based. WORD: its first occurrence, exactly, else ignoring case."""
    if spec.isdigit():
        i = int(spec)
        if i >= len(tokens):
            raise UsageError(f"--token {spec}: the text has {len(tokens)} tokens, numbered 0 to {len(tokens) - 1}")
        return i
    for same in (lambda t: t == spec, lambda t: t.casefold() == spec.casefold()):
        found = [i for i, t in enumerate(tokens) if same(t)]
        if found:
            return found[0]
    shown = ", ".join(repr(t) for t in tokens[:20]) + (", ..." if len(tokens) > 20 else "")
    raise UsageError(f"--token {spec!r}: no such token; the tokens are {shown}")
