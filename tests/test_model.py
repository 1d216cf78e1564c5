"""all-MiniLM-L6-v2 run by vectorize against sentence-transformers on the same folder (the reference
users trust), against Hugging Face's BertModel stage by stage, and against itself across batches,
attention variants and backends."""


import sys
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SAMPLES, link_tree
from vectorize_cli.config import ModelConfig
from vectorize_cli.pipelines.bert import batches, encode, trace

FILES = ["english.txt", "chinese.txt", "long.txt", "punctuation.txt"]
COSINE, DELTA, SAME = 0.99999, 1e-5, 1e-6


def lines(name: str) -> list[str]:
    return [t for t in (SAMPLES / name).read_text(encoding="utf-8").splitlines() if t.strip()]


def assert_matches(ours: np.ndarray, ref: np.ndarray) -> None:
    """Per sentence: cosine >= 0.99999 and max |delta| <= 1e-5."""
    cos = (ours * ref).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(ref, axis=1)
    delta = np.abs(ours - ref).max(axis=1)
    assert cos.min() >= COSINE and delta.max() <= DELTA, (cos.min(), delta.max())


@pytest.mark.parametrize("name", FILES)
def test_sample_inputs_match_sentence_transformers(minilm, reference, name):
    texts = lines(name)
    ours, _ = encode(minilm, texts)
    assert ours.shape == (len(texts), 384) and ours.dtype == np.float32
    assert_matches(ours, reference.encode(texts, batch_size=32))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=80),
                min_size=1, max_size=4))
def test_generated_text_matches_sentence_transformers(minilm, reference, texts):
    ours, _ = encode(minilm, texts)
    assert_matches(ours, reference.encode(texts, batch_size=32))


def test_long_inputs_are_truncated_to_max_seq_length(minilm):
    texts = lines("long.txt")
    assert minilm.folder.max_length == 256  # sentence_bert_config.json, as sentence-transformers reads
    res = trace(minilm, texts[0])
    assert res.truncated and len(res.tokens) == 256 and res.tokens[-1] == "[SEP]"
    _, truncated = encode(minilm, ["short one", *texts])
    assert truncated == [1, 2]


def test_a_sentence_is_the_same_alone_and_in_any_batch(minilm, rng):
    pool = lines("english.txt") + lines("chinese.txt") + lines("punctuation.txt")
    texts = [pool[i] for i in rng.permutation(len(pool))[:14]] + lines("long.txt")  # 3 to 256 tokens
    texts = [texts[i] for i in rng.permutation(len(texts))]
    alone = np.stack([encode(minilm, [t])[0][0] for t in texts])
    for batch_size in (3, 7, 32):
        together, _ = encode(minilm, texts, ModelConfig(batch_size=batch_size))
        assert np.abs(together - alone).max() <= SAME, batch_size  # and in input order
    for variant, backend in [("flash", "numpy"), ("multi-head", "torch"), ("flash", "torch")]:
        if backend == "torch":
            pytest.importorskip("torch")
        one = np.stack([encode(minilm, [t], ModelConfig(variant, backend))[0][0] for t in texts[:6]])
        many, _ = encode(minilm, texts[:6] + lines("long.txt"), ModelConfig(variant, backend, batch_size=4))
        assert np.abs(many[:6] - one).max() <= SAME, (variant, backend)


def test_batches_on_one_core_give_the_same_vectors(minilm, monkeypatch):
    from vectorize_cli import parallel

    texts = lines("english.txt")
    threaded, _ = encode(minilm, texts, ModelConfig(batch_size=4))
    monkeypatch.setattr(parallel, "cores", lambda: 1)
    serial, _ = encode(minilm, texts, ModelConfig(batch_size=4))
    assert np.abs(serial - threaded).max() <= SAME


def test_the_compiled_gelu_changes_no_bit_of_the_vectors(minilm, reference, monkeypatch):
    """From COMPILE_AT tokens encode runs numba's GELU, with its bias, and LayerNorm, with its bias and residual
    (where installed): the vectors are the same bits as numpy's, and still sentence-transformers' (so the
    threshold never changes a number)."""
    pytest.importorskip("numba")
    from vectorize_cli import compiled

    texts = lines("english.txt") + lines("long.txt")
    calls = []
    bias_gelu_ = compiled.Loops.bias_gelu_
    monkeypatch.setattr(compiled.Loops, "bias_gelu_", lambda self, y, b: calls.append(1) or bias_gelu_(self, y, b))
    numpy_gelu, _ = encode(minilm, texts, ModelConfig(batch_size=8))
    assert not calls  # below COMPILE_AT tokens: numpy's chunks ran
    monkeypatch.setattr(compiled, "COMPILE_AT", 1)
    compiled_gelu, _ = encode(minilm, texts, ModelConfig(batch_size=8))
    assert calls  # chosen for the run, and run
    assert np.array_equal(compiled_gelu, numpy_gelu)
    assert_matches(compiled_gelu, reference.encode(texts, batch_size=32))


