"""The CLI through CliRunner (argument, file and stdin input) and through a real subprocess."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from vectorize_cli import __version__
from vectorize_cli.cli import app

SENTENCE = "My deskmate and I made an appointment."


def invoke(*args, input=None, env=None):
    return CliRunner(env={"COLUMNS": "120", **(env or {})}).invoke(app, list(args), input=input)


@pytest.fixture(params=["argument", "file", "stdin"])
def source(request, tmp_path):
    """The same sentence given as TEXT, --file FILE and `-` on stdin: (args, input)."""
    if request.param == "argument":
        return [SENTENCE], None
    if request.param == "file":
        path = tmp_path / "sentences.txt"
        path.write_text(SENTENCE + "\n", encoding="utf-8")
        return ["--file", str(path)], None
    return ["-"], SENTENCE + "\n"


def test_json_is_the_same_from_argument_file_and_stdin(source):
    args, stdin = source
    r = invoke("run", *args, "--format", "jsonl", "-a", "scaled-dot", "-a", "flash", input=stdin)
    assert r.exit_code == 0, r.stderr
    rec = json.loads(r.stdout)
    assert rec["text"] == SENTENCE and rec["tokens"][-1] == "."
    assert [a["variant"] for a in rec["attention"]] == ["scaled-dot", "flash"]
    direct = json.loads(invoke("run", SENTENCE, "-F", "jsonl", "-a", "scaled-dot", "-a", "flash").stdout)
    assert rec == direct


def test_table_shows_every_stage(source):
    args, stdin = source
    r = invoke("run", *args, "-a", "additive", "-a", "flash", input=stdin)
    assert r.exit_code == 0, r.stderr
    for title in ("Embedding (hash)", "Positional encoding (sinusoidal)", "Encoded = embedding + positional",
                  "additive weights (rows: queries, columns: keys)", "additive output (8 x 8)",
                  "flash: weights never materialised", "flash sentence vector", "Variants compared"):
        assert title in r.stdout
    assert "deskmate" in r.stdout and "\x1b[" not in r.stdout  # no colour codes when not a terminal


def test_options_reach_the_config():
    r = invoke("run", "a b c", "-F", "json", "--dim", "6", "--heads", "3", "--head-dim", "5", "--positional",
               "linear", "--tokenizer", "char", "--seed", "9", "--causal", "--concat", "--pool", "first")
    assert r.exit_code == 0, r.stderr
    rec = json.loads(r.stdout)
    assert rec["config"] == {"tokenizer": "char", "embedding": "hash", "positional": "linear", "dim": 6, "heads": 3,
                             "head_dim": 5, "attention": ["multi-head"], "causal": True, "concat": True,
                             "pool": "first", "seed": 9, "block_size": 256, "backend": "numpy", "device": "auto",
                             "dtype": "float32", "strict": False, "weights": False, "max_memory": 4 * 2**30}
    out = np.array(rec["attention"][0]["output"])
    assert out.shape == (3, 15)  # --concat: T x (H * head_dim)
    np.testing.assert_array_equal(rec["attention"][0]["sentence_vector"], out[0])
    assert np.triu(np.array(rec["attention"][0]["weights"]), k=1).max() == 0  # causal


def test_omit_and_backend_options_reach_the_record():
    r = invoke("run", "a b c", "-F", "jsonl", "--omit", "params", "--omit", "weights", "-a", "flash", "-a",
               "multi-head", "--backend", "torch", "--device", "cpu", "--dtype", "bfloat16", "--weights")
    assert r.exit_code == 0, r.stderr
    rec = json.loads(r.stdout)
    assert rec["omitted"] == ["params", "weights"] and "params" not in rec["attention"][0]
    flash = rec["attention"][0]
    assert (flash["backend"], flash["device"], flash["dtype"]) == ("torch", "cpu", "bfloat16")
    assert flash["kernel"] == "aten::_scaled_dot_product_flash_attention_for_cpu"
    assert flash["explicit_max_abs_delta"] is not None and flash["reference_max_abs_delta"] > 0
    table = invoke("run", "a b c", "-a", "flash", "--backend", "torch", "--device", "cpu").stdout
    assert "ran on torch, cpu, float32; kernel aten::_scaled_dot_product_flash_attention_for_cpu" in table


def test_several_lines_give_one_record_each():
    stdin = "first sentence\r\n\n  \nsecond one\nthird\n"  # CRLF and blank lines
    r = invoke("run", "-", "-F", "jsonl", input=stdin)
    assert r.exit_code == 0, r.stderr
    texts = [json.loads(line)["text"] for line in r.stdout.splitlines()]
    assert texts == ["first sentence", "second one", "third"]
    r = invoke("run", "-", "-F", "json", input=stdin)
    assert [rec["text"] for rec in json.loads(r.stdout)] == texts  # json: one array for stdin / files


def test_whole_reads_stdin_as_one_text():
    r = invoke("run", "-", "--whole", "-F", "jsonl", input="line one\nline two\n")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["tokens"] == ["line", "one", "line", "two"]


def test_example_and_variants_and_version():
    r = invoke("example")
    assert r.exit_code == 0, r.stderr
    assert "0.033" in r.stdout and "0.132" in r.stdout and "Where the article's step differs" in r.stdout
    rec = json.loads(invoke("example", "-F", "json").stdout)
    assert rec["article"]["concatenation"] == [0.033, 0.044, 0.132, 0.044, 0.011, 0.11, 0.099, 0.044,
                                               0.044, 0.066, 0.033, 0.088]
    assert rec["encoded"][1] == [0.55, 0.66, 0.77, 0.88]
    names = [row["variant"] for row in json.loads(invoke("variants", "-F", "json").stdout)]
    assert names == ["additive", "scaled-dot", "self", "multi-head", "flash"]
    assert invoke("--version").stdout.strip() == f"vectorize {__version__}"


@pytest.mark.parametrize(
    "args, stdin, code, message",
    [
        (["run", ""], None, 2, "the text has no tokens"),
        (["run", " \t "], None, 2, "the text has no tokens"),
        (["run", "-"], "\n \n", 2, "no text: the input is empty or blank"),
        (["run", "hi", "-a", "nope"], None, 2, "'nope' is not one of 'additive', 'scaled-dot'"),
        (["run", "hi", "--positional", "rope"], None, 2, "'rope' is not one of"),
        (["run", "hi", "--dim", "7", "--heads", "2"], None, 2, "--dim 7 does not split into 2 heads"),
        (["run", "hi", "--dim", "0"], None, 2, "--dim"),
        (["run", "hi", "--head-dim", "-3"], None, 2, "--head-dim"),
        (["run", "hi", "--format", "xml"], None, 2, "'xml' is not one of"),
        (["run", "hi", "--bogus"], None, 2, "--bogus"),
        (["run", "hi", "--max-memory", "lots"], None, 2, "--max-memory: cannot read 'lots'"),
        (["run", "hi", "--dtype", "bfloat16"], None, 2, "--dtype bfloat16 needs --backend torch"),
        (["run", "hi", "--omit", "tokens"], None, 2, "'tokens' is not one of"),
        (["run", "hi " * 5000, "--max-memory", "1MB"], None, 1, "over --max-memory 976.6 KiB; use -a flash"),
        (["run"], None, 2, "give a TEXT, `-` to read stdin, or --file FILE"),
        (["run", "hi", "--file", "x.txt"], None, 2, "give TEXT or --file, not both"),
        (["run", "hi", "--whole"], None, 2, "--whole applies to stdin"),
        (["run", "--file", "/no/such/file.txt"], None, 1, "cannot read /no/such/file.txt: No such file or directory"),
        (["run", "--file", "/"], None, 1, "cannot read /"),
        (["run", "-"], b"ok line\n\xff\xfebad\n", 1, "stdin is not valid UTF-8: byte 0xff at byte offset 8"),
        (["nope"], None, 2, "No such command 'nope'"),
    ],
)
def test_errors_are_one_line_with_a_documented_exit_code(args, stdin, code, message):
    r = invoke(*args, input=stdin)
    assert r.exit_code == code, (r.stdout, r.stderr)
    assert message in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vectorize: error: "), r.stderr
    assert "Traceback" not in r.stderr
    if code != 1 or "UTF-8" not in message:
        assert r.stdout == ""


def _vectorize(*args, input=None, env=None):
    return subprocess.run([sys.executable, "-m", "vectorize_cli", *args], input=input, capture_output=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_module_entry_point_and_invalid_utf8_argument():
    r = _vectorize("run", "hello world", "-F", "jsonl")
    assert r.returncode == 0 and json.loads(r.stdout)["tokens"] == ["hello", "world"]
    r = _vectorize("run", os.fsdecode(b"caf\xe9"))  # argv bytes that are not UTF-8
    assert r.returncode == 2
    assert r.stderr.decode() == "vectorize: error: TEXT is not valid UTF-8: byte 0xe9 at byte offset 3\n"


@pytest.mark.parametrize("fmt", ["jsonl", "json", "table"])
def test_closed_pipe_ends_quietly(fmt):
    """`| head -1`: exit 141 and nothing on stderr, in every format (rich alone would exit 1 for tables)."""
    lines = "\n".join(f"sentence number {i}" for i in range(3000)).encode()
    p = subprocess.Popen([sys.executable, "-m", "vectorize_cli", "run", "-", "-F", fmt], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(lines)
    p.stdin.close()
    first = p.stdout.readline()
    p.stdout.close()  # what `| head -1` does
    assert p.wait(timeout=120) == 141
    assert p.stderr.read() == b""
    if fmt == "jsonl":
        assert json.loads(first)["text"] == "sentence number 0"


def test_default_run_never_imports_torch():
    code = ("import sys; from vectorize_cli.__main__ import main; sys.argv = ['vectorize', 'run', 'a b', '-F', 'jsonl', "
            "'-a', 'flash', '-a', 'additive']\ntry: main()\nexcept SystemExit: pass\n"
            "assert 'torch' not in sys.modules, 'torch was imported'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_the_shutdown_is_left_nothing_to_collect_and_the_output_is_whole(tmp_path):
    """After the command, __main__ freezes what is alive (gc.freeze): the interpreter's last collections walk
    none of it; the file written and stdout's last line are whole all the same."""
    code = ("import gc, sys; from vectorize_cli.__main__ import main; sys.argv = ['vectorize', 'run', 'a b', '-F', "
            "'jsonl', '-o', sys.argv[1]]\ntry: main()\nexcept SystemExit as e: assert not e.code, e.code\n"
            "print(gc.get_freeze_count(), len(gc.get_objects()))\nsys.stdout.write('last line, unflushed')")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "out.jsonl")], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    frozen, tracked = map(int, r.stdout.splitlines()[0].split())
    assert frozen > 10_000 and tracked < frozen / 10, (frozen, tracked)
    assert r.stdout.endswith("last line, unflushed")
    assert json.loads((tmp_path / "out.jsonl").read_text())["tokens"] == ["a", "b"]


