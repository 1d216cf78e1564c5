"""The static figure: SVG that parses, holds every token as text, and is the same bytes every time
(also in another process); PNG and PDF that decode; bad layers and heads as clear errors."""

import hashlib
import io
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from vectorize_cli.config import Config
from vectorize_cli.errors import UsageError, VectorizeError
from vectorize_cli.trace import Block, Stage, Trace
from vectorize_cli.pipelines.toy import trace as toy_trace

pytest.importorskip("matplotlib")
from vectorize_cli.views.figure import _label, figure, panels  # noqa: E402
from vectorize_cli.views.figure_plan import MAX_MAPS, block_means, plan  # noqa: E402
from vectorize_cli.views.headline import wrap_words  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = ["<script>alert(1)</script>", "$x^2$", 'say "hi"', "\u05e9\u05dc\u05d5\u05dd", "😀", "a&b", "]]>"]


def random_trace(rng, tokens, H=2, layered=False, L=1):
    T = len(tokens)
    blocks = []
    for layer in range(L):
        s = rng.normal(size=(H, T, T))
        w = np.exp(s - s.max(-1, keepdims=True))
        w = (w / w.sum(-1, keepdims=True)).astype(np.float32)
        blocks.append(Block("multi-head", w, rng.normal(size=(T, 4)).astype(np.float32),
                            layer=layer + 1 if layered else None))
    return Trace("text", tokens, [Stage("encoded", "Encoded", rng.normal(size=(T, 4)).astype(np.float32))], blocks,
                 layered)


def svg_texts(data: bytes) -> list[str]:
    root = ET.fromstring(data)
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def test_svg_parses_and_holds_every_token(rng):
    words = ["".join(rng.choice(list("abcdefghij"), size=rng.integers(1, 8))) for _ in range(rng.integers(3, 12))]
    config = Config(attention=("multi-head", "self"), heads=3, dim=6, seed=int(rng.integers(1000)))
    trace = toy_trace(" ".join(words), config)
    data = figure(trace)
    texts = svg_texts(data)
    for t in trace.tokens:
        assert texts.count(t) >= 2 * 4  # x and y labels of 3 multi-head heads and of self
    assert "attention weight (each row sums to 1)" in texts
    assert "multi-head, head 3" in texts and "self" in texts
    assert len(panels(trace)) == 4


def test_hostile_tokens_are_text(rng):
    trace = random_trace(rng, HOSTILE)
    data = figure(trace)
    root = ET.fromstring(data)  # parses: every token escaped
    assert not list(root.iter(f"{SVG}script"))
    texts = svg_texts(data)
    for t in HOSTILE:
        assert texts.count(_label(t).replace("\\$", "$")) >= 2, t


@pytest.mark.parametrize("fmt", ["svg", "png", "pdf"])
def test_same_input_same_bytes(rng, fmt):
    trace = random_trace(rng, ["a", "b", "c", "d"], H=3)
    assert figure(trace, fmt=fmt) == figure(trace, fmt=fmt)


