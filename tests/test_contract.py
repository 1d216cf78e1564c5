"""One contract for every command (issue 23): a file through -o/--force, --format choices that are exactly
what the command writes, an option a format does not read refused (exit 2) saying why, one meaning per
option name (the deprecated names still work, with a note), and a help that shows everything."""

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT
from test_cli import invoke

TINY_BENCH = ["-T", "8", "--dim", "8", "--heads", "2", "-r", "1", "--warmup", "0"]


def one_error(r, code: int, says: str) -> None:
    assert r.exit_code == code, (r.stdout, r.stderr)
    assert r.stderr.startswith("vectorize: error: ") and r.stderr.count("\n") == 1, r.stderr
    assert says in r.stderr and r.stdout == ""


@pytest.mark.parametrize("args, check", [
    (["example", "-F", "html"], lambda b: b.startswith(b"<!DOCTYPE html>")),
    (["example", "-F", "json"], lambda b: "article" in json.loads(b)),
    (["example"], lambda b: b"Where the article's step differs" in b and b"\x1b[" not in b),
    (["variants", "-F", "json"], lambda b: json.loads(b)[0]["variant"] == "additive"),
    (["variants"], lambda b: b"Attention variants" in b),
    (["bench", *TINY_BENCH, "-F", "json"], lambda b: json.loads(b)["kind"] == "bench"),
    (["bench", *TINY_BENCH], lambda b: b"vectorize bench" in b and b"\x1b[" not in b),
])
def test_every_command_that_writes_takes_output_and_force(tmp_path, args, check):
    target = tmp_path / "out"
    r = invoke(*args, "-o", str(target))
    assert r.exit_code == 0 and r.stdout == "", r.stderr
    first = target.read_bytes()
    assert check(first)
    one_error(invoke(*args, "-o", str(target)), 2, "exists; add --force")
    assert target.read_bytes() == first and sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    target.write_bytes(b"old")
    assert invoke(*args, "-o", str(target), "--force").exit_code == 0 and check(target.read_bytes())


def test_similarity_writes_its_page_with_output(tmp_path, minilm_path):
    page = tmp_path / "sim.html"
    r = invoke("similarity", "A cat sat.", "A dog ran.", "-F", "html", "-o", str(page))
    assert r.exit_code == 0 and r.stdout == "" and page.read_bytes().startswith(b"<!DOCTYPE html>"), r.stderr
    one_error(invoke("similarity", "a", "b", "-o", str(page)), 2, "exists; add --force")


def test_bench_refuses_an_existing_output_before_it_runs(tmp_path):
    (tmp_path / "t.txt").write_text("keep")
    one_error(invoke("bench", "-T", "100000000", "-o", str(tmp_path / "t.txt")), 2, "exists; add --force")


@pytest.mark.parametrize("command, absent", [
    (["variants"], "html"), (["bench"], "html"), (["similarity"], "svg"), (["example"], "npy"), (["search"], "html"),
])
def test_format_choices_are_what_the_command_writes(command, absent):
    line = next(x for x in invoke(*command, "--help").stdout.splitlines() if "--format" in x)
    assert absent not in line, line
    one_error(invoke(*command, "-F", absent), 2, f"'{absent}' is not one of")


def test_a_model_command_offers_only_the_models_variants():
    for command in ("similarity", "embed"):
        assert "-a, --attention [multi-head|flash]" in invoke(command, "--help").stdout
    run_help = invoke("run", "--help").stdout
    assert "-a, --attention [additive|scaled-dot|self|multi-head|flash]" in run_help
    assert "With --model: one of multi-head or flash" in " ".join(run_help.split())
    helps = {c: " ".join(invoke(c, "--help").stdout.split()) for c in ("run", "similarity", "embed", "search")}
    assert all("(npy, similarity)" not in h for h in helps.values())
    assert "--model --format npy: sentences per batch" in helps["run"] and "Queries per batch" in helps["search"]
    assert "The dataset: a directory (DIR)" in helps["embed"]