def test_the_trace_says_where_its_loops_ran_compiled(minilm, monkeypatch):
    """A model's record notes the compiled steps where they ran (VECTORIZE_COMPILED=1), and nothing where numpy's
    passes did: the same layers with the steps between the products compiled (numpy's bits), and the same to
    float32 rounding with the softmax compiled too. (Then the products' note, where MKL computed them: sgemm.py.)"""
    pytest.importorskip("numba")
    from vectorize_cli import compiled, sgemm

    blas = (sgemm.NOTE,) if sgemm.used(sgemm.product("auto")) else ()

    monkeypatch.setenv("VECTORIZE_COMPILED", "1")
    ran = trace(minilm, "A short sentence.")
    with monkeypatch.context() as m:
        m.setattr(compiled, "softmax", lambda backend: None)  # numpy's softmax: its bits are not the loop's
        fused = trace(minilm, "A short sentence.")
    monkeypatch.setenv("VECTORIZE_COMPILED", "0")
    numpy_ran = trace(minilm, "A short sentence.")
    assert all(b.ran.notes == (compiled.SOFTMAX_NOTE, compiled.FUSED_NOTE) + blas for b in ran.blocks)
    assert all(b.ran.notes == (compiled.FUSED_NOTE,) + blas for b in fused.blocks)
    assert all(b.ran.notes == blas for b in numpy_ran.blocks)
    assert all(np.array_equal(a.output, b.output) for a, b in zip(fused.blocks, numpy_ran.blocks))
    for a, b in zip(ran.blocks, numpy_ran.blocks):  # hidden states up to about 10: relative to their scale
        assert np.abs(a.output - b.output).max() <= SAME * np.abs(b.output).max()
    assert all(np.abs(a.weights - b.weights).max() <= SAME for a, b in zip(ran.blocks, numpy_ran.blocks))


BIG = 10**9  # tokens: a run big enough for every loop


@pytest.fixture
def fresh_kernels(monkeypatch):
    """No compiled kernels loaded or tried in this process, nothing said yet; the same again afterwards."""
    pytest.importorskip("numba")
    from vectorize_cli import backend, compiled

    monkeypatch.setattr(backend, "_said", set())
    monkeypatch.setattr(compiled, "_loaded", {})
    yield compiled._loaded.clear
    compiled._loaded.clear()


def numpy_backend():
    from vectorize_cli.backend import resolve

    return resolve("numpy", "cpu", "float32")  # VECTORIZE_COMPILED read now


def test_for_run_falls_back_to_numpy_without_numba_or_when_told(fresh_kernels, monkeypatch, capsys):
    import vectorize_cli
    from vectorize_cli import compiled, compiled_decoder

    monkeypatch.setenv("VECTORIZE_COMPILED", "0")
    assert compiled.for_run(numpy_backend(), BIG).fused == "numpy"
    monkeypatch.delenv("VECTORIZE_COMPILED")
    assert compiled.for_run(resolve_torch_or_skip(), BIG).fused == "numpy"  # another backend: its own kernels
    with monkeypatch.context() as m:
        m.setitem(sys.modules, "numba", None)  # as if not installed: importing it fails
        m.setitem(sys.modules, "vectorize_cli.numba_loops", None)  # nor the loops that import it
        m.delattr(vectorize_cli, "numba_loops", raising=False)
        b = compiled.for_run(numpy_backend(), BIG)
        assert b.fused == "numpy" and compiled.fused(b) is None
        told = replace(b, fused="compiled")  # even where a decoder's loops are asked for, none is tried
        assert compiled_decoder.decoder_fused(told) is None and "decoder" not in compiled._loaded
    assert capsys.readouterr().err == ""  # without numba: numpy, silently
    fresh_kernels()
    b = compiled.for_run(numpy_backend(), BIG)  # numba back
    assert b.fused == "compiled" and compiled.fused(b) is not None
    assert compiled_decoder.decoder_fused(b) is not None


def resolve_torch_or_skip():
    pytest.importorskip("torch")
    from vectorize_cli.backend import resolve

    return resolve("torch", "cpu", "float32")


