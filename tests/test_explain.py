"""`vectorize explain`: the pair terms recomputed in float64 from sentence-transformers' token outputs and summed
to its cosine, the per-layer cosines from Hugging Face's BertModel, on fixed and fresh random texts and at the
edges (identical texts, one token, the model's maximum length, only special tokens, non-Latin scripts); pooling
that is not linear said so in every format; the toy pipeline; the JSON schema; the table and the page at
256 x 256 tokens; the page in headless Chromium (two 128-token texts: under 2 s, under 5 MB)."""

import json
import re
import struct
import time

import jsonschema
import numpy as np
import pytest
from referencing import Registry, Resource

from conftest import ROOT, SAMPLES, link_tree
from test_cli import invoke
from test_html import Opened, browser  # noqa: F401 (the fixture)
from vectorize_cli.config import Config
from vectorize_cli.explain import explain_pair
from vectorize_cli.pipelines.toy import trace as toy_trace

SCHEMAS = {n: json.loads((ROOT / "docs" / n).read_text()) for n in
           ("explain-json-schema.json", "model-json-schema.json", "json-schema.json")}
REGISTRY = Registry().with_resources((n, Resource.from_contents(s)) for n, s in SCHEMAS.items())
PAIRS = [("A man is eating food.", "A man eats a meal."), ("The cat sat on the mat.", "The sky is blue today."),
         ("我和同桌约好明天在他家玩游戏", "今天天气很好，我们去公园散步吧。"), ("Привет, как дела?", "مرحبا كيف حالك"),
         ("I love it 😀!", "a"), ("\u200b", "Nothing but special tokens on the left.")]
WORDS = "the cat sat on a mat dog ran to house man ate food sky is blue red green tree book day night water".split()


def words(rng, n: int) -> str:
    """n single-token words: n + 2 tokens with [CLS] and [SEP]."""
    return " ".join(rng.choice(WORDS, n))


def validate(rec: dict) -> None:
    jsonschema.Draft202012Validator(SCHEMAS["explain-json-schema.json"], registry=REGISTRY).validate(rec)


@pytest.fixture(scope="module")
def encoder(minilm):
    from vectorize_cli.encoder import Encoder

    return Encoder.open("minilm")


def explained(encoder, a: str, b: str):
    return explain_pair(encoder.trace(a), encoder.trace(b), encoder.encode([a, b]).vectors)


def st_pairs(reference, a: str, b: str) -> tuple[np.ndarray, float, list[list[str]]]:
    """sentence-transformers' token outputs -> the pair terms in float64, its cosine, its tokens."""
    h, g = (reference.encode([t], output_value="token_embeddings")[0].numpy().astype(np.float64) for t in (a, b))
    u, v = h.mean(axis=0), g.mean(axis=0)
    pairs = h @ g.T / (len(h) * len(g) * np.linalg.norm(u) * np.linalg.norm(v))  # (n, m)
    va, vb = reference.encode([a, b], normalize_embeddings=True)
    tokens = [reference.tokenizer.convert_ids_to_tokens(reference.tokenize([t])["input_ids"][0]) for t in (a, b)]
    return pairs, float(np.dot(va, vb)), tokens


def check_against_reference(encoder, reference, a: str, b: str):
    e = explained(encoder, a, b)
    pairs, cos, tokens = st_pairs(reference, a, b)
    assert list(e.tokens) == tokens
    assert e.pairs.shape == pairs.shape and e.method == "exact"
    np.testing.assert_allclose(e.pairs, pairs, rtol=0, atol=1e-6 / pairs.size ** 0.5 + 1e-8)
    assert abs(pairs.sum() - cos) < 1e-5 and abs(e.total - cos) < 1e-5 and abs(e.cosine - cos) < 1e-5
    assert abs(e.delta) < 1e-6 and abs(e.layers[-1][1] - e.cosine) < 1e-6
    np.testing.assert_allclose([s.sum() for s in e.shares], e.total, atol=1e-12)
    return e


@pytest.mark.parametrize("a, b", PAIRS)
def test_pair_terms_from_sentence_transformers_token_outputs(encoder, reference, a, b):
    check_against_reference(encoder, reference, a, b)


def test_fresh_random_texts(encoder, reference, rng):
    lines = (SAMPLES / "sentences-10k.txt").read_text(encoding="utf-8").splitlines()
    scripts = [(0x41, 0x7A), (0x4E00, 0x9FFF), (0x0400, 0x04FF), (0x0600, 0x06FF), (0x1F600, 0x1F64F)]
    for _ in range(3):
        a, b = (lines[i] for i in rng.integers(len(lines), size=2))
        check_against_reference(encoder, reference, a, b)
    lo, hi = scripts[rng.integers(len(scripts))]
    mixed = "".join(chr(c) for c in rng.integers(lo, hi, size=int(rng.integers(1, 40))))
    check_against_reference(encoder, reference, mixed, words(rng, int(rng.integers(1, 60))))