def test_same_bytes_in_another_process():
    code = ("import hashlib; from vectorize_cli.config import Config;"
            "from vectorize_cli.pipelines.toy import trace as toy_trace; from vectorize_cli.views.figure import figure;"
            "t = toy_trace('The cat sat on the mat.', Config());"
            "print(hashlib.sha256(figure(t)).hexdigest(), hashlib.sha256(figure(t, fmt='pdf')).hexdigest())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout.split()
    t = toy_trace("The cat sat on the mat.", Config())
    assert out == [hashlib.sha256(figure(t)).hexdigest(), hashlib.sha256(figure(t, fmt="pdf")).hexdigest()]


def test_png_shows_the_weights_and_pdf_is_a_pdf(rng):
    import matplotlib.image

    trace = random_trace(rng, ["x", "y", "z"], H=1)
    png = matplotlib.image.imread(io.BytesIO(figure(trace, fmt="png")), format="png")
    assert png.ndim == 3 and png.shape[0] > 100 and png.shape[1] > 100
    assert figure(trace, fmt="pdf").startswith(b"%PDF-")


def test_layer_and_head(rng):
    trace = random_trace(rng, ["p", "q", "r", "s"], H=4, layered=True, L=3)
    maps = panels(trace, layer=2, head=3)
    assert len(maps) == 1 and maps[0][0] == "layer 2, head 3"
    np.testing.assert_array_equal(maps[0][1], trace.blocks[1].weights[2])
    assert [t for t, _ in panels(trace)] == [f"layer 1, head {h}" for h in range(1, 5)]  # --layer's default: 1
    with pytest.raises(UsageError, match="layers 1 to 3"):
        figure(trace, layer=4)
    with pytest.raises(UsageError, match="heads 1 to 4"):
        figure(trace, layer=1, head=5)
    with pytest.raises(UsageError):
        figure(trace, fmt="gif")


def test_no_weights_is_an_error():
    trace = toy_trace("The cat sat.", Config(attention=("flash",)))
    with pytest.raises(VectorizeError, match="--weights"):
        figure(trace)
    assert len(panels(toy_trace("The cat sat.", Config(attention=("flash",), weights=True)))) == 2


def test_the_registry_draws_one_sentence_per_figure(rng):
    from vectorize_cli.views.pictures import PICTURES

    a, b = random_trace(rng, ["a", "b"]), random_trace(rng, ["c", "d", "e"])
    assert PICTURES["svg"]([a]) == figure(a)
    with pytest.raises(UsageError, match="one sentence"):
        PICTURES["pdf"]([a, b])
    assert PICTURES["html"]([a, b], token=[1, None]).startswith(b"<!DOCTYPE html>")


# ---- bounded: pixels, maps, labels, title, memory (issue 23) -------------------------------------------

def png_pixels(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_a_long_text_is_at_most_8000_px_and_says_which_labels_it_shows():
    from vectorize_cli.views.figure_plan import MAX_PX

    trace = toy_trace(" ".join(f"w{i}" for i in range(600)), Config())
    w, h = png_pixels(figure(trace, fmt="png"))
    assert 1000 < max(w, h) <= MAX_PX == 8000
    texts = svg_texts(figure(trace))
    note = next(t for t in texts if "labels: every" in t)
    step = int(re.search(r"every (\d+)th token of 600", note).group(1))
    assert 2 <= step <= 60
    assert texts.count("w0") == 4 and texts.count("w1") == 0 and texts.count(f"w{step}") == 4  # x and y, 2 heads


def test_many_heads_and_layers_draw_at_most_16_maps_and_a_model_view(rng):
    trace = random_trace(rng, [f"t{i}" for i in range(40)], H=32, layered=True, L=48)  # 60 inches tall at 200 dpi
    p = plan(trace, layer=3)
    assert len(p.maps) == MAX_MAPS == 16 and p.maps[0][0] == "layer 3, head 1"
    assert any("heads 1-16 of 32 in full (--head N for another)" in line for line in p.notes)
    assert max(p.pixels) <= 8000 and p.dpi < 150
    L, H, n, g, mosaic = 48, 32, p.tile, p.gap, p.mosaic()
    assert mosaic.shape == (L * n + (L - 1) * g, H * n + (H - 1) * g) and p.grid == (L, H)
    tile = mosaic[2 * (n + g): 2 * (n + g) + n, 5 * (n + g): 5 * (n + g) + n]  # layer 3, head 6
    expect = block_means(trace.blocks[2].weights[5].astype(np.float64), n)
    np.testing.assert_allclose(tile, expect / expect.max(), rtol=1e-5)
    assert np.isnan(mosaic[n: n + g]).all()  # the gap between layers 1 and 2
    assert plan(trace, layer=3, head=2).mosaic() is None  # --head: that one map alone
    w, h = png_pixels(figure(trace, layer=3, fmt="png"))
    assert max(w, h) <= 8000


def test_more_tokens_than_pixels_are_averaged_never_dropped(rng):
    w = rng.random((1, 1000, 1000))
    m = block_means(w, 300)  # blocks of 3 or 4 tokens
    edges = (np.arange(300) * 1000) // 300
    counts = np.diff(np.append(edges, 1000))
    np.testing.assert_allclose((m[0] * np.outer(counts, counts)).sum(), w.sum())  # every weight counted once
    np.testing.assert_allclose(m[0, 7, 11], w[0, edges[7]: edges[8], edges[11]: edges[12]].mean())
    trace = random_trace(rng, [f"t{i}" for i in range(1200)], H=1)
    p = plan(trace)
    assert p.cells < 1200 and p.drawn()[0][1].shape == (p.cells, p.cells) and any("mean of about" in line
                                                                                  for line in p.notes)


@pytest.mark.parametrize("title", [
    "vectorize: " + " ".join(["antidisestablishmentarianism", "is", "a", "long", "word"] * 60),
    "a " * 2000,
    "one " + "x" * 5000 + " two",
])
def test_titles_wrap_between_words(title):
    words = title.split()
    for width, n in [(40, 3), (120, 3), (10, 1)]:
        lines = wrap_words(title, width, n)
        assert 1 <= len(lines) <= n and all(len(line) <= max(width, 4) for line in lines)
        shown = " ".join(lines).split()
        if shown[-1] == "…":
            shown = shown[:-1]
        for got, word in zip(shown, words):  # whole words in order; only a word longer than a line is cut,
            # or a word alone on the last line with no room for " …" after it
            cut = len(word) > width or (len(lines[-1]) == width and lines[-1] == got)
            assert got == word or (cut and got == word[: width - 1] + "…"), (got, word, lines)
    trace = toy_trace("The cat sat on the mat.", Config())
    texts = svg_texts(figure(trace, title=title))
    assert any(t.startswith(title.split()[0][:20]) for t in texts)


def test_the_memory_guard_refuses_before_drawing():
    from vectorize_cli.views.figure_plan import needs

    trace = toy_trace(" ".join(f"w{i}" for i in range(300)), Config())
    need = sum(n for _, n in needs(plan(trace), "png"))
    assert 20 * 2**20 < need < 2 * 2**30
    with pytest.raises(VectorizeError, match=r"this figure needs about .* over --max-memory 10.0 MiB; "):
        figure(trace, fmt="png", max_memory=10 * 2**20)
    assert figure(trace, fmt="png", max_memory=need + 1).startswith(b"\x89PNG")


def _images(svg: bytes) -> list[np.ndarray]:
    """The raster images an SVG embeds (matplotlib's imshow: one per heat map, then the colour bar), RGBA."""
    import base64

    import matplotlib.image

    return [matplotlib.image.imread(io.BytesIO(base64.b64decode(b)), format="png")
            for b in re.findall(rb'xlink:href="data:image/png;base64,([^"]+)"', svg)]


@pytest.mark.parametrize("fresh", [False, True], ids=["fixed", "fresh"])
def test_every_head_shares_one_colour_scale(rng, fresh):
    """Head 1 attends one key per row (weights 0 and 1), head 2 spreads evenly (1/T everywhere): on one shared scale
    head 2 is the pale colour of 1/T, never the darkest one that a scale of its own (0 to 1/T) would give it."""
    import matplotlib

    g = rng if fresh else np.random.default_rng(3)
    T = int(g.integers(3, 9))
    one_hot = np.eye(T, dtype=np.float32)[g.permutation(T)]
    w = np.stack([one_hot, np.full((T, T), 1 / T, np.float32)])  # (2, T, T)
    trace = Trace("text", [f"t{i}" for i in range(T)], [Stage("encoded", "Encoded", np.zeros((T, 4), np.float32))],
                  [Block("multi-head", w, np.zeros((T, 4), np.float32))], False)
    first, second, *_ = _images(figure(trace, fmt="svg"))
    blues = matplotlib.colormaps["Blues"]
    colours = np.unique(second.reshape(-1, 4).round(2), axis=0)
    assert len(colours) == 1, colours  # one weight, one colour
    np.testing.assert_allclose(colours[0], blues(1 / T), atol=2 / 255 + 0.005)
    assert not np.allclose(colours[0], blues(1.0), atol=0.05)
    np.testing.assert_allclose(first.reshape(-1, 4).max(axis=0), blues(0.0), atol=0.01)  # the palest: weight 0
    np.testing.assert_allclose(first.reshape(-1, 4).min(axis=0), blues(1.0), atol=0.01)  # the darkest: weight 1
