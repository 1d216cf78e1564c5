"""The HTML page, opened in a real headless Chromium (Playwright driving the system's browser): no console
error, no request but the file itself, every token in the drawn SVG, the lines of a focused token carrying
exactly its weights, the rollout shown equal to a float64 recomputation, hostile tokens as text.

Needs `pip install playwright` (in the test extra) and a Chromium: Debian's `apt-get install chromium`
(or VECTORIZE_CHROMIUM=/path/to/chrome); nothing is downloaded. Without them the browser tests skip.
"""

import base64
import json
import os
import re
import shutil
import zlib

import numpy as np
import pytest

from vectorize_cli.attention.rollout import rollout
from vectorize_cli.config import Config
from vectorize_cli.trace import Block, Stage, Trace
from vectorize_cli.views.html import example_page, page, similarity_page
from vectorize_cli.pipelines.bert import trace as model_trace
from vectorize_cli.pipelines.toy import trace as toy_trace

HOSTILE = ["<script>alert(1)</script>", "</script><script>window.pwned=1</script>", "\"quoted' `x`",
           "\u202egnp.exe", "\u05e9\u05dc\u05d5\u05dd", "😀👩‍👩‍👧", "a\x00b", "&amp; <b>bold</b>", "<!--", "{{data}}",
           "<img src=x onerror=window.pwned=2>"]


def chromium_path() -> str | None:
    for p in [os.environ.get("VECTORIZE_CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser"),
              shutil.which("google-chrome")]:
        if p and os.path.exists(p):
            return p
    return None


@pytest.fixture(scope="module")
def browser():
    sync = pytest.importorskip("playwright.sync_api", reason="the browser tests need: pip install playwright")
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium: apt-get install chromium (or set VECTORIZE_CHROMIUM)")
    with sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=path)
        yield b
        b.close()


