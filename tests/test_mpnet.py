"""Issue 24, MPNet family: tiny random MPNetModel (a WordPiece tokenizer trained here on sample_inputs/english.txt,
<s> ... </s> as MPNet's own), saved as sentence-transformers folders, against sentence-transformers' encode (padding
of very different lengths, max length, empty after tokenizing, a batch of one, batch invariance) and against
transformers' own hidden states and attention weights layer by layer; numpy and torch, multi-head and flash; the
relative position bias (buckets, the bias argument of every attention function) against independent float64
references; every view and the CLI end to end."""

import json
import math
import os

import numpy as np
import pytest

from layerwise import against_transformers
from test_cli import invoke
from test_families import check, check_prefixed, check_search_cli, check_similarity_cli, one_line, ours, same
from test_html import browser  # noqa: F401  (the fixture: a Chromium, or the browser test skips)
from test_roberta import ROOT

torch = pytest.importorskip("torch")
st = pytest.importorskip("sentence_transformers")

MAX = 24  # max_seq_length; the position table holds exactly 2+MAX rows (padding index 1): max length reads the last
LONG = 150  # a second model's max_seq_length: distances past the 128 that share the last bucket
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # ids 0..4: <pad> 1, MPNet's padding index
TEXTS = ["A man is eating food.", "x", "The quick brown fox jumps over the lazy dog " * 8,  # cut at MAX tokens
         "Two words", " \t ",  # nothing but <s> </s> after tokenizing
         "A longer sentence about cats and dogs, with some punctuation; and numbers 1 2 3."]
CASES = [("numpy", "multi-head"), ("numpy", "flash"), ("torch", "multi-head"), ("torch", "flash")]


def train_wordpiece():
    """MPNet's tokenizer layout: BERT's normaliser (lower case) and pre-tokenizer, WordPiece, <s> $A </s>."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    lines = (ROOT / "sample_inputs" / "english.txt").read_text(encoding="utf-8").splitlines()
    tok = Tokenizer(models.WordPiece(unk_token="<unk>"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(lines, trainers.WordPieceTrainer(vocab_size=400, special_tokens=SPECIALS))
    assert [tok.token_to_id(s) for s in SPECIALS] == list(range(5))
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    return tok


@pytest.fixture(scope="module")
def wordpiece():
    return train_wordpiece()


def build(tok, out, mode="mean", seed=0, max_len=MAX, bias_std=1.0, d=32, layers=2, heads=4, d_ff=37):
    """A sentence-transformers folder: Transformer (random MPNetModel, hidden d, `layers` layers, `heads` heads; its
    relative attention bias drawn with std bias_std, so that it shapes the weights), Pooling(mode), Normalize
    -> (folder, sentence-transformers' model, the HF folder)."""
    from sentence_transformers import SentenceTransformer, models
    from transformers import MPNetConfig, MPNetModel, PreTrainedTokenizerFast

    torch.manual_seed(seed)
    config = MPNetConfig(vocab_size=tok.get_vocab_size(), hidden_size=d, num_hidden_layers=layers,
                         num_attention_heads=heads, intermediate_size=d_ff, max_position_embeddings=max_len + 2, relative_attention_num_buckets=32,
                         pad_token_id=1, bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5)
    hf = out / "hf"
    m = MPNetModel(config)
    with torch.no_grad():
        m.encoder.relative_attention_bias.weight.normal_(0.0, bias_std)
    m.save_pretrained(hf)
    PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                            pad_token="<pad>", mask_token="<mask>", cls_token="<s>", sep_token="</s>",
                            model_max_length=max_len, model_input_names=["input_ids", "attention_mask"]
                            ).save_pretrained(hf)
    mods = [models.Transformer(str(hf), max_seq_length=max_len), models.Pooling(d, pooling_mode=mode),
            models.Normalize()]
    model = SentenceTransformer(modules=mods, device="cpu")
    model.save(str(out / "st"))
    return out / "st", model, hf


