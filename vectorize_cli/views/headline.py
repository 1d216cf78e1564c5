"""Titles for pictures: a text in at most a few lines of a given width, broken between words, never inside one.

What does not fit ends at the last whole word that does, then ` …`. A word is cut (with `…`) only where it is
longer than a whole line (a URL, a run of characters without a space), or is alone on the last line with no room
left for ` …` after it.
"""

import textwrap

from vectorize_cli.views.matrix import ELLIPSIS


def wrap_words(text: str, width: int, lines: int) -> list[str]:
    """text (its whitespace collapsed) as at most `lines` lines of at most `width` characters."""
    width = max(width, 4)
    words = [w if len(w) <= width else w[: width - 1] + ELLIPSIS for w in text.split()]
    out = textwrap.wrap(" ".join(words), width, break_long_words=False, break_on_hyphens=False)
    if len(out) <= lines:
        return out
    last = out[lines - 1]
    while len(last) + 2 > width and " " in last:  # room for " …" after the last whole word
        last = last.rsplit(" ", 1)[0]
    if len(last) + 2 > width:  # one word, and no room for " …" after it: the line is that word cut
        return out[: lines - 1] + [last[: width - 1] + ELLIPSIS]
    return out[: lines - 1] + [last + " " + ELLIPSIS]


def shorten(text: str, limit: int) -> str:
    """text on one line of at most `limit` characters, cut between words (with `…`) only where it is longer."""
    return " ".join(wrap_words(text, limit, 1))