def test_layers_from_transformers_bert_model(encoder, minilm_path, rng):
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    bert = transformers.BertModel.from_pretrained(str(minilm_path)).eval()
    tok = transformers.AutoTokenizer.from_pretrained(str(minilm_path))
    for a, b in [PAIRS[0], PAIRS[2], (words(rng, 30), words(rng, 7))]:
        e = explained(encoder, a, b)
        with torch.no_grad():
            states = [bert(**tok(t, return_tensors="pt"), output_hidden_states=True).hidden_states for t in (a, b)]
        pooled = [[s[0].double().mean(0).numpy() for s in side] for side in states]  # 7 x (d,) per text
        want = [u @ v / np.linalg.norm(u) / np.linalg.norm(v) for u, v in zip(*pooled)]
        assert [n for n, _ in e.layers] == ["embeddings"] + [f"layer {i}" for i in range(1, 7)]
        np.testing.assert_allclose([c for _, c in e.layers], want, atol=1e-5)


def test_edges(encoder, reference, rng):
    same = words(rng, 12)
    e = explained(encoder, same, same)
    assert abs(e.cosine - 1) < 1e-6 and abs(e.total - 1) < 1e-6
    np.testing.assert_allclose(e.pairs, e.pairs.T, atol=1e-12)
    one = explained(encoder, "cat", "dog")
    assert one.tokens == (["[CLS]", "cat", "[SEP]"], ["[CLS]", "dog", "[SEP]"])
    special = explained(encoder, "\x00\u200b", "\u200b")
    assert special.tokens == (["[CLS]", "[SEP]"], ["[CLS]", "[SEP]"]) and abs(special.cosine - 1) < 1e-6
    full = check_against_reference(encoder, reference, words(rng, 254), words(rng, 254))  # exactly 256 tokens
    assert full.pairs.shape == (256, 256) and full.truncated == (False, False)
    cut = check_against_reference(encoder, reference, words(rng, 400), "the cat")
    assert cut.truncated == (True, False) and cut.pairs.shape == (256, 4)


def test_toy_pipeline_split_from_the_run_record(rng):
    a, b = words(rng, 9), words(rng, 4)
    r = invoke("explain", a, b, "-F", "json", "--seed", "3")
    assert r.exit_code == 0, r.stderr
    rec = json.loads(r.stdout)
    validate(rec)
    runs = [json.loads(invoke("run", t, "-F", "json", "--seed", "3").stdout)["attention"][0] for t in (a, b)]
    # the record's numbers are float32 in their shortest form: read back as float32 (as float64 they differ
    # from the values the model computed by up to half a float32 ulp)
    h, g = (np.array(x["output"], dtype=np.float32).astype(np.float64) for x in runs)
    pairs = h @ g.T / (len(h) * len(g) * np.linalg.norm(h.mean(0)) * np.linalg.norm(g.mean(0)))
    np.testing.assert_allclose(rec["pairs"], pairs, rtol=1e-12, atol=1e-15)
    u, v = (np.array(x["sentence_vector"], dtype=np.float32).astype(np.float64) for x in runs)
    assert abs(sum(map(sum, rec["pairs"])) - u @ v / np.linalg.norm(u) / np.linalg.norm(v)) < 1e-6
    assert rec["model"] is None and rec["config"]["pool"] == "mean" and rec["method"] == "exact"
    e = explain_pair(toy_trace("cat", Config()), toy_trace("dog", Config()))  # one token each: one term
    assert e.pairs.shape == (1, 1) and abs(e.pairs[0, 0] - e.cosine) < 1e-6


def test_json_matches_similarity_and_the_schema(minilm):
    a, b = "The cat sat on the mat.", "A long sentence about the weather in the mountains this winter, and snow."
    rec = json.loads(invoke("explain", a, b, "-m", "minilm", "-F", "json", "--top", "5").stdout)
    validate(rec)
    cos = json.loads(invoke("similarity", a, b, "-F", "json").stdout)["cosine"][0][1]
    assert np.float32(rec["cosine"]) == np.float32(cos)  # the same float32: the same vectors and formula
    assert abs(rec["pairs_sum"] - cos) < 1e-6 and rec["pairs_delta"] == rec["pairs_sum"] - rec["cosine"]
    assert len(rec["top_pairs"]) == 5 and rec["top_pairs"][0]["term"] == max(map(max, rec["pairs"]))
    t = rec["top_pairs"][0]
    assert rec["tokens"][0][t["a"]] == t["a_token"] and rec["pairs"][t["a"]][t["b"]] == t["term"]
    assert rec["layers"][0]["name"] == "embeddings" and len(rec["layers"]) == 7