def bucket_reference(r: int, num_buckets: int = 32, max_distance: int = 128) -> int:
    """transformers' MPNetEncoder.relative_position_bucket for one r = j - i, rewritten in Python floats (float64)."""
    half = num_buckets // 2
    exact = half // 2
    n = abs(r)
    if n < exact:
        return half * (r > 0) + n
    return half * (r > 0) + min(exact + int(math.log(n / exact) / math.log(max_distance / exact) * (half - exact)),
                                half - 1)


@pytest.mark.parametrize("seed", [0, int.from_bytes(os.urandom(4), "little")])
def test_buckets_against_float64_and_transformers(seed):
    from transformers.models.mpnet.modeling_mpnet import MPNetEncoder

    from vectorize_cli.model.relative_bias import bucket

    rng = np.random.default_rng(seed)
    i, j = rng.integers(0, 5000, size=(2, 4000))  # random (query, key) pairs: far apart and close
    i[:1000] = rng.integers(0, 300, 1000)
    j[:1000] = i[:1000] + rng.integers(-20, 21, 1000)
    got = bucket(j - i)
    assert got.dtype == np.int64 and got.min() >= 0 and got.max() < 32
    assert got.tolist() == [bucket_reference(int(r)) for r in j - i], f"seed {seed}"
    theirs = MPNetEncoder.relative_position_bucket(torch.from_numpy(j - i)).numpy()
    np.testing.assert_array_equal(got, theirs, err_msg=f"seed {seed}")


def test_bias_table_lookup_against_transformers():
    """B[h, i, j] = E_rel[bucket(j - i), h]: our (H, T, T) from the transposed table, transformers' own
    compute_position_bias (B, H, T, T) from its embedding, for T past max_distance."""
    from transformers import MPNetConfig
    from transformers.models.mpnet.modeling_mpnet import MPNetEncoder

    from vectorize_cli.model.relative_bias import relative_position_bias

    torch.manual_seed(int.from_bytes(os.urandom(4), "little"))
    enc = MPNetEncoder(MPNetConfig(hidden_size=8, num_attention_heads=2, num_hidden_layers=1))
    T = 300
    ref = enc.compute_position_bias(torch.zeros(1, T, 8)).detach().numpy()[0]  # (H, T, T)
    table = enc.relative_attention_bias.weight.detach().numpy().T.copy()  # (H, 32)
    np.testing.assert_array_equal(relative_position_bias(table, T), ref)
    np.testing.assert_array_equal(relative_position_bias(torch.from_numpy(table), T).numpy(), ref)


def reference_attention(q, k, v, bias, key_mask):
    """softmax(q kᵀ / sqrt(hs) + B + M) v in float64, written from the equation."""
    q, k, v, bias = (np.asarray(a, dtype=np.float64) for a in (q, k, v, bias))
    s = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1]) + bias
    s = np.where(key_mask, -np.inf, s)
    e = np.exp(s - s.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)) @ v


@pytest.mark.parametrize("seed", [0, int.from_bytes(os.urandom(4), "little")])
@pytest.mark.parametrize("name,backend", [("explicit", "numpy"), ("explicit", "torch"), ("tiled", "numpy"),
                                          ("sdpa", "torch")])
