"""Issue 24, decoder family: tiny random Qwen3Model (GQA: 4 query heads, 2 key/value heads, head_dim 16, q/k norm),
Qwen2Model (q/k/v bias) and LlamaModel, with a byte-level BPE tokenizer trained here that appends <|endoftext|> (a
TemplateProcessing post-processor, as Qwen3-Embedding's tokenizer.json) and pads on the left (its
tokenizer_config.json), saved as sentence-transformers folders (Transformer, Pooling lasttoken, Normalize, the query
prompt); against sentence-transformers' encode / encode_query / encode_document and transformers' own hidden states
and attention weights layer by layer; numpy and torch, multi-head and flash; the CLI end to end."""

import json
import os
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from layerwise import against_transformers
from test_cli import invoke
from test_families import check_similarity_cli, embed_lines, one_line, ours, same, search_scores
from test_families import check as check_family
from test_html import Opened, browser  # noqa: F401  (browser: test_html's Chromium fixture, used here by name)

torch = pytest.importorskip("torch")
st = pytest.importorskip("sentence_transformers")

ROOT = Path(__file__).resolve().parents[1]
MAX = 24  # max_seq_length
EOS = "<|endoftext|>"
PROMPTS = {"query": "Instruct: find\nQuery:", "document": ""}
TEXTS = ["A man is eating food.", "x", "The quick brown fox jumps over the lazy dog " * 8,  # cut at MAX tokens
         "Two words", "A longer sentence about cats and dogs, with some punctuation; and numbers 1 2 3.", ""]
KINDS = ("qwen3", "qwen2", "llama")
OPTIONS = [dict(backend=b, attention=a) for b in ("numpy", "torch") for a in ("multi-head", "flash")]
# test_families.check on the decoder's texts: texts[2] cut at MAX (<|endoftext|> kept last), texts[1] not
check = partial(check_family, texts=TEXTS, uncut=1)


@pytest.fixture(scope="module")
def tok():
    """Byte-level BPE trained on english.txt, <|endoftext|> id 0 appended to every text (Qwen3-Embedding's template)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    lines = (ROOT / "sample_inputs" / "english.txt").read_text(encoding="utf-8").splitlines()
    t = Tokenizer(models.BPE())
    t.normalizer = normalizers.NFC()
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    t.decoder = decoders.ByteLevel()
    t.train_from_iterator(lines, trainers.BpeTrainer(vocab_size=400, special_tokens=[EOS],
                                                     initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    assert t.token_to_id(EOS) == 0
    t.post_processor = processors.TemplateProcessing(single=f"$A {EOS}", special_tokens=[(EOS, 0)])
    return t


def randomize(model, seed: int) -> None:
    """Every weight drawn again, larger than transformers' init (std 0.02 leaves attention near uniform): linear
    weights ~ N(0, 1/fan_in), embeddings ~ N(0, 1), norm gains ~ 1 + N(0, 0.2), biases ~ N(0, 0.1)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=g)
            p.copy_(1 + 0.2 * r if "norm" in name else r * 0.1 if name.endswith("bias") else
                    r if "embed" in name else r / p.shape[-1] ** 0.5)


def build(tok, out, kind="qwen3", seed=0, prompts=PROMPTS):
    """A sentence-transformers folder: Transformer (random Qwen3Model / Qwen2Model / LlamaModel: hidden 48, 2 layers,
    4 query heads, 2 key/value heads, head_dim 16), Pooling lasttoken, Normalize, prompts; the tokenizer pads on the
    left -> (folder, sentence-transformers' model, the HF folder)."""
    from sentence_transformers import SentenceTransformer, models
    from transformers import (LlamaConfig, LlamaModel, PreTrainedTokenizerFast, Qwen2Config, Qwen2Model, Qwen3Config,
                              Qwen3Model)

    Config, Model = {"qwen3": (Qwen3Config, Qwen3Model), "qwen2": (Qwen2Config, Qwen2Model),
                     "llama": (LlamaConfig, LlamaModel)}[kind]
    config = Config(vocab_size=tok.get_vocab_size(), hidden_size=48, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, head_dim=16, intermediate_size=37, max_position_embeddings=64,
                    rope_theta=100.0, rms_norm_eps=1e-6, pad_token_id=0, bos_token_id=0, eos_token_id=0)
    if kind == "qwen2":
        config.hidden_size = 64  # Qwen2: head_dim = hidden_size / heads
    model = Model(config)
    randomize(model, seed)
    hf = out / "hf"
    model.save_pretrained(hf)
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=EOS, padding_side="left",
                            model_max_length=MAX).save_pretrained(hf)
    d = config.hidden_size
    mods = [models.Transformer(str(hf), max_seq_length=MAX), models.Pooling(d, pooling_mode="lasttoken"),
            models.Normalize()]
    st_model = SentenceTransformer(modules=mods, prompts=prompts, device="cpu")
    assert st_model.tokenizer.padding_side == "left"
    st_model.save(str(out / "st"))
    return out / "st", st_model, hf