def test_output_file_is_written_atomically_and_not_overwritten_without_force(tmp_path):
    target = tmp_path / "out.jsonl"
    r = invoke("run", "a b", "-F", "jsonl", "-o", str(target))
    assert r.exit_code == 0 and r.stdout == "" and json.loads(target.read_text())["tokens"] == ["a", "b"]
    r = invoke("run", "c d", "-F", "jsonl", "-o", str(target))
    assert r.exit_code == 2 and "exists; add --force" in r.stderr
    assert json.loads(target.read_text())["tokens"] == ["a", "b"]
    r = invoke("run", "-", "-F", "jsonl", "-o", str(target), "--force", input="good line\n\x01\n")  # fails on line 2
    assert r.exit_code == 2 and "no tokens" in r.stderr
    assert json.loads(target.read_text())["tokens"] == ["a", "b"]  # untouched: no truncated file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]  # and no temporary left behind
    r = invoke("run", "e f", "-o", str(target), "--force")  # tables to a file: plain text
    assert r.exit_code == 0 and "Embedding (hash)" in target.read_text() and "\x1b[" not in target.read_text()


def test_sigint_stops_a_batch_with_exit_130_and_whole_lines(tmp_path):
    import signal
    import time

    batch = tmp_path / "batch.txt"
    batch.write_text(("a rather long sentence to keep it busy " * 20 + "\n") * 2000)
    with open(batch, "rb") as stdin:
        p = subprocess.Popen([sys.executable, "-m", "vectorize_cli", "run", "-", "-F", "jsonl", "-a", "additive",
                              "--dim", "64"], stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = p.stdout.readline()  # it is running
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    out = p.stdout.read()  # through the same buffer readline() used (communicate() would skip what it holds)
    err = p.stderr.read()
    assert p.wait(timeout=60) == 130
    assert b"Traceback" not in err
    lines = (first + out).splitlines()
    assert 1 <= len(lines) < 2000 and (first + out).endswith(b"\n")
    for line in lines:
        json.loads(line)  # every line written is a whole record
