"""Tokenizers by name: text -> list of token strings.

Text is NFC-normalised first, so "café" typed either way is one token with one vector.
Only visible tokens are kept: whitespace, control and format characters alone never make a token.
"""

import unicodedata
from collections.abc import Callable

import regex

_CJK = r"\p{Han}\p{Hiragana}\p{Katakana}"  # scripts written without spaces: one token per character
_WORD_CHAR = rf"[[\p{{L}}\p{{M}}\p{{N}}\p{{Pc}}]--[{_CJK}]]"
_WORD = regex.compile(
    rf"[{_CJK}]\p{{M}}*"  # one CJK character (with any marks on it)
    rf"|{_WORD_CHAR}+(?:['’]{_WORD_CHAR}+)*"  # a word, contractions kept whole: It's, don’t
    r"|\X",  # anything else: one grapheme cluster (punctuation, emoji with ZWJ and modifiers)
    flags=regex.V1,
)
_GRAPHEME = regex.compile(r"\X")
_VISIBLE = regex.compile(r"[^\p{Cc}\p{Cf}\p{Z}\s]")


def _visible(tokens) -> list[str]:
    return [t for t in tokens if t.isalnum() or _VISIBLE.search(t)]  # isalnum: the common case, fast


def word(text: str) -> list[str]:
    """Words and punctuation marks; CJK text split per character."""
    return _visible(_WORD.findall(text))


def whitespace(text: str) -> list[str]:
    """Runs of non-space characters, as str.split() gives them."""
    return _visible(text.split())


def char(text: str) -> list[str]:
    """Each visible user-perceived character (grapheme cluster); spaces are skipped."""
    return _visible(_GRAPHEME.findall(text))


TOKENIZERS: dict[str, Callable[[str], list[str]]] = {"word": word, "whitespace": whitespace, "char": char}


def tokenize(text: str, name: str) -> list[str]:
    from vectorize_cli.errors import lookup

    return lookup(TOKENIZERS, "tokenizer", name)(unicodedata.normalize("NFC", text))
