"""`vectorize example` against the numbers the article prints, read from the article itself."""

import re

import numpy as np
import pytest

from conftest import ARTICLE
from reference import attention64
from vectorize_cli import example

pytestmark = pytest.mark.skipif(not ARTICLE.exists(), reason=f"the article is not at {ARTICLE}")


def _vectors(text: str) -> list[list[float]]:
    return [[float(x) for x in v.split(",")] for v in re.findall(r"\[([-0-9., ]+)\]", text)]


@pytest.fixture(scope="module")
def article() -> str:
    return ARTICLE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def ex():
    return example.build()


def test_embeddings_are_the_articles(article, ex):
    section = article[article.index("1. Word Embedding") : article.index("These vectors capture")]
    pairs = re.findall(r'"([^"]+)" -> \[([-0-9., ]+)\]', section)
    assert [t for t, _ in pairs] == example.TOKENS
    np.testing.assert_array_equal(ex.embedding, [[float(x) for x in v.split(",")] for _, v in pairs])


def test_positional_vectors_and_sums_are_the_articles(article, ex):
    section = article[article.index("2. Positional Encoding") : article.index("3. Multi-Head Attention")]
    printed = _vectors(section)
    # Location1, Position 2, then "I" -> [0.1+0.01, ...] -> [0.11, ...] and "and" -> ... -> [0.55, ...]
    # (the bracketed sums with "+" are not plain numbers and are skipped by _vectors)
    assert len(printed) == 4
    np.testing.assert_array_equal(ex.positional[:2], printed[:2])
    np.testing.assert_array_equal(ex.encoded[:2], printed[2:])
    np.testing.assert_array_equal(ex.encoded, np.round(ex.embedding * 1.1, 12))  # PE = E / 10 throughout


def test_head_products_and_concatenation_are_the_articles(article, ex):
    section = article[article.index("The weighted summing results") : article.index("This multi-head attention")]
    printed = _vectors(section)
    # each head prints [0.11*0.3, ...] (no brackets of numbers) then its product; the last is the concatenation
    products = [v for v in printed if len(v) == 4]
    np.testing.assert_array_equal(ex.article_products, products)
    np.testing.assert_array_equal(ex.article_concat, printed[-1])
    assert len(printed[-1]) == 12
    weights = re.findall(r"Head (\d): \"I\" -> ([0-9.]+), \"and\" -> ([0-9.]+), \"Tablemate\" -> ([0-9.]+)", article)
    np.testing.assert_array_equal(example.ARTICLE_WEIGHTS[:, :3], [[float(w) for w in ws[1:]] for ws in weights])


def test_real_attention_is_a_softmax_over_all_tokens_and_a_weighted_sum(ex):
    p = ex.real.params
    hs = ex.config.head_dim
    assert ex.real.output.shape == (10, 12)  # three heads of four, concatenated like the article's 12 numbers
    for h in range(3):
        cols = slice(h * hs, (h + 1) * hs)
        y, att = attention64(ex.encoded @ p["w_q"][:, cols], ex.encoded @ p["w_k"][:, cols],
                             ex.encoded @ p["w_v"][:, cols], causal=False)
        np.testing.assert_allclose(ex.real.weights[h], att, atol=1e-6)
        np.testing.assert_allclose(ex.real.output[:, cols], y, atol=1e-5)
        assert (ex.real.weights[h, 0] > 0).all() and ex.real.weights[h, 0].sum() == pytest.approx(1.0, abs=1e-6)


def test_the_articles_weights_as_a_real_weighted_sum(ex):
    for h, w in enumerate(example.ARTICLE_WEIGHTS):
        expected = sum(w[j] * ex.encoded[j] for j in range(4))
        np.testing.assert_allclose(ex.article_weighted_sums[h], expected, atol=1e-12)
    assert example.ARTICLE_WEIGHTS.sum(axis=1) == pytest.approx([1.0, 1.0, 1.0])


def test_record_carries_every_number(ex):
    rec = example.record(ex)
    assert rec["tokens"] == example.TOKENS
    assert [h["product"].tolist() for h in rec["article"]["heads"]] == ex.article_products.tolist()
    np.testing.assert_array_equal(rec["real"]["concatenation"], ex.real.output[0])
    assert len(rec["notes"]) == 4