class Opened:
    """A page opened from file://, with everything it logged and requested."""

    def __init__(self, browser, html: bytes, tmp_path, name="page.html"):
        path = tmp_path / name
        path.write_bytes(html)
        self.url = path.as_uri()
        self.page = browser.new_page(viewport={"width": 1400, "height": 900})
        self.errors, self.requests, self.dialogs = [], [], []
        self.page.on("console", lambda m: m.type in ("error", "warning") and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.goto(self.url)
        self.page.wait_for_selector("body[data-ready='1']", timeout=60_000)

    def clean(self):
        """No console error or warning, no exception, no dialog, no request but the page itself."""
        assert self.errors == [] and self.dialogs == []
        assert self.requests == [self.url]
        assert self.page.evaluate("window.pwned") is None
        self.page.close()

    def tokens(self, side="q", trace=0) -> list[str]:
        return self.page.eval_on_selector_all(f"section[data-trace='{trace}'] .headview text.{side}",
                                              "ts => ts.map(t => t.textContent)")

    def focused_lines(self, trace=0) -> dict[str, list]:
        rows = self.page.eval_on_selector_all(
            f"section[data-trace='{trace}'] line.focus",
            "ls => ls.map(l => [l.dataset.head, +l.dataset.q, +l.dataset.k, +l.dataset.w])")
        out = {}
        for head, q, k, w in rows:
            out.setdefault(head, []).append((q, k, w))
        return out

    def hover(self, i, side="q", trace=0):
        self.page.hover(f"section[data-trace='{trace}'] .headview text.{side}[data-i='{i}']")

    def click(self, i, side="q", trace=0):
        self.page.click(f"section[data-trace='{trace}'] .headview text.{side}[data-i='{i}']")

    def choose(self, what, value, trace=0):
        self.page.select_option(f"section[data-trace='{trace}'] select.pick-{what}", str(value))


def row_of(lines, q, T):
    """The weights a query's lines carry, by key, checked to hold each key once."""
    assert sorted(k for qq, k, _ in lines) == list(range(T)) and {qq for qq, _, _ in lines} == {q}
    return np.array([w for _, _, w in sorted(lines, key=lambda x: x[1])])


def softmax_trace(rng, tokens, H, L=1, layered=False) -> Trace:
    """A trace by hand: random softmax rows, random stages."""
    T = len(tokens)
    blocks = []
    for layer in range(L):
        s = rng.normal(size=(H, T, T)) * 2
        w = np.exp(s - s.max(-1, keepdims=True))
        blocks.append(Block("multi-head", (w / w.sum(-1, keepdims=True)).astype(np.float32),
                            rng.normal(size=(T, 8)).astype(np.float32), layer=layer + 1 if layered else None))
    stages = [Stage("encoded", "Encoded", rng.normal(size=(T, 8)).astype(np.float32))]
    return Trace(" ".join(tokens), tokens, stages, blocks, layered)


def rollout64(layers):
    """Abnar & Zuidema 2020 in float64, written again here: A' = 0.5 mean_h A + 0.5 I, rows renormalised,
    first layer applied first."""
    R = np.eye(layers[0].shape[-1])
    for att in layers:
        A = 0.5 * att.astype(np.float64).mean(0) + 0.5 * np.eye(att.shape[-1])
        R = (A / A.sum(1, keepdims=True)) @ R
    return R


def blob(html: bytes) -> dict:
    """The page's data, read back from its <script type="application/json">."""
    m = re.search(rb'<script type="application/json" id="data">(.*?)</script>', html, re.S)
    return json.loads(m.group(1))


def decode(m: dict, store: str) -> np.ndarray:
    """A matrix of the page, read back: the store is base64 of raw deflate; 16-bit arrays are two planes
    (high bytes, then low bytes); uint16 weights are round(w * 65535)."""
    raw = zlib.decompress(base64.b64decode(store), wbits=-15)
    n, o = int(np.prod(m["shape"])), m["offset"]
    if m["dtype"] == "f32":
        return np.frombuffer(raw[o: o + 4 * n], dtype="<f4").reshape(m["shape"]).astype(np.float64)
    hi, lo = np.frombuffer(raw[o: o + n], np.uint8), np.frombuffer(raw[o + n: o + 2 * n], np.uint8)
    u = (hi.astype(np.uint16) << 8) | lo
    v = u / 65535 if m["dtype"] == "u16" else u.view(np.float16).astype(np.float64)
    return v.reshape(m["shape"])


# ---- without a browser ----------------------------------------------------------------------------

def test_the_data_blob_holds_the_weights_compactly(rng):
    trace = softmax_trace(rng, [f"t{i}" for i in range(int(rng.integers(2, 30)))], H=3, L=4, layered=True)
    everything = blob(page([trace]))
    data, store = everything["traces"][0], everything["store"]
    for b, stored in zip(trace.blocks, data["blocks"]):
        np.testing.assert_allclose(decode(stored["weights"], store), b.weights, rtol=0, atol=0.5 / 65535 + 1e-9)
        np.testing.assert_allclose(decode(stored["output"], store), b.output, rtol=1e-3, atol=1e-4)  # float16
    for l, stored in enumerate(data["rollout"]):
        expect = rollout64([b.weights for b in trace.blocks[: l + 1]])
        np.testing.assert_allclose(decode(stored, store), expect, rtol=0, atol=2e-5)
    huge = softmax_trace(rng, ["a", "b"], H=1)  # beyond float16's range: stored as float32
    huge = Trace("t", ["a", "b"], [Stage("x", "X", np.array([[1e6, -3.5], [0.25, 7e4]], np.float32))], huge.blocks)
    everything = blob(page([huge]))
    stage = everything["traces"][0]["stages"][0]["values"]
    assert stage["dtype"] == "f32"
    np.testing.assert_array_equal(decode(stage, everything["store"]), [[1e6, -3.5], [0.25, 7e4]])


def test_no_token_can_close_the_data_script(rng):
    trace = softmax_trace(rng, HOSTILE, H=2)
    html = page([trace], title="</title><script>x()</script>")
    head, _, body = html.partition(b'<script type="application/json" id="data">')
    data, _, tail = body.partition(b"</script>")
    assert b"<" not in data and b">" not in data  # '<' escaped as \u003c: nothing in it ends the tag
    assert blob(html)["traces"][0]["tokens"] == HOSTILE
    assert b"<script>x()" not in head and b"&lt;/title&gt;" in head
    assert tail.count(b"<script>") == 1  # the page's own script, and nothing else
    csp = re.search(rb'Content-Security-Policy" content="([^"]*)"', html).group(1).decode()
    assert "default-src 'none'" in csp and "unsafe" not in csp and "script-src 'sha256-" in csp


def test_a_128_token_minilm_page_is_at_most_5_MB(minilm):
    t = model_trace(minilm, " ".join(["cat"] * 126))
    assert len(t.tokens) == 128 and len(t.blocks) == 6 and t.blocks[0].weights.shape[0] == 12
    assert len(page([t])) <= 5_000_000


# ---- in Chromium ----------------------------------------------------------------------------------

def test_toy_page_every_token_and_each_heads_weights(browser, tmp_path, rng):
    words = ["".join(rng.choice(list("abcdefghijklmnop"), size=rng.integers(1, 7))) for _ in range(rng.integers(4, 20))]
    H = int(rng.integers(1, 5))
    config = Config(attention=("multi-head", "self", "flash"), heads=H, dim=4 * H, seed=int(rng.integers(10_000)),
                    weights=True)
    trace = toy_trace(" ".join(words) + ".", config)
    T = len(trace.tokens)
    p = Opened(browser, page([trace]), tmp_path)
    assert p.tokens("q") == trace.tokens and p.tokens("k") == trace.tokens
    for v, variant in enumerate(["multi-head", "self", "flash"]):
        p.choose("block", v)
        w = trace.blocks[v].weights
        for q in {0, T - 1, int(rng.integers(T))}:
            p.hover(q)
            lines = p.focused_lines()
            assert sorted(lines) == [str(h) for h in range(w.shape[0])]
            for h in range(w.shape[0]):
                np.testing.assert_allclose(row_of(lines[str(h)], q, T), w[h, q], rtol=0, atol=5e-4)
    k = int(rng.integers(T))
    p.click(k, side="k")  # a key: the lines into it, from every query
    lines = p.focused_lines()["0"]
    assert sorted(q for q, kk, _ in lines) == list(range(T)) and {kk for _, kk, _ in lines} == {k}
    np.testing.assert_allclose([w for _, _, w in sorted(lines)], trace.blocks[2].weights[0, :, k], atol=5e-4)
    assert p.page.locator("table.comparison tr").count() == 1 + 3  # the three pairs
    p.clean()


def test_heads_toggle_and_aggregates(browser, tmp_path, rng):
    trace = softmax_trace(rng, [f"w{i}" for i in range(9)], H=4)
    w = trace.blocks[0].weights
    p = Opened(browser, page([trace]), tmp_path)
    p.page.uncheck("section[data-trace='0'] input[data-head='1']")
    p.click(5)  # pinned: stays focused when the mouse leaves
    p.page.mouse.move(0, 0)
    assert sorted(p.focused_lines()) == ["0", "2", "3"]
    for what, expect in [("mean", w.astype(np.float64).mean(0)[5]), ("max", w.max(0)[5])]:
        p.choose("source", what)
        lines = p.focused_lines()
        assert list(lines) == [what]
        np.testing.assert_allclose(row_of(lines[what], 5, 9), expect, atol=5e-4)
    p.click(5)  # released
    p.page.mouse.move(0, 0)
    assert p.focused_lines() == {}
    assert p.page.locator("section[data-trace='0'] line.overview").count() > 0
    p.clean()


def test_minilm_page_layers_heads_rollout(browser, tmp_path, rng, minilm):
    words = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "quickly", "home", "blue", "sky", "unbelievable"]
    text = " ".join(rng.choice(words, size=rng.integers(3, 12)))
    t = model_trace(minilm, text)
    T, L = len(t.tokens), len(t.blocks)
    p = Opened(browser, page([t], title="minilm"), tmp_path)
    assert p.tokens("q") == t.tokens
    assert p.page.locator("section[data-trace='0'] .grid canvas").count() == L * 12
    layer = int(rng.integers(1, L + 1))
    p.choose("block", layer - 1)
    q = int(rng.integers(T))
    p.hover(q)
    lines = p.focused_lines()
    assert len(lines) == 12
    for h in range(12):
        np.testing.assert_allclose(row_of(lines[str(h)], q, T), t.blocks[layer - 1].weights[h, q], atol=5e-4)
    # the model view: a click opens that layer and head in the head view
    head = int(rng.integers(12))
    p.page.click(f"section[data-trace='0'] .grid canvas[data-layer='{layer}'][data-head='{head}']")
    p.click(q)
    assert list(p.focused_lines()) == [str(head)]
    p.click(q)  # a second click on the pinned token releases it
    assert p.focused_lines() == {}
    # rollout through the last layer, against float64 from the trace's own weights
    p.choose("block", L - 1)
    p.choose("source", "rollout")
    expect = rollout64([b.weights for b in t.blocks])
    for i in sorted({0, q, T - 1}):  # distinct tokens: each click pins a new one
        p.click(i)
        np.testing.assert_allclose(row_of(p.focused_lines()["rollout"], i, T), expect[i], rtol=0, atol=5e-4)
    assert np.abs(rollout([b.weights for b in t.blocks]) - expect).max() < 1e-6
    p.clean()


