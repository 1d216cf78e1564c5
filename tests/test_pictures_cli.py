"""The pictures from the command line: --format html | svg | png | pdf on run, example and similarity,
--rollout in the JSON and the tables, --token; bad uses as one-line errors. (The page itself is checked in
a browser by test_html.py, the figure by test_figure.py.)"""

import json
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from test_cli import invoke
from test_html import blob, decode
from test_rollout import rollout_loop


def one_error_line(r, code):
    assert r.exit_code == code, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vectorize: error: "), r.stderr


def test_run_html_toy_and_model(tmp_path, minilm_path):
    page = tmp_path / "toy.html"
    r = invoke("run", "The cat sat on the mat.", "-a", "multi-head", "-a", "self", "-F", "html", "-o", str(page))
    assert r.exit_code == 0, r.output
    data = blob(page.read_bytes())
    assert [b["name"] for b in data["traces"][0]["blocks"]] == ["multi-head", "self"]
    assert data["traces"][0]["tokens"] == ["The", "cat", "sat", "on", "the", "mat", "."]
    page = tmp_path / "cat.html"
    r = invoke("run", "The cat sat on the mat.", "--model", "minilm", "-F", "html", "-o", str(page), "--token", "cat")
    assert r.exit_code == 0, r.output
    data = blob(page.read_bytes())
    t = data["traces"][0]
    assert t["token"] == 2 and len(t["blocks"]) == 6 and len(t["rollout"]) == 6
    js = json.loads(invoke("run", "The cat sat on the mat.", "--model", "minilm", "-F", "json").stdout)
    for layer, stored in zip(js["layers"], t["blocks"]):
        np.testing.assert_allclose(decode(stored["weights"], data["store"]), layer["weights"], atol=1e-5)


def test_run_svg_png_pdf(tmp_path, minilm_path):
    svg = tmp_path / "a.svg"
    r = invoke("run", "The cat sat on the mat.", "--model", "minilm", "--layer", "2", "--head", "3", "-F", "svg",
               "-o", str(svg))
    assert r.exit_code == 0, r.output
    texts = ["".join(t.itertext()) for t in ET.fromstring(svg.read_bytes()).iter("{http://www.w3.org/2000/svg}text")]
    assert "layer 2, head 3" in texts and "[CLS]" in texts
    for fmt, magic in [("png", b"\x89PNG"), ("pdf", b"%PDF-")]:
        path = tmp_path / f"a.{fmt}"
        r = invoke("run", "The cat sat.", "-F", fmt, "-o", str(path))
        assert r.exit_code == 0 and path.read_bytes().startswith(magic), r.output


def test_rollout_in_the_json_and_the_tables(minilm_path):
    rec = json.loads(invoke("run", "Attention flows through layers.", "--model", "minilm", "--rollout", "-F",
                            "json").stdout)
    expect = rollout_loop([np.array(layer["weights"], dtype=np.float32) for layer in rec["layers"]])
    np.testing.assert_allclose(rec["rollout"], expect, atol=2e-7)
    r = invoke("run", "Attention flows through layers.", "--model", "minilm", "--rollout", "--token", "flows")
    assert r.exit_code == 0, r.output
    assert "Attention rollout through layers 1-6" in r.stdout
    assert len(re.findall(r"layer \d: the weights of token 2 \(flows\)", r.stdout)) == 6


def test_token_on_the_toy(tmp_path):
    r = invoke("run", "The cat sat.", "-a", "multi-head", "-a", "self", "--token", "1")
    assert r.exit_code == 0 and "multi-head: the weights of token 1 (cat)" in r.stdout and "self: the weights" in r.stdout


@pytest.mark.parametrize("args,code,says", [
    (["run", "The cat sat.", "--rollout"], 2, "--rollout applies with --model"),
    (["run", "The cat sat.", "--model", "minilm", "-a", "flash", "--rollout", "-F", "json"], 2, "use -a multi-head"),
    (["run", "The cat sat.", "--token", "dog"], 2, "--token 'dog': no such token"),
    (["run", "The cat sat.", "--token", "9", "-F", "html", "-o", "{tmp}/x.html"], 2, "numbered 0 to 3"),
    (["run", "-", "-F", "svg", "-o", "{tmp}/x.svg"], 2, "draws one sentence"),
    (["run", "The cat sat.", "-a", "flash", "-F", "svg", "-o", "{tmp}/x.svg"], 1, "--weights"),
    (["run", "The cat sat.", "--model", "minilm", "-F", "svg", "--layer", "7", "-o", "{tmp}/x.svg"], 2, "--layer"),
])
def test_bad_uses(tmp_path, args, code, says, minilm_path):
    r = invoke(*[a.replace("{tmp}", str(tmp_path)) for a in args], input="one\ntwo\n")
    one_error_line(r, code)
    assert says in r.stderr
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_example_and_similarity_pages(tmp_path, minilm_path):
    r = invoke("example", "-F", "html")
    assert r.exit_code == 0 and r.stdout.startswith("<!DOCTYPE html>")
    assert blob(r.stdout_bytes)["kind"] == "example"
    page = tmp_path / "sim.html"
    texts = ["A man is eating food.", "A man eats a meal.", "The sky is blue."]
    r = invoke("similarity", *texts, "-F", "html")
    assert r.exit_code == 0, r.output
    data = blob(r.stdout_bytes)
    js = json.loads(invoke("similarity", *texts, "-F", "json").stdout)
    assert data["texts"] == texts
    np.testing.assert_allclose(np.reshape(data["cosine"]["data"], (3, 3)), js["cosine"], atol=1e-6)
    assert not page.exists()