@pytest.fixture(scope="module")
def folders(tok, tmp_path_factory):
    """One folder of each kind (fixed seed), built once for the module: {kind: (folder, model, hf)}."""
    return {kind: build(tok, tmp_path_factory.mktemp(kind), kind) for kind in KINDS}


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: f"{o['backend']}-{o['attention']}")
@pytest.mark.parametrize("kind", KINDS)
def test_against_sentence_transformers(folders, kind, options):
    folder, model, _ = folders[kind]
    check(folder, model, what=f"{kind} {options}", **options)
    c = ours(folder).model.folder.config
    assert (c.model_type, c.n_head, c.n_kv_head, c.head_size) == (kind, 4, 2, 16)


@pytest.mark.parametrize("task", ["query", "document"])
def test_query_and_document_prompts(folders, task):
    """encode_query prepends "Instruct: find\\nQuery:", encode_document the empty prompt: the same as encode."""
    folder, model, _ = folders["qwen3"]
    v = check(folder, model, task, what=task)
    plain = model.encode(TEXTS)
    assert np.allclose(v, plain, atol=1e-6) == (task == "document")
    assert ours(folder, task).record()["prompt"] == PROMPTS[task]


def test_fresh_seed(tok, tmp_path):
    seed = int.from_bytes(os.urandom(4), "little")
    kind = KINDS[seed % len(KINDS)]
    folder, model, _ = build(tok, tmp_path, kind, seed=seed)
    for task in (None, "query"):
        check(folder, model, task, what=f"{kind} seed {seed} {task}", **OPTIONS[seed % len(OPTIONS)])


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("kind", KINDS)
def test_layer_by_layer_against_transformers(tok, tmp_path, kind, backend):
    """Every layer's output (hidden_states; the last after the final RMSNorm) and every head's weights (eager
    attentions: causal, the upper triangle zero) equal transformers' own, on a padded batch, fresh seed."""
    from vectorize_cli.model.bert import load
    from vectorize_cli.model.decoder import forward

    seed = int.from_bytes(os.urandom(4), "little")
    folder, _, hf = build(tok, tmp_path, kind, seed=seed)
    mine, out, real = against_transformers(forward, load(str(folder)), hf, TEXTS, backend, f"{kind} seed {seed}",
                                           causal=True)
    assert len(mine) == 3
    np.testing.assert_allclose(mine[-1][real], out.last_hidden_state.numpy()[real], rtol=1e-5, atol=1e-5)


def test_trace_stages_causal_and_grouped_heads(folders):
    """The trace: the embeddings, the rotary angles t θ_i as the positional stage, causal weights whose query heads
    are labelled with the key/value head they share, the vector sentence-transformers gives the text."""
    folder, model, _ = folders["qwen3"]
    t = ours(folder).trace(TEXTS[0])
    T = len(t.tokens)
    assert t.tokens[-1] == EOS and [s.key for s in t.stages] == ["embedded", "rotary_angles"]
    angles = t.stage("rotary_angles")
    assert angles.shape == (T, 8)  # (T, hs/2)
    theta = 100.0 ** (-np.arange(0, 16, 2) / 16)  # float64, independently of the code
    np.testing.assert_allclose(angles, np.arange(T)[:, None] * theta[None, :], rtol=1e-6, atol=1e-6)
    for b in t.blocks:
        assert b.weights.shape == (4, T, T) and not np.triu(b.weights, 1).any()
        np.testing.assert_allclose(b.weights.sum(-1), 1, rtol=1e-5)
    assert [t.model.head_label(h) for h in (1, 2, 3, 4)] == ["head 1 (kv 1)", "head 2 (kv 1)", "head 3 (kv 2)",
                                                             "head 4 (kv 2)"]
    same(np.array([t.sentence_vector], dtype=np.float32), model.encode(TEXTS[:1]))
    q = ours(folder, "query").trace(TEXTS[0])
    same(np.array([q.sentence_vector], dtype=np.float32), model.encode_query(TEXTS[:1]))