def test_initial_token_focus(browser, tmp_path, rng):
    trace = softmax_trace(rng, [f"x{i}" for i in range(7)], H=2)
    p = Opened(browser, page([trace], token=3), tmp_path)
    p.page.mouse.move(0, 0)
    lines = p.focused_lines()
    for h in range(2):
        np.testing.assert_allclose(row_of(lines[str(h)], 3, 7), trace.blocks[0].weights[h, 3], atol=5e-4)
    p.clean()


def test_values_on_hover(browser, tmp_path, rng):
    """Hovering a stage's heat map shows the token, the column and the value (float16, or float32 beyond it)."""
    T, d = int(rng.integers(2, 12)), int(rng.integers(2, 20))
    values = (rng.normal(size=(T, d)) * 10.0 ** rng.integers(-2, 3)).astype(np.float32)
    values[0, 0] = 1e6  # beyond float16: this stage is stored as float32
    tokens = [f"t{i}" for i in range(T)]
    base = softmax_trace(rng, tokens, H=1)
    trace = Trace("x", tokens, [Stage("s", "My stage", values), *base.stages], base.blocks)
    p = Opened(browser, page([trace]), tmp_path)
    canvas = p.page.locator("figure", has=p.page.locator("figcaption", has_text="My stage")).locator("canvas").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    for r, c in [(0, 0), (T - 1, d - 1), (int(rng.integers(T)), int(rng.integers(d)))]:
        p.page.mouse.move(box["x"] + (c + 0.5) * box["width"] / d, box["y"] + (r + 0.5) * box["height"] / T)
        first, value = p.page.text_content("#tip").split("\n")
        assert first == f"t{r}  \u2192  column {c + 1}"
        assert float(value) == pytest.approx(float(values[r, c]), rel=1e-3, abs=1e-4)
    p.clean()


