"""--token WORD|N resolves to one row, or a usage error that names the tokens."""

import pytest

from vectorize_cli.errors import UsageError
from vectorize_cli.focus import token_index

TOKENS = ["[CLS]", "The", "cat", "sat", "the", "Cat", "7", "[SEP]"]


@pytest.mark.parametrize("spec,expect", [("0", 0), ("7", 7), ("cat", 2), ("Cat", 5), ("CAT", 2), ("the", 4),
                                         ("THE", 1), ("[SEP]", 7)])
def test_token_index(spec, expect):
    assert token_index(TOKENS, spec) == expect


@pytest.mark.parametrize("spec", ["8", "dog", "", "-1"])
def test_bad_token(spec):
    with pytest.raises(UsageError, match="--token"):
        token_index(TOKENS, spec)
