"""The pictures from the command line: --format html | svg | png | pdf on run, example and similarity,
--rollout in the JSON and the tables, --token; bad uses as one-line errors. (The page itself is checked in
a browser by test_html.py, the figure by test_figure.py.)"""

import json
import re
import resource
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from conftest import link_tree
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


# ---- bounded pictures (issue 23) -----------------------------------------------------------------------

def cpu_seconds() -> float:
    """This process's CPU time (CliRunner runs the command in it): unlike wall time, not stretched by a busy machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def png_pixels(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_a_600_token_figure_is_bounded(tmp_path):
    png = tmp_path / "long.png"
    t0 = cpu_seconds()
    r = invoke("run", "-", "--whole", "-F", "png", "-o", str(png), input=" ".join(f"w{i}" for i in range(600)))
    assert r.exit_code == 0, r.output
    assert cpu_seconds() - t0 < 60  # a loose sanity bound; the speed is in benchmarks/README.md
    assert max(png_pixels(png)) <= 8000


def test_a_512_token_minilm_figure_is_bounded(tmp_path, minilm_path):
    folder = tmp_path / "minilm-512"  # without sentence_bert_config.json the model reads its 512 positions
    link_tree(minilm_path, folder, skip=("sentence_bert_config.json",))
    png, svg = tmp_path / "m.png", tmp_path / "m.svg"
    t0 = cpu_seconds()
    r = invoke("run", "-", "--whole", "-m", str(folder), "-F", "png", "-o", str(png), input="the cat sat " * 300)
    assert r.exit_code == 0, r.output
    assert cpu_seconds() - t0 < 60  # a loose sanity bound; the speed is in benchmarks/README.md
    assert max(png_pixels(png)) <= 8000
    r = invoke("run", "-", "--whole", "-m", str(folder), "-F", "svg", "-o", str(svg), input="the cat sat " * 300)
    assert r.exit_code == 0, r.output
    texts = ["".join(t.itertext()) for t in ET.fromstring(svg.read_bytes()).iter("{http://www.w3.org/2000/svg}text")]
    note = " ".join(t for t in texts if "labels: every" in t)
    assert re.search(r"labels: every \d+th token of 512", note) and "truncated to the model's 512 tokens" in note
    assert any(t.startswith("Model view: every layer x head") for t in texts)
    assert texts.count("layer 1, head 12") == 1


@pytest.mark.parametrize("model,limit", [([], "40MB"), (["-m", "minilm"], "200MB")])  # above what the run needs
def test_the_figure_memory_guard_is_one_line(tmp_path, model, limit, minilm_path):
    text = "the cat sat " * 60 if model else " ".join(f"w{i}" for i in range(300))  # 182 and 300 tokens
    r = invoke("run", "-", "--whole", *model, "-F", "png", "--max-memory", limit, "-o", str(tmp_path / "x.png"),
               input=text)
    one_error_line(r, 1)
    mib = int(limit[:-2]) * 1e6 / 2**20
    assert "this figure needs about" in r.stderr and f"over --max-memory {mib:.1f} MiB" in r.stderr
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_the_page_title_is_whole_and_wrapped(tmp_path):
    text = " ".join(["antidisestablishmentarianism", "is", "a", "long", "word"] * 20)  # 100 tokens, 879 characters
    r = invoke("run", "-", "--whole", "-F", "html", input=text)
    assert r.exit_code == 0, r.output
    assert blob(r.stdout_bytes)["title"] == "vectorize: " + text
    longer = " ".join([text] * 3)  # past 1,000 characters: cut between words
    title = blob(invoke("run", "-", "--whole", "-F", "html", input=longer).stdout_bytes)["title"]
    assert title.endswith(" …") and len(title) <= 1000 and ("vectorize: " + longer).startswith(title[:-2])
    assert ("vectorize: " + longer)[len(title) - 2] == " "  # the next character was a space: no word cut


@pytest.mark.parametrize("columns", [200, 80])
def test_the_similarity_table_uses_the_terminal_width(columns, minilm_path):
    texts = ["A man is eating food in a restaurant downtown with his friends.", "A man eats a meal.",
             "The sky is blue over the ocean on a bright summer afternoon, warm on the sand of the long beach."]
    r = invoke("similarity", *texts, env={"COLUMNS": str(columns)})
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert max(len(line) for line in lines) <= columns
    rows = [line for line in lines if re.match(r"\d  ", line)]
    if columns == 200:  # every text whole
        assert [any(t in row for row in rows) for t in texts] == [True] * 3
    else:  # as wide as 80 columns leave: the long texts cut with …, the short one whole
        assert texts[1] in rows[1] and "…" in rows[0] and "…" in rows[2]
        assert len(rows[0].split("…")[0]) > 40