def test_cli_end_to_end(folders, tmp_path):
    """run (table, json against the schema, jsonl, html, svg), similarity, then embed and search: the documents with
    the document prompt, the query with the query prompt, the scores sentence-transformers' own."""
    pytest.importorskip("pyarrow")
    from test_model_cli import validate

    from vectorize_cli.dataset.reader import open_dataset

    folder, model, _ = folders["qwen3"]
    r = invoke("run", TEXTS[0], "--model", str(folder), "--layer", "2")
    assert r.exit_code == 0, r.stderr
    for words in ("Rotary positions", "head 3 (kv 2) of 4", "sharing 2 key/value heads", "causal",
                  "the upper triangle is 0", EOS):
        assert words in r.stdout, words
    r = invoke("run", TEXTS[0], "--model", str(folder), "-F", "json")
    assert r.exit_code == 0, r.stderr
    rec = json.loads(r.stdout)
    validate(rec, "model-json-schema.json")
    assert rec["tokens"][-1] == EOS and (rec["model"]["n_kv_head"], rec["model"]["causal"]) == (2, True)
    assert "position_embedding" not in rec and np.array(rec["rotary_angles"]).shape == (len(rec["tokens"]), 8)
    assert not np.triu(np.array(rec["layers"][0]["weights"]), 1).any()  # causal: the upper triangle 0
    same(np.array([rec["sentence_vector"]], dtype=np.float32), model.encode(TEXTS[:1]))
    (tmp_path / "two.txt").write_text("\n".join(TEXTS[:2]) + "\n")
    r = invoke("run", "-f", str(tmp_path / "two.txt"), "--model", str(folder), "-F", "jsonl", "--attention", "flash")
    assert r.exit_code == 0, r.stderr
    for line in r.stdout.splitlines():
        validate(json.loads(line), "model-json-schema.json")
    from vectorize_cli.views.json import model_record

    empty = ours(folder).trace("")  # the CLI refuses an empty text; the library reads it as <|endoftext|> alone
    assert empty.tokens == [EOS]
    validate(json.loads(json.dumps(model_record(empty), default=lambda a: a.tolist())), "model-json-schema.json")
    page = tmp_path / "page.html"
    r = invoke("run", TEXTS[0], "--model", str(folder), "-F", "html", "-o", str(page))
    assert r.exit_code == 0 and "rotary_angles" in page.read_text() and "headLabel" in page.read_text(), r.stderr
    r = invoke("run", TEXTS[0], "--model", str(folder), "-F", "svg", "-o", str(tmp_path / "f.svg"))
    assert r.exit_code == 0 and "head 4 (kv 2)" in (tmp_path / "f.svg").read_text(), r.stderr
    check_similarity_cli(folder, model, *TEXTS[:2], tmp_path)
    docs = [t for t in TEXTS if t]
    embed_lines(folder, docs, tmp_path)
    meta = open_dataset(tmp_path / "ds").meta
    assert (meta["prompt_name"], meta["prompt"]) == ("document", "")
    query = "a man eating"
    got = search_scores(tmp_path / "ds", query, len(docs))
    d, q = model.encode_document(docs), model.encode_query([query])[0]
    assert np.allclose(got, d @ q, atol=1e-5), (got, d @ q)
    plain = model.encode([query])[0]  # without the query prompt the scores differ
    assert not np.allclose(d @ plain, d @ q, atol=1e-5)