def test_initial_focus_per_sentence(browser, tmp_path, rng):
    a, b = softmax_trace(rng, ["a", "b", "c"], H=1), softmax_trace(rng, ["d", "e", "f", "g"], H=3)
    p = Opened(browser, page([a, b], token=[None, 2]), tmp_path)
    p.page.mouse.move(0, 0)
    assert p.focused_lines(trace=0) == {}
    lines = p.focused_lines(trace=1)
    for h in range(3):
        np.testing.assert_allclose(row_of(lines[str(h)], 2, 4), b.blocks[0].weights[h, 2], atol=5e-4)
    p.clean()


def test_hostile_tokens_are_text(browser, tmp_path, rng):
    trace = softmax_trace(rng, HOSTILE, H=2)
    p = Opened(browser, page([trace], title="<script>alert(1)</script>"), tmp_path)
    assert p.tokens("q") == HOSTILE and p.tokens("k") == HOSTILE
    assert p.page.title() == "<script>alert(1)</script>"
    assert p.page.locator("script").count() == 2  # the data and the page's script: nothing injected
    assert p.page.locator("img, iframe, b").count() == 0
    assert p.page.eval_on_selector(".sentence", "e => e.textContent") == " ".join(HOSTILE)
    p.hover(0)
    p.hover(len(HOSTILE) - 1, side="k")
    p.clean()