def test_every_attention_function_adds_the_bias(name, backend, seed):
    """Each function of dispatch.ATTENTION_FUNCTIONS with a bias (H, T, T) and padding, against float64; tiled with
    small tiles (several key tiles per query tile, heads of several sentences grouped in one task)."""
    from vectorize_cli.attention.dispatch import ATTENTION_FUNCTIONS
    from vectorize_cli.backend import NUMPY

    rng = np.random.default_rng(seed)
    B, H, T, hs = 3, 4, 37, 8
    q, k, v = (rng.standard_normal((B, H, T, hs)).astype(np.float32) for _ in range(3))
    bias = (3 * rng.standard_normal((H, T, T))).astype(np.float32)
    n = np.array([T, 5, 20])
    key_mask = (np.arange(T)[None, :] >= n[:, None])[:, None, None, :]  # (B, 1, 1, T)
    ref = reference_attention(q, k, v, bias, key_mask)
    f = ATTENTION_FUNCTIONS[name]
    if backend == "torch":
        from torch.profiler import ProfilerActivity, profile

        t = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            ran = f(t(q), t(k), t(v), key_mask=t(key_mask), bias=t(bias), strict=True)
        if name == "sdpa":  # torch's flash kernel ran, the float mask B + M taken
            assert ran.op == "aten::_scaled_dot_product_flash_attention_for_cpu" and not ran.notes, ran
            assert ran.op in {e.name for e in prof.events()}
        y = ran.y.numpy()
    else:
        ran = f(q, k, v, block_size=4, key_mask=key_mask, bias=bias, backend=NUMPY)
        y = ran.y
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5, err_msg=f"{name} {backend} seed {seed}")
    if ran.att is not None:
        s = q.astype(np.float64) @ np.swapaxes(k, -1, -2) / math.sqrt(hs) + bias
        s = np.where(key_mask, -np.inf, s)
        att = np.exp(s - s.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        np.testing.assert_allclose(np.asarray(ran.att), att, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["mean", "cls"])
@pytest.mark.parametrize("backend,attention", CASES)
def test_against_sentence_transformers(wordpiece, tmp_path, backend, attention, mode):
    folder, model, _ = build(wordpiece, tmp_path, mode)
    check(folder, model, what=f"{mode} {backend} {attention}", texts=TEXTS, backend=backend, attention=attention)
    assert ours(folder).model.folder.config.model_type == "mpnet"


def test_fresh_seed(wordpiece, tmp_path):
    seed = int.from_bytes(os.urandom(4), "little")
    folder, model, _ = build(wordpiece, tmp_path, ("mean", "cls")[seed % 2], seed=seed)
    for backend, attention in CASES:
        check(folder, model, what=f"seed {seed} {backend} {attention}", texts=TEXTS, backend=backend,
              attention=attention)
    odd = ["a <pad> in the text", "<pad>", "</s> <s>"]  # the padding id among real tokens: positions as transformers'
    same(ours(folder).encode(odd).vectors, model.encode(odd), f"seed {seed}, <pad> in the text")


def test_past_the_last_bucket(wordpiece, tmp_path):
    """A model reading LONG tokens: a text at that length has keys more than max_distance (128) away, which share
    the last bucket; against sentence-transformers on every backend and attention."""
    seed = int.from_bytes(os.urandom(4), "little")
    folder, model, _ = build(wordpiece, tmp_path, seed=seed, max_len=LONG)
    texts = ["the cat sat on the mat " * 40, "A man is eating food.", "x"]
    for backend, attention in CASES:
        e = ours(folder, backend=backend, attention=attention).encode(texts)
        assert e.truncated[0] and e.n_tokens[0] == LONG, (e.truncated, e.n_tokens)
        same(e.vectors, model.encode(texts), f"seed {seed} {backend} {attention}")


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_layer_by_layer_against_transformers(wordpiece, tmp_path, backend):
    """Every layer's output (hidden_states) and every head's weights (eager attentions) equal transformers' own,
    on a padded batch: the relative position bias shows in every layer's weights."""
    from vectorize_cli.model.bert import forward, load

    seed = int.from_bytes(os.urandom(4), "little")
    folder, _, hf = build(wordpiece, tmp_path, seed=seed)
    mine, _, _ = against_transformers(forward, load(str(folder)), hf, TEXTS, backend, f"seed {seed}")
    assert len(mine) == 3


def test_trace_shows_the_relative_bias(wordpiece, tmp_path):
    """The trace: no token-type stage (MPNet has none), the absolute positions offset by 1, and the relative
    position bias per head (H, T, T) equal to transformers' compute_position_bias."""
    from transformers import AutoModel

    folder, model, hf = build(wordpiece, tmp_path)
    t = ours(folder).trace(TEXTS[0])
    T = len(t.tokens)
    assert t.tokens[0] == "<s>" and t.tokens[-1] == "</s>"
    titles = {s.key: s.title for s in t.stages}
    assert list(titles) == ["word_embedding", "position_embedding", "embedded", "relative_position_bias"]
    assert "offset by the padding index" in titles["position_embedding"] and "token type" not in titles["embedded"]
    assert "Relative position bias" in titles["relative_position_bias"]
    ref = AutoModel.from_pretrained(hf).encoder
    with torch.no_grad():
        bias = ref.compute_position_bias(torch.zeros(1, T, 32))[0].numpy()  # (H, T, T)
    np.testing.assert_array_equal(t.stage("relative_position_bias"), bias)
    same(np.array([t.sentence_vector], dtype=np.float32), model.encode(TEXTS[:1]))


def test_every_view(wordpiece, tmp_path):
    """table (with and without --head), json (against the schema), html, and a figure, with an MPNet."""
    from test_model_cli import validate

    folder, model, _ = build(wordpiece, tmp_path)
    r = invoke("run", TEXTS[0], "--model", str(folder))
    assert r.exit_code == 0, r.stderr
    assert "Relative position bias" in r.stdout and "head 4 of 4" in r.stdout and "<s>" in r.stdout
    r = invoke("run", TEXTS[0], "--model", str(folder), "--head", "2")
    assert r.exit_code == 0 and "Relative position bias" in r.stdout and "head 2 of 4" in r.stdout, r.stderr
    assert "head 3 of 4" not in r.stdout
    for attention in ("multi-head", "flash"):
        r = invoke("run", TEXTS[0], "--model", str(folder), "-F", "json", "-a", attention)
        assert r.exit_code == 0, r.stderr
        rec = json.loads(r.stdout)
        validate(rec, "model-json-schema.json")
        T = len(rec["tokens"])
        assert np.shape(rec["relative_position_bias"]) == (4, T, T) and "token_type_embedding" not in rec
        same(np.array([rec["sentence_vector"]], dtype=np.float32), model.encode(TEXTS[:1]))
    r = invoke("run", TEXTS[0], "--model", str(folder), "-F", "html", "-o", str(tmp_path / "page.html"))
    assert r.exit_code == 0 and "Relative position bias" in (tmp_path / "page.html").read_text(), r.stderr
    r = invoke("run", TEXTS[0], "--model", str(folder), "-F", "svg", "-o", str(tmp_path / "a.svg"))
    assert r.exit_code == 0 and (tmp_path / "a.svg").read_text().lstrip().startswith("<?xml"), r.stderr


def test_cli_end_to_end(wordpiece, tmp_path):
    pytest.importorskip("pyarrow")
    folder, model, _ = build(wordpiece, tmp_path, "cls")
    check_similarity_cli(folder, model, *TEXTS[:2], tmp_path)
    r = invoke("explain", TEXTS[0], TEXTS[3], "--model", str(folder), "-F", "json")
    assert r.exit_code == 0, r.stderr
    v = model.encode([TEXTS[0], TEXTS[3]])
    assert abs(json.loads(r.stdout)["cosine"] - float(v[0] @ v[1])) < 1e-5
    docs = TEXTS[:2] + TEXTS[3:4] + TEXTS[5:]  # lines of text (a blank line is not a text)
    r = invoke("run", "-", "--model", str(folder), "-F", "npy", "-o", str(tmp_path / "v.npy"), input="\n".join(docs))
    assert r.exit_code == 0, r.stderr
    same(np.load(tmp_path / "v.npy"), model.encode(docs), "run -F npy")
    check_search_cli(folder, model, docs, tmp_path)


def test_weights_under_the_mpnet_prefix(wordpiece, tmp_path):
    """An MPNetForMaskedLM-style file (mpnet.embeddings..., lm_head...) reads as the base model."""
    folder, model, _ = build(wordpiece, tmp_path)
    check_prefixed(folder, model, "mpnet", TEXTS)


def test_refusals_are_one_line(wordpiece, tmp_path):
    """Fewer buckets than MPNet computes, or the bias table missing: exit 1, one line naming the file."""
    from safetensors.numpy import load_file, save_file

    from vectorize_cli.model.bert import load

    folder, _, _ = build(wordpiece, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "relative_attention_num_buckets": 16}))
    load.cache_clear()
    r = invoke("run", "A text.", "--model", str(folder), "-F", "npy", "-o", str(tmp_path / "o.npy"))
    one_line(r, 1, "config.json", "relative_attention_num_buckets 16 is below the 32 buckets")
    (folder / "config.json").write_text(json.dumps(config))
    path = folder / "model.safetensors"
    save_file({k: v for k, v in load_file(path).items() if "relative_attention_bias" not in k}, path)
    load.cache_clear()
    r = invoke("run", "A text.", "--model", str(folder), "-F", "npy", "-o", str(tmp_path / "o.npy"))
    one_line(r, 1, "model.safetensors", "missing tensor 'encoder.relative_attention_bias.weight'")



