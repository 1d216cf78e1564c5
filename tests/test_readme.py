"""Every shell command the user is shown runs as written: the lines of README.md's ``` blocks, and the examples
that `vectorize CMD --help` prints (each command's EPILOG).

Each source runs in a folder of its own, as a newcomer's fresh clone: a copy of sample_inputs/, `vectorize` and
`python` this checkout's, the commands in the order written (a test first runs the ones above it that have not run
yet, so `-k` picks any one). A command passes when it exits as documented: 0, or N where its comment says `exit N`;
one piped to jq must print something other than null. A command of words and options only (`vectorize bench`)
names no file, so the same text in two sources runs once.

What does not run, and why (read off the line, never a list kept here):
  `pip install ...` steps are left out (the environment is installed); `python -m pytest` is this suite itself;
  a comment saying `needs a GPU` skips without CUDA; one saying `Ray cluster` is illustrative (HEAD is a cluster's
  head machine); `jq` skips where it is not installed (.ci/run installs it). `--engine ray` lines carry the `ray` mark.
"""

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from conftest import ROOT, SAMPLES

README = ROOT / "README.md"
PROGRAMS = ("vectorize", "pip", "python", "cat", "ray")  # a README line starting with one of these is a command
SHELL_FENCES = ("```", "```sh", "```bash", "```console")


@dataclass(frozen=True)
class Example:
    where: str  # README.md:LINE, or `vectorize CMD --help`
    source: str  # the folder it runs in: README.md, or the help it comes from
    line: str  # as written
    command: str  # what runs: the line without its comment and its `pip install` steps
    comment: str

    @property
    def exit(self) -> int:
        m = re.search(r"\bexit (\d+)\b", self.comment)
        return int(m.group(1)) if m else 0


def split_comment(line: str) -> tuple[str, str]:
    """`cmd args  # comment` -> (cmd args, comment); a # inside quotes or a word stays."""
    quote = None
    for i, c in enumerate(line):
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip(), line[i + 1:].strip()
    return line.rstrip(), ""


def example(where: str, source: str, line: str) -> Example:
    command, comment = split_comment(line)
    steps = [s for s in command.split(" && ") if not s.startswith("pip ")]
    return Example(where, source, line, " && ".join(steps), comment)


def readme_examples(text: str) -> list[Example]:
    """The command lines of the README's ``` blocks. A block holds commands only or none: a line of a command
    block that starts with no known program, or a `vectorize` line in another block, is an error here."""
    out, block, fence = [], None, None
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            if block is None:
                block, fence = [], line.strip()
                continue
            commands = [(m, s) for m, s in block if s.split(" ", 1)[0] in PROGRAMS]
            if commands and fence in SHELL_FENCES:
                stray = [f"README.md:{m}: {s}" for m, s in block if (m, s) not in commands and s.strip()]
                assert not stray, f"a line in a block of commands is no command (add its program to PROGRAMS): {stray}"
                out += [example(f"README.md:{m}", "README.md", s) for m, s in commands]
            else:
                stray = [f"README.md:{m}: {s}" for m, s in block if s.startswith("vectorize ")]
                assert not stray, f"a command in a block that is not a shell block: {stray}"
            block = None
        elif block is not None:
            block.append((n, line))
    assert block is None, "README.md: a ``` block is never closed"
    return out


def help_examples() -> list[Example]:
    """The lines under `Examples:` in `vectorize --help` and in each `vectorize CMD --help`, as printed."""
    from typer.main import get_command
    from typer.testing import CliRunner

    from vectorize_cli.cli import app

    out = []
    for name in ["", *get_command(app).commands]:
        args = [name, "--help"] if name else ["--help"]
        r = CliRunner(env={"COLUMNS": "200"}).invoke(app, args)
        assert r.exit_code == 0, (args, r.output)
        where = " ".join(["vectorize", *args])
        lines = [line.strip() for line in r.output.splitlines()]
        start = lines.index("Examples:") + 1 if "Examples:" in lines else len(lines)
        for line in lines[start:]:
            if not line:
                break
            out.append(example(where, where, line))
    return out