def test_vectorize_compiled_reads_its_words_and_says_once_what_it_cannot(fresh_kernels, monkeypatch, capsys):
    from vectorize_cli import compiled

    for value, small, big in (("0", False, False), ("off", False, False), ("1", True, True), (" TRUE", True, True),
                              ("", False, True), ("auto", False, True), ("maybe", False, True)):
        monkeypatch.setenv("VECTORIZE_COMPILED", value)
        b = numpy_backend()
        got = [compiled.for_run(b, n).fused == "compiled" for n in (compiled.COMPILE_AT - 1, compiled.COMPILE_AT)]
        assert got == [small, big], value
    monkeypatch.setenv("VECTORIZE_COMPILED", "maybe")
    numpy_backend()  # said once, not on every run
    assert capsys.readouterr().err == ("vectorize: warning: VECTORIZE_COMPILED='maybe' is not 0, 1 or auto (nor "
                                       "false/true, no/yes, off/on); auto: the compiled loops run where the input "
                                       "is big enough\n")


def test_compiled_kernels_that_fail_to_build_are_said_once_and_numpy_runs(fresh_kernels, monkeypatch, capsys, rng):
    from vectorize_cli import compiled
    from vectorize_cli.attention import kernels
    from vectorize_cli.attention.dispatch import tiled

    def broken(dispatchers):
        raise RuntimeError("LLVM said no")

    monkeypatch.setattr(compiled, "checked", broken)  # numba installed but failing: slower, never wrong
    assert compiled.for_run(numpy_backend(), BIG).fused == "numpy" == compiled.for_run(numpy_backend(), BIG).fused
    monkeypatch.setattr(compiled, "COMPILE_AT_SCORES", 0)  # flash asks for them too: not tried again
    q = rng.standard_normal((2, 40, 8)).astype(np.float32)
    a = tiled(q, q, q, block_size=8, backend=numpy_backend())
    assert a.op == "tiled-online-softmax"
    np.testing.assert_allclose(a.y, kernels.explicit_attention(q, q, q)[0],
                               atol=1e-5, rtol=1e-5)  # flash == explicit to float32 rounding, as test_attention.py
    err = capsys.readouterr().err
    assert err == ("vectorize: warning: the compiled kernels could not be built (RuntimeError: LLVM said no); "
                   "numpy computes their formulas instead, more slowly\n")


def test_batches_sort_by_length_and_cover_every_input():
    got = batches([3, 9, 1, 9, 5], 2)
    assert [list(b) for b in got] == [[1, 3], [4, 0], [2]]


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("variant", ["multi-head", "flash"])
def test_variants_and_backends_give_the_same_vectors(minilm, variant, backend):
    if backend == "torch":
        pytest.importorskip("torch")
    texts = lines("english.txt")
    base, _ = encode(minilm, texts)
    ours, _ = encode(minilm, texts, ModelConfig(variant, backend))
    assert np.abs(ours - base).max() <= 2e-6
    res = trace(minilm, texts[1], ModelConfig(variant, backend))
    assert np.abs(res.sentence_vector - base[1]).max() <= 2e-6
    assert (res.blocks[0].weights is None) == (variant == "flash")