def test_page_draws_the_bias_per_head(wordpiece, browser, tmp_path):
    """The HTML page in a browser: one heat map per head of the relative position bias (queries x keys), whose
    hover shows the query, the key and the trace's number; no error."""
    from test_html import Opened

    from vectorize_cli.views.html import page

    folder, _, _ = build(wordpiece, tmp_path)
    t = ours(folder).trace(TEXTS[0])
    bias, title = t.stage("relative_position_bias"), t.stages[-1].title
    H, T, _ = bias.shape
    p = Opened(browser, page([t], title="mpnet"), tmp_path)
    captions = p.page.eval_on_selector_all("figure figcaption", "cs => cs.map(c => c.textContent)")
    assert [c for c in captions if c.startswith(title)] == [f"{title}, head {h} of {H}" for h in range(1, H + 1)]
    h = H - 1
    canvas = p.page.locator("figure", has=p.page.locator("figcaption", has_text=f"head {h + 1} of {H}"))
    canvas = canvas.filter(has_text=title[:20]).locator("canvas").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    for r, c in [(0, T - 1), (T - 1, 0), (2, 3)]:
        p.page.mouse.move(box["x"] + (c + 0.5) * box["width"] / T, box["y"] + (r + 0.5) * box["height"] / T)
        first, value = p.page.text_content("#tip").split("\n")
        assert first == f"{t.tokens[r]}  \u2192  {t.tokens[c]}"
        assert float(value) == pytest.approx(float(bias[h, r, c]), rel=1e-3, abs=1e-4)
    p.clean()


