"""Tokenizers by name: text -> list of token strings.

Text is NFC-normalised first, so "café" typed either way is one token with one vector.
Only visible tokens are kept: whitespace, control and format characters alone never make a token.
"""

import unicodedata
from collections.abc import Callable
from functools import cache

_CJK = r"\p{Han}\p{Hiragana}\p{Katakana}"  # scripts written without spaces: one token per character
_WORD_CHAR = rf"[[\p{{L}}\p{{M}}\p{{N}}\p{{Pc}}]--[{_CJK}]]"
_PATTERNS = {  # the `regex` module's, compiled on first use (_compiled): a --model run splits no text here
    "word": (rf"(?V1)[{_CJK}]\p{{M}}*"  # one CJK character (with any marks on it); V1: set operations (--)
             rf"|{_WORD_CHAR}+(?:['’]{_WORD_CHAR}+)*"  # a word, contractions kept whole: It's, don’t
             r"|\X"),  # anything else: one grapheme cluster (punctuation, emoji with ZWJ and modifiers)
    "grapheme": r"\X",
    "visible": r"[^\p{Cc}\p{Cf}\p{Z}\s]",
}


@cache
def _compiled(name: str):
    import regex  # about 7 ms: only the toy pipeline's runs split text here

    return regex.compile(_PATTERNS[name])


def _visible(tokens) -> list[str]:
    visible = _compiled("visible")
    return [t for t in tokens if t.isalnum() or visible.search(t)]  # isalnum: the common case, fast


def word(text: str) -> list[str]:
    """Words and punctuation marks; CJK text split per character."""
    return _visible(_compiled("word").findall(text))


def whitespace(text: str) -> list[str]:
    """Runs of non-space characters, as str.split() gives them."""
    return _visible(text.split())


def char(text: str) -> list[str]:
    """Each visible user-perceived character (grapheme cluster); spaces are skipped."""
    return _visible(_compiled("grapheme").findall(text))


TOKENIZERS: dict[str, Callable[[str], list[str]]] = {"word": word, "whitespace": whitespace, "char": char}


def tokenize(text: str, name: str) -> list[str]:
    from vectorize_cli.errors import lookup

    return lookup(TOKENIZERS, "tokenizer", name)(unicodedata.normalize("NFC", text))