def test_every_stage_matches_hugging_face_bert(minilm, minilm_path):
    """Embeddings, each layer's output and each head's weights, against BertModel (eager attention)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    hf = transformers.BertModel.from_pretrained(str(minilm_path), attn_implementation="eager").eval()
    text = "My deskmate and I made an appointment to play games at his house tomorrow."
    res = trace(minilm, text)
    ids = torch.tensor(res.ids[None])
    with torch.no_grad():
        out = hf(input_ids=ids, output_hidden_states=True, output_attentions=True)
    np.testing.assert_allclose(res.stage("word_embedding"), hf.embeddings.word_embeddings.weight[ids[0]].detach().numpy())
    np.testing.assert_allclose(res.stage("embedded"), out.hidden_states[0][0].numpy(), atol=1e-5)
    for layer, h, att in zip(res.blocks, out.hidden_states[1:], out.attentions):
        np.testing.assert_allclose(layer.output, h[0].numpy(), atol=2e-5)
        np.testing.assert_allclose(layer.weights, att[0].numpy(), atol=5e-6)
        np.testing.assert_allclose(layer.weights.sum(-1), 1.0, atol=1e-5)


def test_without_sentence_bert_config_the_model_reads_512_tokens(minilm_path, tmp_path, reference):
    """A folder with no max_seq_length reads the whole position table; nothing past it is indexed."""
    from vectorize_cli.model.bert import load

    link_tree(minilm_path, tmp_path, skip=("sentence_bert_config.json",))  # a symbolic link out of it is refused
    model = load(str(tmp_path))
    assert model.folder.max_length == 512
    texts = lines("long.txt")
    ours, truncated = encode(model, texts)
    assert truncated == [0, 1] and len(trace(model, texts[1]).tokens) == 512
    saved = reference.max_seq_length
    try:
        reference.max_seq_length = 512
        assert_matches(ours, reference.encode(texts))
    finally:
        reference.max_seq_length = saved


def test_max_memory_sizes_a_batch_as_encode_holds_it(minilm):
    """budget.batch is at least what numpy allocates (tracemalloc's peak) while encode's forward runs a batch (one
    layer's weights kept at a time, every_layer=False), and not over twice it (runs that fit are not refused), on
    fixed and fresh shapes, multi-head and flash; and a forward that keeps every layer's weights (a trace's) holds
    more than that estimate at the longest inputs, which is why encode drops them."""
    import tracemalloc

    from vectorize_cli.backend import NUMPY
    from vectorize_cli.model import budget
    from vectorize_cli.model.bert import forward

    rng = np.random.default_rng()

    def peak(B, T, attention, every_layer=False) -> int:
        ids = rng.integers(1000, minilm.folder.config.vocab_size, (B, T))
        tracemalloc.start()
        try:
            forward(minilm, NUMPY, ids, 0 * ids, np.zeros((B, T), dtype=bool), attention, every_layer=every_layer)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    ids = rng.integers(1000, minilm.folder.config.vocab_size, (3, 9))
    last, every = (forward(minilm, NUMPY, ids, 0 * ids, np.zeros(ids.shape, dtype=bool), every_layer=e)[1]
                   for e in (False, True))
    assert len(last) == 1 and len(every) == minilm.folder.config.n_layer
    np.testing.assert_array_equal(last[0][0], every[-1][0])
    np.testing.assert_array_equal(last[0][1], every[-1][1])
    shapes = [(8, 256, "multi-head"), (8, 256, "flash"), (4, 16, "multi-head"), (32, 24, "flash")]
    shapes += [(int(rng.integers(4, 33)), int(rng.integers(16, 257)), str(rng.choice(["multi-head", "flash"])))]
    for B, T, variant in shapes:
        p = peak(B, T, {"multi-head": "explicit", "flash": "tiled"}[variant])
        assert p <= budget.batch(minilm.folder, B, T, variant) <= 2 * p, (B, T, variant, p)
    assert peak(8, 256, "explicit", every_layer=True) > budget.batch(minilm.folder, 8, 256, "multi-head")
    texts = lines("long.txt")[1:] * 8  # one batch of 8 at 256 tokens, as encode runs it (its output rows besides)
    tracemalloc.start()
    try:
        encode(minilm, texts, ModelConfig(batch_size=8))
        whole = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    tokens = budget._tokens(minilm.folder, [len(t) for t in texts])
    assert whole <= tokens + budget.batch(minilm.folder, 8, 256, "multi-head") + 8 * minilm.folder.d * 4, whole


def test_max_memory_runs_fewer_batches_at_once_instead_of_refusing(minilm, monkeypatch):
    """numpy runs a batch per core; where --max-memory leaves room for fewer, fewer run at once (a 16-core
    machine refused 10,000 lines at the default 4 GiB), and only a run without room for one is refused."""
    from vectorize_cli import parallel
    from vectorize_cli.errors import VectorizeError
    from vectorize_cli.model import budget

    folder, lengths = minilm.folder, [2000] * 40  # every text cut at max_length
    held, tokens = minilm.nbytes, budget._tokens(folder, lengths)
    one = budget.batch(folder, 8, folder.max_length, "multi-head")
    fits = lambda k: held + tokens + k * one  # noqa: E731
    assert budget.check_encode(folder, lengths, "multi-head", 8, held, fits(3) + one // 2, workers=16) == 3
    assert budget.check_encode(folder, lengths, "multi-head", 8, held, fits(40), workers=16) == 16
    with pytest.raises(VectorizeError, match="a batch of 8 at 256 tokens"):
        budget.check_encode(folder, lengths, "multi-head", 8, held, fits(1) - 1, workers=16)
    texts = lines("long.txt") * 3
    base, _ = encode(minilm, texts, ModelConfig(batch_size=8))
    monkeypatch.setattr(parallel, "cores", lambda: 16)
    tight, _ = encode(minilm, texts, ModelConfig(batch_size=8, max_memory=fits(2)))
    np.testing.assert_array_equal(tight, base)