def test_compiled_steps_keep_the_bias(wordpiece, tmp_path, monkeypatch):
    """With every compiled step forced on (VECTORIZE_COMPILED=1), the compiled softmax adds the relative bias: against
    sentence-transformers (check()), layer by layer against transformers on a fresh seed (1e-5, every head's
    weights), and the trace says the softmax ran compiled."""
    pytest.importorskip("numba")
    from vectorize_cli import compiled
    from vectorize_cli.model.bert import forward, load

    monkeypatch.setenv("VECTORIZE_COMPILED", "1")
    folder, model, _ = build(wordpiece, tmp_path / "fixed", "mean")
    check(folder, model, what="compiled, multi-head", texts=TEXTS, backend="numpy", attention="multi-head")
    seed = int.from_bytes(os.urandom(4), "little")
    fresh, _, hf = build(wordpiece, tmp_path / "fresh", seed=seed)

    def forward_compiled(m, backend, *args):
        return forward(m, compiled.for_run(backend, 1), *args)  # the run's choice: every step (always)

    against_transformers(forward_compiled, load(str(fresh)), hf, TEXTS, "numpy", f"compiled seed {seed}")
    assert compiled.SOFTMAX_NOTE in ours(folder).trace(TEXTS[0]).blocks[0].ran.notes
