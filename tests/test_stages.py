"""The stages before attention: tokenizers, hash embeddings, positional encodings, config checks."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest

from vectorize_cli.config import Config
from vectorize_cli.embedding import embed_tokens
from vectorize_cli.errors import UsageError
from vectorize_cli.pipelines.toy import trace as run
from vectorize_cli.positional import positions
from vectorize_cli.tokens import tokenize


@pytest.mark.parametrize(
    "text, expected",
    [
        ("My deskmate and I made an appointment.", ["My", "deskmate", "and", "I", "made", "an", "appointment", "."]),
        ("It's tomorrow, isn’t it?", ["It's", "tomorrow", ",", "isn’t", "it", "?"]),
        ("我和同桌约好", ["我", "和", "同", "桌", "约", "好"]),
        ("日本語とEnglish", ["日", "本", "語", "と", "English"]),
        ("cafe\u0301 naïve", ["café", "naïve"]),  # NFC: the decomposed é is one token, one vector
        ("family: 👨‍👩‍👧 ok 👍🏽", ["family", ":", "👨‍👩‍👧", "ok", "👍🏽"]),
        ("नमस्ते दुनिया", ["नमस्ते", "दुनिया"]),  # combining vowel signs stay inside the word
        ("a\x00b\u200b c\r\n", ["a", "b", "c"]),  # control / format characters never make a token
        ("   \t\n", []),
    ],
)
def test_word_tokenizer(text, expected):
    assert tokenize(text, "word") == expected


def test_whitespace_and_char_tokenizers():
    assert tokenize(" a  b,c\td ", "whitespace") == ["a", "b,c", "d"]
    assert tokenize("ab c👍🏽", "char") == ["a", "b", "c", "👍🏽"]
    assert tokenize("नमस्ते", "char") == ["न", "म", "स्ते"]  # grapheme clusters, not code points


def test_unknown_names_are_usage_errors():
    with pytest.raises(UsageError, match="unknown tokenizer 'nope'; choose from: word, whitespace, char"):
        tokenize("x", "nope")
    with pytest.raises(UsageError, match="positional"):
        positions("rope", 3, 4, 0)


def test_hash_embedding_same_token_same_vector_everywhere(rng):
    d = int(rng.integers(1, 64))
    a = embed_tokens(["the", "cat", "the"], "hash", d, 0)
    b = embed_tokens(["dog", "the"], "hash", d, 0)
    assert a.shape == (3, d) and a.dtype == np.float32
    np.testing.assert_array_equal(a[0], a[2])
    np.testing.assert_array_equal(a[0], b[1])
    assert not np.array_equal(a[0], a[1])
    assert not np.array_equal(a[0], embed_tokens(["the"], "hash", d, 1)[0])  # the seed matters
    assert np.abs(a).max() < math.sqrt(3)


def test_hash_embedding_has_unit_variance():
    e = embed_tokens([f"token{i}" for i in range(2000)], "hash", 64, 0)
    assert abs(e.mean()) < 0.01 and abs(e.var() - 1.0) < 0.02


def test_hash_embedding_does_not_depend_on_python_hash_seed():
    code = ("from vectorize_cli.embedding import embed_tokens; "
            "print(embed_tokens(['héllo', '世界'], 'hash', 5, 3).tobytes().hex())")
    outs = {
        subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": s},
                       capture_output=True, text=True, check=True).stdout
        for s in ("0", "1", "12345")
    }
    assert len(outs) == 1
    assert outs.pop().strip() == embed_tokens(["héllo", "世界"], "hash", 5, 3).tobytes().hex()


def test_sinusoidal_matches_the_paper_formula(rng):
    T, d = int(rng.integers(1, 40)), int(rng.integers(1, 33))
    pe = positions("sinusoidal", T, d, 0)
    for p in range(T):
        for i in range(d):
            angle = p / 10000 ** ((i - i % 2) / d)
            assert pe[p, i] == pytest.approx(math.sin(angle) if i % 2 == 0 else math.cos(angle), abs=1e-12)


def test_linear_is_the_articles_and_generalises():
    pe = positions("linear", 3, 4, 0)
    np.testing.assert_allclose(pe, [[0.01, 0.02, 0.03, 0.04], [0.05, 0.06, 0.07, 0.08], [0.09, 0.10, 0.11, 0.12]])
    pe5 = positions("linear", 2, 5, 0)  # elements numbered 1..T*d in reading order, / 100
    np.testing.assert_allclose(pe5, np.arange(1, 11).reshape(2, 5) / 100)


def test_learned_rows_do_not_depend_on_length_and_none_is_zero():
    np.testing.assert_array_equal(positions("learned", 3, 6, 7), positions("learned", 10, 6, 7)[:3])
    assert not np.array_equal(positions("learned", 3, 6, 7), positions("learned", 3, 6, 8))
    assert not positions("none", 4, 3, 0).any()


def test_encoded_is_embedding_plus_positional():
    r = run("the cat sat on the mat", Config())
    embedding, positional, encoded = (r.stage(k) for k in ("embedding", "positional", "encoded"))
    np.testing.assert_array_equal(encoded, embedding + positional)
    np.testing.assert_array_equal(embedding[0], embedding[4])  # "the" twice
    assert not np.array_equal(encoded[0], encoded[4])  # but at different positions


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"dim": 7, "heads": 2}, "--dim 7 does not split into 2 heads"),
        ({"dim": 0}, "--dim must be at least 1"),
        ({"heads": 0}, "--heads must be at least 1"),
        ({"head_dim": 0}, "--head-dim must be at least 1"),
        ({"attention": ()}, "at least one attention variant"),
    ],
)
def test_config_rejects_sizes_that_do_not_fit(kwargs, message):
    with pytest.raises(UsageError, match=message):
        Config(**kwargs)


def test_head_dim_lets_any_dim_and_heads_work():
    c = Config(dim=7, heads=2, head_dim=3, attention=("multi-head", "flash"))
    r = run("an odd sized model", c)
    assert r.blocks[0].output.shape == (4, 7)
    np.testing.assert_allclose(r.blocks[0].output, r.blocks[1].output, atol=1e-5)


def test_empty_text_is_a_usage_error():
    with pytest.raises(UsageError, match="no tokens"):
        run(" \t ", Config())