def test_two_sentences_and_a_fused_kernel(browser, tmp_path):
    a = toy_trace("The cat sat.", Config(attention=("flash",)))
    b = toy_trace("A dog ran far away.", Config())
    p = Opened(browser, page([a, b]), tmp_path)
    assert p.page.locator("section.trace").count() == 2
    assert p.tokens(trace=1) == b.tokens and p.tokens(trace=0) == []  # no weights: no head view
    assert "--weights" in p.page.eval_on_selector("section[data-trace='0']", "e => e.textContent")
    p.hover(2, trace=1)
    assert len(p.focused_lines(trace=1)) == 2
    p.clean()


def test_example_page(browser, tmp_path):
    from vectorize_cli import example

    ex = example.build()
    p = Opened(browser, example_page(ex), tmp_path)
    text = p.page.eval_on_selector("main", "e => e.textContent")
    for note in example.NOTES:
        assert note in text
    assert p.tokens("q") == example.TOKENS
    p.hover(example.QUERY)
    lines = p.focused_lines()
    for h in range(3):
        np.testing.assert_allclose(row_of(lines[str(h)], 0, 10), ex.real.weights[h, 0], atol=5e-4)
    p.clean()


def test_similarity_page(browser, tmp_path, rng):
    texts = ["A man is eating food.", "<script>alert(1)</script>", "\u202eevil", "The sky is blue."]
    v = rng.normal(size=(4, 5))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    p = Opened(browser, similarity_page("all-MiniLM-L6-v2", texts, v @ v.T), tmp_path)
    labels = p.page.eval_on_selector_all(".heat .rows div", "ds => ds.map(d => d.textContent)")
    assert labels == [f"{i + 1}. {t}" for i, t in enumerate(texts)]
    cells = p.page.eval_on_selector_all(".heat .cells span",
                                        "ss => ss.map(s => [+s.dataset.r, +s.dataset.c, s.textContent])")
    assert [(r, c) for r, c, _ in cells] == [(r, c) for r in range(4) for c in range(4)]
    for r, c, shown in cells:  # the cosine in each cell, to 2 decimals
        assert abs(float(shown) - (v @ v.T)[r, c]) <= 0.005 + 1e-9 and len(shown.split(".")[1]) == 2
    box = p.page.locator(".heat canvas").bounding_box()
    p.page.mouse.move(box["x"] + 2.5 * box["width"] / 4, box["y"] + 0.5 * box["height"] / 4)  # row 0, column 2
    assert p.page.text_content("#tip").split("\n")[0] == f"1. {texts[0]}  \u2192  3. {texts[2]}"  # both texts
    p.clean()


def test_a_long_text_has_readable_labels_and_its_whole_title(browser, tmp_path, rng):
    tokens = [f"w{i}" + "x" * int(rng.integers(0, 4)) for i in range(116)]  # a title under 1,000 characters
    title = "vectorize: " + " ".join(tokens)
    p = Opened(browser, page([softmax_trace(rng, tokens, H=2)], title=title), tmp_path)
    h1 = p.page.locator("h1")
    assert h1.text_content() == title and p.page.title() == title  # whole
    assert h1.evaluate("e => e.scrollWidth <= e.clientWidth && e.clientHeight > 40")  # wrapped, not cut or spilling
    fig = p.page.locator("section[data-trace='0'] .headview + div figure")
    cols = fig.locator(".cols span")
    boxes = [cols.nth(i).bounding_box() for i in range(cols.count())]
    assert 116 / 8 < len(boxes) < 116  # thinned to what reads
    for a, b in zip(boxes, boxes[1:]):
        assert a["x"] + a["width"] <= b["x"] + 0.5  # no two labels overlap
    assert all(cols.nth(i).evaluate("e => parseFloat(getComputedStyle(e).fontSize)") >= 11 for i in (0, 1))
    step = int(cols.nth(1).get_attribute("data-col"))
    assert f"column labels: every {step}" in fig.locator(".caption").text_content()
    cols.nth(1).hover()
    assert p.page.text_content("#tip") == f"{step}: {tokens[step]}"  # the whole token
    rows = fig.locator(".rows div:not(.thin)")
    boxes = [rows.nth(i).bounding_box() for i in range(rows.count())]
    assert all(a["y"] + 12 <= b["y"] for a, b in zip(boxes, boxes[1:]))  # shown rows 12 px apart or more
    p.clean()
