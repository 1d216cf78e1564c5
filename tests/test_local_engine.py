"""The local engine tokenizes the next chunk while the model runs the current one (corpus/local.py): the next
chunk is drawn and its tokens made before this chunk's vectors are handed on, the vectors are those of encoding
each chunk alone, and a bad row in the next chunk does not stop this chunk from being written first."""

import numpy as np
import pytest

from vectorize_cli.config import ModelConfig
from vectorize_cli.corpus import local
from vectorize_cli.dataset.format import Chunk
from vectorize_cli.encoder import Encoder

pytest.importorskip("tokenizers")


def chunk(first: int, texts: list[str]) -> Chunk:
    n = len(texts)
    return Chunk(np.arange(first, first + n), ["in.txt"] * n, np.arange(first + 1, first + n + 1), texts)


def corpus(rng, n_chunks: int) -> list[Chunk]:
    words = "the a cat dog sat on mat ran far quick brown fox river stone light".split()
    out, first = [], 0
    for _ in range(n_chunks):
        texts = [" ".join(rng.choice(words, int(rng.integers(1, 30)))) for _ in range(int(rng.integers(1, 9)))]
        out.append(chunk(first, texts))
        first += len(texts)
    return out


def test_the_next_chunk_is_tokenized_while_this_one_runs(rng):
    encoder = Encoder.open("minilm", ModelConfig(batch_size=int(rng.integers(1, 5))))
    chunks, events = corpus(rng, 4), []

    def drawn():
        for i, c in enumerate(chunks):
            events.append(("drawn", i))
            yield c

    tokenize = encoder.tokenize
    encoder.tokenize = lambda texts: (events.append(("tokenized", len(texts))), tokenize(texts))[1]
    got = []
    for i, e in enumerate(local.embed_chunks(encoder, drawn())):
        events.append(("yielded", i))
        got.append(e)
    for i in range(len(chunks) - 1):  # chunk i+1 drawn and tokenized before chunk i's vectors came out
        assert events.index(("drawn", i + 1)) < events.index(("yielded", i)), events
    assert sum(kind == "tokenized" for kind, _ in events) == len(chunks)  # each chunk tokenized once
    for c, e in zip(chunks, got):  # in order, each as if encoded alone
        assert e.chunk is c
        alone = Encoder.open("minilm", ModelConfig(batch_size=1)).encode(c.texts)
        np.testing.assert_allclose(e.vectors, alone.vectors, rtol=0, atol=2e-6)
        np.testing.assert_array_equal(e.n_tokens, alone.n_tokens)


def test_a_bad_next_chunk_comes_after_this_one(rng):
    encoder = Encoder.open("minilm", ModelConfig())
    first = corpus(rng, 1)[0]

    def rows():
        yield first
        raise ValueError("line 9: not UTF-8")  # what the input reader raises for a bad row

    out = local.embed_chunks(encoder, rows())
    assert next(out).chunk is first  # written before the error is seen
    with pytest.raises(ValueError, match="line 9"):
        next(out)
