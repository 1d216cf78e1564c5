"""The static figure: SVG that parses, holds every token as text, and is the same bytes every time
(also in another process); PNG and PDF that decode; bad layers and heads as clear errors."""

import hashlib
import io
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