def test_what_it_cannot_run_is_refused_by_name(folders, tmp_path):
    """Each option the forward pass does not compute: one line on stderr naming it, exit 1, never a traceback."""
    from conftest import link_tree

    from vectorize_cli.model.bert import load

    folder = link_tree(folders["qwen3"][0], tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    for change, words in (
            ({"use_sliding_window": True, "sliding_window": 4}, ("sliding window attention", "not supported")),
            ({"layer_types": ["full_attention", "sliding_attention"]}, ("sliding window attention",)),
            ({"rope_scaling": {"rope_type": "yarn", "factor": 4.0}}, ("rope_scaling 'yarn' is not supported",)),
            ({"rope_parameters": {"rope_type": "linear", "rope_theta": 100.0, "factor": 2.0}},
             ("rope_scaling 'linear' is not supported",)),
            ({"hidden_act": "gelu"}, ("hidden_act 'gelu' is not supported", "silu")),
            ({"mlp_bias": True}, ("mlp_bias",)),
            ({"num_key_value_heads": 3}, ("num_attention_heads 4 is not a multiple of num_key_value_heads 3",)),
            ({"head_dim": 15}, ("head_dim 15 is odd",)),
            ({"head_dim": 8}, ("q_proj.weight has shape",)),
            ({"model_type": "gpt2"}, ("model_type 'gpt2' is not supported", "qwen3, qwen2, llama"))):
        (folder / "config.json").unlink()  # linked: never written through
        (folder / "config.json").write_text(json.dumps({**config, **change}))
        load.cache_clear()
        r = invoke("run", "A text.", "--model", str(folder), "-F", "npy", "-o", str(tmp_path / "o.npy"))
        one_line(r, 1, "config.json" if "shape" not in words[0] else "model.safetensors", *words)


def test_weights_inside_a_causal_lm(folders, tmp_path):
    """A Qwen3ForCausalLM-style file (model.layers..., model.norm, lm_head) reads as the base model."""
    from safetensors.numpy import load_file, save_file

    from conftest import link_tree
    from vectorize_cli.model.bert import load

    src, model, _ = folders["qwen3"]
    folder = link_tree(src, tmp_path / "m")
    path = folder / "model.safetensors"
    tensors = load_file(path)
    path.unlink()
    save_file({**{f"model.{k}": v for k, v in tensors.items()}, "lm_head.weight": tensors["embed_tokens.weight"]},
              path)
    load.cache_clear()
    same(ours(folder).encode(TEXTS).vectors, model.encode(TEXTS), "model. prefix")


def test_page_labels_grouped_heads_and_says_causal(folders, tmp_path, browser):
    """The HTML page of a decoder trace, in Chromium: opens clean, says the heads share key/value heads and attend
    causally, and labels the model view's heads with the key/value head each shares."""
    from vectorize_cli.views.html import page

    folder, _, _ = folders["qwen3"]
    t = ours(folder).trace(TEXTS[0])
    p = Opened(browser, page([t], title="qwen3"), tmp_path)
    note = p.page.inner_text("section[data-trace='0'] p.note")
    assert "sharing 2 key/value heads" in note and "causal" in note, note
    labels = p.page.eval_on_selector_all("section[data-trace='0'] .grid span.hdr", "els => els.map(e => e.textContent)")
    assert labels[:4] == ["head 1 (kv 1)", "head 2 (kv 1)", "head 3 (kv 2)", "head 4 (kv 2)"], labels
    p.clean()


def allocated(model, B, T, attention, rng) -> int:
    """Bytes numpy allocates at most (tracemalloc's peak) while model/decoder.py runs a batch of B random texts of
    T tokens as encode runs it (only the last layer's output kept)."""
    import tracemalloc

    from vectorize_cli.backend import NUMPY
    from vectorize_cli.model.decoder import forward

    ids = rng.integers(1, model.folder.config.vocab_size, (B, T))
    tracemalloc.start()
    try:
        forward(model, NUMPY, ids, 0 * ids, np.zeros((B, T), dtype=bool), attention, every_layer=False)  # encode's
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_max_memory_sizes_a_decoder_batch(folders, tmp_path):
    """--max-memory sizes a decoder's batch as model/decoder.py holds it for encode (the last layer's output and,
    multi-head, its weights kept; q/k/v heads-first and GQA's keys and values repeated; the SwiGLU's 2 d_ff): the estimate is at
    least what numpy allocates (tracemalloc) on fixed and fresh shapes, so a limit a byte under what the batch
    allocates is refused with one line before any text runs, and a limit with room runs. Batches of 4 texts and 8
    tokens or more: below that Python's own bytes a numpy array (budget.py's floors leave them out) outweigh the
    arrays'. Not over twice the peak either, so that the runs that fit are not refused."""
    from vectorize_cli.model import budget
    from vectorize_cli.model.bert import load

    folder = folders["qwen3"][0]
    model = load(str(folder))
    rng = np.random.default_rng()
    shapes = [(8, MAX, "multi-head"), (8, MAX, "flash"), (4, 8, "multi-head"), (40, 9, "flash")]
    shapes += [(int(rng.integers(4, 40)), int(rng.integers(8, MAX + 1)), str(rng.choice(["multi-head", "flash"])))]
    from vectorize_cli.backend import NUMPY
    from vectorize_cli.model.decoder import forward

    ids = rng.integers(1, model.folder.config.vocab_size, (3, 9))
    last, every = (forward(model, NUMPY, ids, 0 * ids, np.zeros(ids.shape, dtype=bool), "explicit", every_layer=e)[1]
                   for e in (False, True))
    assert len(last) == 1 and len(every) == model.folder.config.n_layer
    np.testing.assert_array_equal(last[0][0], every[-1][0])
    np.testing.assert_array_equal(last[0][1], every[-1][1])  # encode's: the last layer after the final norm
    for B, T, variant in shapes:
        peak = allocated(model, B, T, {"multi-head": "explicit", "flash": "tiled"}[variant], rng)
        assert peak <= budget.batch(model.folder, B, T, variant) <= 2 * peak, (B, T, variant, peak)
    texts = [TEXTS[2]] * 8  # each cut at MAX tokens: one batch of 8 x MAX
    (tmp_path / "docs.txt").write_text("\n".join(texts) + "\n")
    base = model.nbytes + budget._tokens(model.folder, [len(t) for t in texts])  # the weights, the tokens
    peak = allocated(model, 8, MAX, "explicit", rng)

    def vectors(limit: int):
        return invoke("run", "-f", str(tmp_path / "docs.txt"), "--model", str(folder), "-F", "npy", "-o",
                      str(tmp_path / "v.npy"), "--max-memory", str(limit))

    one_line(vectors(base + peak - 1), 1, f"a batch of 8 at {MAX} tokens", "--max-memory")
    r = vectors(base + 2 * budget.batch(model.folder, 8, MAX, "multi-head"))
    assert r.exit_code == 0, r.stderr
    same(np.load(tmp_path / "v.npy"), folders["qwen3"][1].encode(texts))


@pytest.fixture
def compiled_on(monkeypatch):
    """Every compiled step, whatever the run's size (VECTORIZE_COMPILED=1)."""
    pytest.importorskip("numba")
    monkeypatch.setenv("VECTORIZE_COMPILED", "1")


@pytest.mark.parametrize("kind", KINDS)
def test_compiled_steps_against_sentence_transformers_and_transformers(folders, tok, tmp_path, kind, compiled_on,
                                                                       monkeypatch):
    """VECTORIZE_COMPILED=1: SwiGLU, residual + RMSNorm and the causal softmax run compiled; against
    sentence-transformers as check() does (each text alone, batches of one), layer by layer against transformers
    on a fresh seed (1e-5, the causal weights too); the trace says what ran compiled, and with
    VECTORIZE_COMPILED=0 it says nothing of them."""
    from vectorize_cli import compiled, compiled_decoder
    from vectorize_cli.model.bert import load
    from vectorize_cli.model.decoder import forward

    folder, model, _ = folders[kind]
    check(folder, model, what=f"{kind} compiled", backend="numpy", attention="multi-head")
    seed = int.from_bytes(os.urandom(4), "little")
    fresh, _, hf = build(tok, tmp_path, kind, seed=seed)

    def forward_compiled(m, backend, *args):
        return forward(m, compiled.for_run(backend, 1), *args)  # the run's choice: every step (always)

    against_transformers(forward_compiled, load(str(fresh)), hf, TEXTS, "numpy", f"{kind} compiled seed {seed}",
                         causal=True)
    notes = ours(folder).trace(TEXTS[0]).blocks[0].ran.notes
    assert compiled_decoder.DECODER_NOTE in notes and compiled.SOFTMAX_NOTE in notes, notes
    monkeypatch.setenv("VECTORIZE_COMPILED", "0")
    notes = ours(folder).trace(TEXTS[0]).blocks[0].ran.notes
    assert compiled_decoder.DECODER_NOTE not in notes and compiled.SOFTMAX_NOTE not in notes, notes


@pytest.mark.parametrize("blas", ["numpy", "mkl"])
@pytest.mark.parametrize("kind", KINDS)
def test_either_librarys_products_against_sentence_transformers(folders, kind, blas, monkeypatch):
    """Every product by numpy's BLAS, or by Intel MKL's sgemm (sgemm.py, where installed): sentence-transformers'
    vectors either way (check: padding, each text alone, batches of one); the trace notes MKL where it ran."""
    from test_sgemm import NO_MKL
    from vectorize_cli import sgemm

    if blas == "mkl" and sgemm.library() is None:
        pytest.skip(NO_MKL)
    monkeypatch.setenv("VECTORIZE_BLAS", blas)
    folder, model, _ = folders[kind]
    check(folder, model, what=f"{kind} {blas}")
    assert (sgemm.NOTE in ours(folder).trace(TEXTS[0]).blocks[0].ran.notes) == (blas == "mkl")