@pytest.mark.parametrize("args, says", [
    (["run", "x", "-F", "html", "--precision", "7", "--omit", "weights"],
     "--decimals does not apply to --format html; it applies to table"),
    (["run", "x", "-F", "html", "--omit", "weights"], "--omit does not apply to --format html; it applies to json or"),
    (["run", "x", "--omit", "weights"], "--omit does not apply to --format table; it applies to json or jsonl"),
    (["run", "x", "-F", "json", "--decimals", "2"], "--decimals does not apply to --format json"),
    (["run", "x", "-F", "jsonl", "--token", "x"],
     "--token does not apply to --format jsonl; it applies to table or html"),
    (["run", "x", "-F", "svg", "--token", "x"], "--token does not apply to --format svg"),
    (["example", "-F", "json", "--decimals", "2"], "--decimals does not apply to --format json; it applies to table"),
])
def test_an_option_the_format_does_not_read_is_a_usage_error(tmp_path, args, says):
    r = invoke(*args, "-o", str(tmp_path / "out"))
    assert r.exit_code == 2 and r.stdout == "" and not list(tmp_path.iterdir()), r.stderr
    assert r.stderr.splitlines()[-1] == f"vectorize: error: {says}" or says in r.stderr.splitlines()[-1], r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("command", [["run", "The cat sat."], ["example"]])
def test_decimals_and_its_deprecated_name(command):
    new = invoke(*command, "--decimals", "2")
    assert new.exit_code == 0 and new.stderr == "", new.stderr
    old = invoke(*command, "--precision", "2")
    assert old.exit_code == 0 and old.stdout == new.stdout and old.stdout != invoke(*command).stdout
    assert old.stderr == ("vectorize: note: --precision is deprecated and will be removed in the next release: "
                          "use --decimals\n")
    assert "--precision" not in invoke(*command[:1], "--help").stdout  # hidden
    one_error(invoke(*command, "--decimals", "2", "--precision", "2"), 2,
              "give --decimals, not both --decimals and --precision")


def test_bare_vectorize_prints_the_help_and_exits_2():
    r = subprocess.run([sys.executable, "-m", "vectorize_cli"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 2 and r.stdout == "", r.stdout
    assert r.stderr.startswith("Usage: vectorize [OPTIONS] COMMAND") and "error" not in r.stderr
    assert "-h, --help" in r.stderr and "similarity" in r.stderr


def test_top_level_help_shows_every_description_whole():
    text = " ".join(invoke("--help", env={"COLUMNS": "80"}).stdout.split("Commands:")[1].split())
    assert "..." not in text
    for line in ("Cosine similarity of every pair of texts, by a pretrained model's sentence vectors.",
                 "Embed a corpus into a Parquet dataset: resumable, quantized, on this machine or a Ray cluster.",
                 "Build the HNSW index of a dataset (DIR/_index.usearch) for `vectorize search --ann`."):
        assert line in text


def test_run_help_is_in_panels_and_plain_when_piped():
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR")}
    r = subprocess.run([sys.executable, "-m", "vectorize_cli", "run", "--help"], capture_output=True, text=True,
                       timeout=120, cwd=ROOT, env={**env, "TERM": "xterm-256color"})
    assert r.returncode == 0 and "\x1b[" not in r.stdout, r.stderr
    sections = [line[:-1] for line in r.stdout.splitlines() if line and not line[0].isspace() and line.endswith(":")]
    assert sections == ["Arguments", "Input", "Pipeline (the toy)", "Attention", "Model", "Output", "Options"]
    output = r.stdout.split("\nOutput:\n")[1].split("\nOptions:\n")[0]
    for flag in ("--format", "--output", "--force", "--decimals", "--omit", "--token"):
        assert flag in output
    assert "[default: dim / heads]" in r.stdout  # help text printed as written, not read as markup