EXAMPLES = readme_examples(README.read_text(encoding="utf-8")) + help_examples()


@cache
def cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def why_not(ex: Example) -> str | None:
    """The reason this example does not run here, or None."""
    if not ex.command:
        return "installs packages: the environment is installed"
    if ex.command == "python -m pytest":
        return "the test suite itself, this file included"
    if "Ray cluster" in ex.comment:
        return "illustrative: needs a Ray cluster (HEAD is its head machine); --engine ray runs locally elsewhere"
    if "needs a GPU" in ex.comment and not cuda():
        return "needs a GPU: torch sees no CUDA device"
    if re.search(r"\|\s*jq\b", ex.command) and shutil.which("jq") is None:
        return "jq is not installed (.ci/run installs it: apt-get install jq)"
    return None


class Folder:
    """One source's fresh clone: a copy of sample_inputs/, and the examples that have run in it."""

    def __init__(self, path: Path):
        self.path, self.ran = path, set()
        shutil.copytree(SAMPLES, path / "sample_inputs")


@pytest.fixture(scope="module")
def shell(tmp_path_factory):
    """Runs an example in its source's folder, after the examples above it; returns the finished process."""
    bin_dir = tmp_path_factory.mktemp("bin")
    for name, target in (("vectorize", f'"{sys.executable}" -m vectorize_cli'), ("python", f'"{sys.executable}"')):
        (bin_dir / name).write_text(f'#!/bin/sh\nexec {target} "$@"\n')
        (bin_dir / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "NO_COLOR": "1", "COLUMNS": "120",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "RAY_USAGE_STATS_ENABLED": "0"}
    folders: dict[str, Folder] = {}
    done: dict[str, subprocess.CompletedProcess] = {}  # a command that names no file, by its text: it runs once

    def run(i: int) -> subprocess.CompletedProcess:
        source = EXAMPLES[i].source
        folder = folders.get(source) or folders.setdefault(source, Folder(tmp_path_factory.mktemp("clone")))
        for j in range(i):
            if EXAMPLES[j].source == source and j not in folder.ran and why_not(EXAMPLES[j]) is None:
                _run(folder, j)
        return _run(folder, i)

    def _run(folder: Folder, i: int) -> subprocess.CompletedProcess:
        folder.ran.add(i)
        command = EXAMPLES[i].command
        if command in done:
            return done[command]
        r = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=folder.path, env=env,
                           capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
        if re.fullmatch(r"[-\w= ]+", command):  # words and options only (`vectorize bench`): no file, no pipe
            done[command] = r
        return r

    return run


def test_the_readme_and_the_helps_have_examples():
    sources = {ex.source for ex in EXAMPLES}
    assert "README.md" in sources and len(sources) >= 6, sources
    assert EXAMPLES[0].line.startswith("pip install . && vectorize run"), "the README's first command"
    assert EXAMPLES[1].line == "pip install -e '.[test]' && python -m pytest", "the README's second command"


@pytest.mark.parametrize("i", [pytest.param(i, id=f"{ex.where}: {ex.line}"[:120],
                                            marks=[pytest.mark.ray] if "--engine ray" in ex.command else [])
                               for i, ex in enumerate(EXAMPLES)])
def test_example_runs_as_written(i, shell):
    ex = EXAMPLES[i]
    if reason := why_not(ex):
        pytest.skip(reason)
    r = shell(i)
    assert r.returncode == ex.exit, f"{ex.where}: {ex.line}\nexit {r.returncode}, not {ex.exit}\n{r.stderr[-3000:]}"
    if re.search(r"\|\s*jq\b", ex.command):
        assert r.stdout.strip() and "null" not in r.stdout.split(), f"{ex.where}: jq found nothing\n{r.stdout[:500]}"