def plain(svg: bytes) -> str:
    return " ".join(re.sub(rb"<[^>]+>", b" ", svg).decode().split())


@pytest.fixture(scope="module")
def folders(minilm_path, tmp_path_factory):
    """minilm's folder with its pooling set to max, and to [CLS]: pooling that is not linear."""
    out = {}
    for pool, flag in (("max", "pooling_mode_max_tokens"), ("first", "pooling_mode_cls_token")):
        d = tmp_path_factory.mktemp(pool)
        link_tree(minilm_path, d)
        cfg = d / "1_Pooling" / "config.json"
        doc = json.loads(cfg.read_text())
        cfg.unlink()  # a link to the package's file: never written through
        cfg.write_text(json.dumps({**{k: False if k.startswith("pooling_mode") else v for k, v in doc.items()},
                                   flag: True}))
        out[pool] = d
    return out


@pytest.mark.parametrize("pool", ["max", "first"])
def test_pooling_that_is_not_linear_is_said_in_every_format(folders, pool, tmp_path):
    st = pytest.importorskip("sentence_transformers")
    a, b = PAIRS[0]
    args = ["explain", a, b, "-m", str(folders[pool])]
    rec = json.loads(invoke(*args, "-F", "json").stdout)
    validate(rec)
    assert rec["pool"] == pool and rec["method"] == "selection" and "not linear" in rec["statement"]
    ref = st.SentenceTransformer(str(folders[pool]), device="cpu").encode([a, b], normalize_embeddings=True)
    assert abs(rec["pairs_sum"] - float(ref[0] @ ref[1])) < 1e-5  # the kept tokens' terms sum to the cosine
    if pool == "first":
        assert np.count_nonzero(rec["pairs"]) == 1 and rec["pairs"][0][0] == rec["pairs_sum"]
    table = invoke(*args).stdout
    assert "not linear" in " ".join(table.split()) and "(selection)" in table
    for fmt in ("html", "svg"):
        out = tmp_path / f"x.{fmt}"
        assert invoke(*args, "-F", fmt, "-o", str(out)).exit_code == 0
        assert "not linear" in (plain(out.read_bytes()) if fmt == "svg" else out.read_text())
    toy = json.loads(invoke("explain", "the cat sat", "a dog ran", "--pool", pool, "-F", "json").stdout)
    assert toy["method"] == "selection" and abs(toy["pairs_sum"] - toy["cosine"]) < 1e-6


def test_table_and_figure_readable_at_256_by_256(minilm, rng, tmp_path):
    a, b = words(rng, 254), words(rng, 254)
    r = invoke("explain", a, b, "-m", "minilm")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert max(map(len, lines)) <= 120 and len(lines) < 160, (max(map(len, lines)), len(lines))
    assert "256 x 256 tokens" in r.stdout and "showing 24 of A's 256 tokens" in r.stdout
    assert "65536 pair terms (exact) sum to" in r.stdout
    png = tmp_path / "x.png"
    assert invoke("explain", a, b, "-m", "minilm", "-F", "png", "-o", str(png)).exit_code == 0
    width, height = struct.unpack(">II", png.read_bytes()[16:24])
    assert width <= 2000 and height <= 1600 and png.stat().st_size < 1_000_000


@pytest.mark.parametrize("args, code, says", [
    (["only one"], 2, "exactly two texts"),
    (["a", "b", "c"], 2, "exactly two texts"),
    (["", "b"], 2, "the text is empty"),
    (["a", "b", "-m", "minilm", "--dim", "4"], 2, "--dim does not apply with --model"),
    (["a", "b", "-m", "/nonexistent/folder"], 1, "/nonexistent/folder"),
    (["a", "b", "-F", "csv"], 2, "csv"),
    (["a", "b", "-a", "additive", "-m", "minilm"], 2, "does not exist in a pretrained BERT"),
])
def test_bad_input_is_one_line(minilm, args, code, says):
    r = invoke("explain", *args)
    assert r.exit_code == code and says in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr


def test_file_stdin_and_output(tmp_path):
    two = "The cat sat.\nThe dog sat.\n"
    want = invoke("explain", "The cat sat.", "The dog sat.", "-F", "json").stdout
    assert invoke("explain", "-", "-F", "json", input=two).stdout == want
    assert invoke("explain", "-f", str(SAMPLES / "pair.txt"), "-F", "json").exit_code == 0
    out = tmp_path / "e.json"
    assert invoke("explain", "-", "-F", "json", "-o", str(out), input=two).exit_code == 0
    assert out.read_text() == want
    r = invoke("explain", "-", "-F", "json", "-o", str(out), input=two)
    assert r.exit_code != 0 and "exists" in r.stderr
    assert invoke("explain", "-", "-F", "json", "-o", str(out), "--force", input=two).exit_code == 0


def test_page_in_chromium_two_128_token_texts(browser, encoder, rng, tmp_path):  # noqa: F811
    from vectorize_cli.views.explain_page import explain_page

    e = explained(encoder, words(rng, 126), words(rng, 126))
    assert e.pairs.shape == (128, 128)
    html = explain_page(e)
    assert len(html) < 5 * 2**20, len(html)
    t0 = time.perf_counter()
    p = Opened(browser, html, tmp_path)
    wall = time.perf_counter() - t0
    assert wall < 2.0 and p.page.evaluate("window.vectorizeRenderMs") < 2000, wall
    shares = p.page.eval_on_selector_all(".tokens .tok", "ts => ts.map(t => Number(t.dataset.share))")
    np.testing.assert_allclose(shares, np.concatenate(e.shares), rtol=1e-12)
    canvas = p.page.locator("figure .heat canvas").first
    box = canvas.bounding_box()  # its 1-pixel border included
    i, j = 5, 77  # hover one cell: its float32 value
    canvas.hover(position={"x": 1 + (j + 0.5) * (box["width"] - 2) / 128, "y": 1 + (i + 0.5) * (box["height"] - 2) / 128})
    tip = p.page.text_content("#tip")
    assert tip.startswith(f"{i} {e.tokens[0][i]}") and f"{j} {e.tokens[1][j]}" in tip
    v = e.pairs[i, j]  # the tip shows 4 significant digits below 1e-3, else 4 decimals
    assert abs(float(tip.split("\n")[-1]) - v) <= (5e-4 * abs(v) if abs(v) < 1e-3 else 5e-5)
    stored = p.page.evaluate("Array.from(mat(DATA.pairs).v)")  # every term the page holds: float32, exactly
    np.testing.assert_array_equal(np.array(stored, dtype=np.float32).reshape(128, 128), e.pairs.astype(np.float32))
    assert p.page.locator("svg.curve circle").count() == 7
    assert e.statement in p.page.text_content("main")
    p.clean()


def test_page_at_256_by_256_tokens(browser, encoder, rng, tmp_path):  # noqa: F811
    from vectorize_cli.views.explain_page import explain_page

    hostile = "<script>alert(1)</script> " + words(rng, 300)
    e = explained(encoder, words(rng, 254), hostile)
    assert e.pairs.shape == (256, 256) and e.truncated == (False, True)
    p = Opened(browser, explain_page(e), tmp_path)
    assert p.page.locator(".tokens .tok").count() == 512
    assert hostile in p.page.eval_on_selector_all(
        ".sentence.text", "ds => ds.map(d => d.textContent)")
    p.clean()


def test_page_states_what_it_shows_for_pooling_that_is_not_linear(browser, tmp_path):  # noqa: F811
    from vectorize_cli.views.explain_page import explain_page

    for pool in ("max", "first"):
        config = Config(pool=pool)
        e = explain_pair(toy_trace("the cat sat", config), toy_trace("a dog ran", config))
        p = Opened(browser, explain_page(e), tmp_path, f"{pool}.html")
        assert e.statement in p.page.text_content("main") and "not linear" in e.statement
        assert p.page.locator(".statement.warn").count() == 1
        p.clean()


def test_search_explain_pairs_are_explains(minilm, tmp_path):
    pytest.importorskip("pyarrow")
    from corpus_fixtures import minilm_meta, write_dataset
    from vectorize_cli.pipelines.bert import encode

    texts = ["A man eats a meal.", "The sky is blue today.", "A cat is sitting on a rug."]
    path = write_dataset(tmp_path / "ds", encode(minilm, texts)[0], "float32", model=minilm_meta(), texts=texts)
    r = invoke("search", "A man is eating food.", "-D", str(path), "-k", "2", "--explain", "-F", "json")
    assert r.exit_code == 0, r.stderr
    hit = json.loads(r.stdout)["hits"][0]
    want = json.loads(invoke("explain", "A man is eating food.", hit["text"], "-m", "minilm", "-F", "json",
                             "--top", "3").stdout)["top_pairs"]
    assert [(p["query_token"], p["hit_token"]) for p in hit["pairs"]] == [(p["a_token"], p["b_token"]) for p in want]
    np.testing.assert_allclose([p["term"] for p in hit["pairs"]], [p["term"] for p in want], atol=1e-6)
    table = invoke("search", "A man is eating food.", "-D", str(path), "-k", "2", "--explain").stdout
    assert "Why: each hit's largest token-pair terms" in table and "eating" in table
