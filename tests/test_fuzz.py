"""Never a traceback, never a wrong number (issue 4): hostile text and options through CliRunner and
real processes, files and streams that misbehave, sizes no memory holds, extreme scales, determinism.

The properties live in tests/fuzzing.py. CI runs a deterministic slice (derandomized hypothesis, no
example database); `pytest -m fuzz` runs a bigger random one, and benchmarks/fuzz.py 10,000+ cases.
"""

import json
import os
import pickle
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fuzzing import FRAGMENTS, Case, argv_safe, cases, check, in_process, in_subprocess
from vectorize_cli.attention.variants import VARIANTS
from vectorize_cli.config import Config
from vectorize_cli.errors import VectorizeError
from vectorize_cli.pipelines.toy import attend
from test_cli import invoke

SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example,
           HealthCheck.filter_too_much]
CI = settings(derandomize=True, database=None, deadline=None, suppress_health_check=SLOW_OK)
FUZZ = settings(database=None, deadline=None, suppress_health_check=SLOW_OK)


@pytest.fixture(scope="module")
def tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _case(text: str, *args: str, mode: str = "argument", fmt: str = "jsonl", data: bytes | None = None) -> Case:
    """A case written by hand: the oracle needs the options as the strategies spell them."""
    opts, it = {"attention": [], "format": fmt}, iter(args)
    for a in it:
        if a == "-a":
            opts["attention"].append(next(it))
        elif a.startswith("--") and a not in ("--causal", "--concat", "--weights", "--whole"):
            value = next(it)
            opts[a] = int(value) if value.lstrip("-").isdigit() else value
        else:
            opts[a] = True
    opts["attention"] = list(dict.fromkeys(opts["attention"])) or ["multi-head"]
    if mode != "argument" and data is None:
        data = text.encode("utf-8", "surrogatepass")
    return Case([*args, "--format", fmt], text, mode, data, opts)


# --- the properties over generated cases ---------------------------------------------------------------------

def _in_process_property(case: Case, tmp: Path) -> None:
    code, out, err = in_process(case, tmp)
    check(case, code, out, err)
    assert in_process(case, tmp) == (code, out, err), "a second run differs"


def _subprocess_property(case: Case, hash_seed: int, tmp: Path) -> None:
    assume(argv_safe(case))
    code, out, err = in_subprocess(case, tmp, hash_seed)
    check(case, code, out, err)
    assert (code, out) == in_process(case, tmp)[:2], "a real process and CliRunner differ"


@settings(CI, max_examples=200)
@given(case=cases())
def test_any_text_and_options_in_process(case, tmp):
    _in_process_property(case, tmp)


@settings(CI, max_examples=12)
@given(case=cases(), hash_seed=st.integers(0, 2**32 - 1))
def test_any_text_and_options_in_a_real_process(case, hash_seed, tmp):
    _subprocess_property(case, hash_seed, tmp)


@pytest.mark.fuzz
@settings(FUZZ, max_examples=3000)
@given(case=cases())
def test_fuzz_in_process(case, tmp):
    _in_process_property(case, tmp)


@pytest.mark.fuzz
@settings(FUZZ, max_examples=200)
@given(case=cases(), hash_seed=st.integers(0, 2**32 - 1))
def test_fuzz_in_a_real_process(case, hash_seed, tmp):
    _subprocess_property(case, hash_seed, tmp)


# --- every hostile fragment, every tokenizer -----------------------------------------------------------------

@pytest.mark.parametrize("tokenizer, how", [
    ("word", ("-a", "multi-head", "-a", "flash", "--causal")),
    ("whitespace", ("-a", "additive", "-a", "self", "--mode", "stdin", "--fmt", "json")),
    ("char", ("-a", "scaled-dot", "--whole", "--mode", "file", "--fmt", "table")),
])
def test_every_fragment_alone_and_in_a_sentence(tokenizer, how, tmp):
    args, kw = list(how), {}
    for key in ("--mode", "--fmt"):
        if key in args:
            at = args.index(key)
            kw[key[2:]] = args.pop(at + 1)
            args.pop(at)
    for fragment in FRAGMENTS:
        for text in (fragment, f"a{fragment}b {fragment} c"):
            case = _case(text, "-t", tokenizer, *args, **kw)
            try:
                check(case, *in_process(case, tmp))
            except AssertionError as e:
                raise AssertionError(f"{case!r}: {e}") from e


def test_every_fragment_as_bytes_on_stdin_of_a_real_process(tmp):
    lines = [f"x{f}y" for f in FRAGMENTS if "\n" not in f]
    data = "\n".join(lines).encode("utf-8", "surrogatepass")  # the lone surrogates: invalid UTF-8
    good = "\n".join(t for t in lines if not re.search("[\ud800-\udfff]", t))
    for case in (_case("", "-a", "flash", mode="stdin", data=data),
                 _case(good, "-a", "flash", "-a", "self", mode="stdin"),
                 _case(good, "-t", "char", "--whole", mode="stdin", fmt="json")):
        check(case, *in_subprocess(case, tmp))


# --- long texts ---------------------------------------------------------------------------------------------

def test_100000_characters(tmp):
    words = "word " * 20_000  # T = 20,000 on one line: flash runs in linear memory, explicit is refused
    flash = _case(words, "-a", "flash", "--omit", "params", "--whole", mode="stdin")
    code, out, err = in_subprocess(flash, tmp)
    assert code == 0, err
    assert len(json.loads(out)["tokens"]) == 20_000
    check(flash, code, out, err)
    for case in (_case(words, "-a", "multi-head", mode="stdin"),
                 _case("我" * 100_000, "-t", "char", "-a", "additive"),
                 _case("👩‍👩‍👧‍👦" * 25_000, "-t", "char", "-a", "self", mode="file")):
        code, out, err = in_process(case, tmp)
        assert code == 1 and b"over --max-memory" in err and b"use -a flash" in err, err
        check(case, code, out, err)
    one_token = _case("a" * 100_000, "-a", "multi-head", "-a", "flash")  # one word of 100,000 letters
    code, out, err = in_process(one_token, tmp)
    assert code == 0 and json.loads(out)["tokens"] == ["a" * 100_000]
    check(one_token, code, out, err)


# --- sizes: small, odd, zero, negative, beyond 64 bits, beyond any memory ----------------------------------------

@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("sizes", [("--dim", "1", "--heads", "1"), ("--dim", "7", "--heads", "3", "--head-dim", "2"),
                                   ("--dim", "5", "--heads", "5", "--block-size", "1"),
                                   ("--dim", "3", "--heads", "1", "--concat")])
def test_small_and_odd_sizes_give_correct_numbers(variant, sizes, tmp):
    for text in ("one", "one two three four five six seven"):  # T = 1 and T = 7
        for extra in ((), ("--causal", "--pool", "max"), ("-p", "linear", "--pool", "first")):
            case = _case(text, "-a", variant, *sizes, *extra)
            code, out, err = in_process(case, tmp)
            assert code == 0, err
            check(case, code, out, err)


@pytest.mark.parametrize("args, message", [
    (["--dim", "0"], "--dim"), (["--heads", "-2"], "--heads"), (["--head-dim", "0"], "--head-dim"),
    (["--block-size", "0"], "--block-size"), (["--decimals", "13"], "--decimals"),
    (["--dim", "7"], "--dim 7 does not split into 2 heads"),
    (["--seed", str(2**63)], "--seed 9223372036854775808 does not fit in a signed 64-bit integer"),
    (["--seed", str(-2**63 - 1)], "does not fit in a signed 64-bit integer"),
    (["--block-size", str(2**64)], "--block-size 18446744073709551616 does not fit"),
    (["--dim", "1" + "0" * 30], "does not fit in a signed 64-bit integer"),
    (["--max-memory", "1e400"], "--max-memory '1e400' is out of range"),
    (["--max-memory", "0.5"], "out of range: at least 1 byte"),
    (["--max-memory", "16EiB"], "'16EiB' is out of range"),
    (["--max-memory", "16ZiB"], "cannot read '16ZiB'"),
    (["--device", "cuda"], "--device cuda needs --backend torch"),
])
def test_sizes_that_do_not_fit_are_usage_errors(args, message, tmp):
    r = in_process(_case("hello world", *args), tmp)
    assert r[0] == 2 and message in r[2].decode(), r[2]
    check(_case("hello world", *args), *r)


def test_extreme_seeds_fit_the_json_exactly(tmp):
    for seed in (2**63 - 1, -2**63, -1):
        code, out, err = in_process(_case("a b", "--seed", str(seed)), tmp)
        assert code == 0 and json.loads(out)["config"]["seed"] == seed, err


@pytest.mark.parametrize("args", [
    ["--dim", str(10**9)], ["--dim", str(2**63 - 2), "-a", "scaled-dot"], ["--heads", str(10**9), "--head-dim", "1"],
    ["--head-dim", str(10**9)], ["-a", "additive", "--dim", str(10**6)], ["-a", "self", "--dim", "40000"],
    ["-a", "flash", "--dim", "2", "--heads", "1", "--head-dim", str(2**62)],
    ["--backend", "torch", "--dim", str(10**9)],
])
def test_huge_sizes_are_refused_before_reading_any_input(args):
    """stdin stays open and empty: the memory guard answers first, with its estimate, and nothing is allocated."""
    p = subprocess.Popen([sys.executable, "-m", "vectorize_cli", "run", "-", *args], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.wait(timeout=120)  # stdin still open: it answers without reading it
    out, err = p.stdout.read(), p.stderr.read()
    p.stdin.close()
    assert p.returncode == 1, err
    assert err.decode().startswith("vectorize: error: this run needs about ") and "over --max-memory 4.0 GiB" in \
        err.decode() and err.count(b"\n") == 1, err
    assert out == b""


def test_a_process_memory_limit_is_an_error_not_a_kill():
    """Past --max-memory's estimate, a real limit (here RLIMIT_AS) still ends in one line and exit 1."""
    resource = pytest.importorskip("resource")

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))

    r = subprocess.run([sys.executable, "-m", "vectorize_cli", "run", "hi", "-a", "self", "--dim", "20000",
                        "--max-memory", "100GiB"], capture_output=True, preexec_fn=limit, timeout=120)
    assert r.returncode == 1 and r.stderr.startswith(b"vectorize: error: out of memory") and r.stdout == b""


def test_json_text_counts_against_max_memory(tmp):
    words = " ".join(f"w{i}" for i in range(400))  # weights 2 x 400 x 400: fine as arrays, not as 4 MiB of text
    code, out, err = in_process(_case(words, "--max-memory", "5MiB"), tmp)
    assert code == 1 and b"this record's JSON needs about" in err and b"--omit weights" in err, err
    assert out == b""
    code, out, err = in_process(_case(words, "--max-memory", "5MiB", "--omit", "weights"), tmp)
    assert code == 0, err


# --- numbers at extreme scales -------------------------------------------------------------------------------

@pytest.mark.parametrize("scale", [1e4, 1e-8])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_no_nan_or_inf_at_extreme_scales_and_flash_agrees(scale, causal, backend):
    if backend == "torch":
        pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    for T, d, H, hs, block in ((1, 1, 1, 1, 1), (9, 6, 3, 2, 4), (37, 12, 2, 5, 8)):
        x = (rng.standard_normal((T, d)) * scale).astype(np.float32)
        c = Config(dim=d, heads=H, head_dim=hs, causal=causal, block_size=block, backend=backend, device="cpu",
                   attention=tuple(VARIANTS))
        out = {v: attend(v, x, c) for v in VARIANTS}
        for v, r in out.items():
            assert np.isfinite(r.output).all() and np.isfinite(r.sentence_vector).all(), v
            if r.weights is not None:
                assert np.isfinite(r.weights).all()
                np.testing.assert_allclose(r.weights.sum(axis=-1), 1, atol=1e-5)
        y, y_flash = out["multi-head"].output, out["flash"].output
        assert np.abs(y_flash - y).max() <= 1e-5 * np.abs(y).max() + 1e-30, (T, scale)


def test_mean_pooling_of_a_long_text_is_the_exact_mean():
    """Found by benchmarks/fuzz.py: a float32 sum over thousands of tokens drifted by 2e-5."""
    from vectorize_cli.pipelines.toy import trace as run

    text = "one two three " * 3000  # no positions: the same few rows 3,000 times, rounding errors add up
    for variant in ("flash", "scaled-dot"):
        a = run(text, Config(attention=(variant,), heads=3, head_dim=8, positional="none")).blocks[0]
        exact = a.output.astype(np.float64).mean(axis=0)
        np.testing.assert_allclose(a.sentence_vector, exact, rtol=1e-7, atol=1e-7)


def test_half_precision_overflow_is_an_error_not_nan():
    pytest.importorskip("torch")
    x = (np.random.default_rng(0).standard_normal((16, 8)) * 1e4).astype(np.float32)
    c = Config(dim=8, heads=2, backend="torch", device="cpu", dtype="float16", attention=("scaled-dot",))
    with pytest.raises(VectorizeError, match="scaled-dot overflowed in float16.*use --dtype float32 or bfloat16"):
        attend("scaled-dot", x, c)


def test_linear_positions_of_a_long_text_overflow_float16_with_a_clear_error(tmp):
    pytest.importorskip("torch")
    words = " ".join(f"w{i}" for i in range(600))  # positions up to 0.01 * T * d = 96
    case = _case(words, "-p", "linear", "-d", "16", "-a", "scaled-dot", "--backend", "torch", "--device", "cpu",
                 "--dtype", "float16")
    code, out, err = in_process(case, tmp)
    assert code == 1 and b"overflowed in float16" in err and out == b"", err


# --- determinism ---------------------------------------------------------------------------------------------

def test_byte_identical_across_runs_processes_and_hash_seeds(tmp):
    text = "Déjà vu: 我和同桌 👩‍👩‍👧‍👦, don't\tstop ﬁ Å cafe\u0301 \u202eevil\n" * 3
    every = ["-a", "additive", "-a", "scaled-dot", "-a", "self", "-a", "multi-head", "-a", "flash", "-p", "learned",
             "--seed", "-7"]
    for args, fmt, mode in ((every, "json", "stdin"), (every, "table", "file"),
                            (["-t", "char", "--causal", "--concat", "--pool", "max"], "jsonl", "stdin")):
        case = _case(text, *args, mode=mode, fmt=fmt)
        first = in_process(case, tmp)
        assert first[0] == 0, first[2]
        check(case, *first)
        for hash_seed in (0, 1, 2**32 - 1):
            assert in_subprocess(case, tmp, hash_seed)[:2] == first[:2], (fmt, hash_seed)


# --- files and streams ---------------------------------------------------------------------------------------

def _one_error_line(stderr: bytes, code: int, expected: int, message: str) -> None:
    assert code == expected, stderr
    assert stderr.count(b"\n") == 1 and stderr.startswith(b"vectorize: error: ") and message.encode() in stderr, stderr


@pytest.mark.parametrize("content, code, message", [
    (None, 1, "Is a directory"),
    (b"", 2, "no text: the input is empty or blank"),
    (b"\n\r\n \t \n", 2, "no text"),
    (b"ok\n\x00\x01\x02\n", 2, "no tokens"),
    (b"text " + bytes(range(128, 256)), 1, "is not valid UTF-8: byte 0x80 at byte offset 5"),
    (b"\xff\xfeh\x00i\x00", 1, "is not valid UTF-8: byte 0xff at byte offset 0 (UTF-16? convert it to UTF-8"),
    (b"fine\ncaf\xc3", 1, "is not valid UTF-8: byte 0xc3 at byte offset 8"),
    (b"\xef\xbb\xbfbom first\r\nthen crlf\r\n", 0, ""),
])
def test_files_that_are_directories_empty_binary_or_odd(tmp_path, content, code, message):
    path = tmp_path / "input"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    r = invoke("run", "--file", str(path), "-F", "jsonl")
    if code:
        _one_error_line(r.stderr_bytes, r.exit_code, code, message)
    else:
        assert r.exit_code == 0 and [json.loads(line)["text"] for line in r.stdout.splitlines()] == \
            ["bom first", "then crlf"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_text("hello\n")
    path.chmod(0)
    r = invoke("run", "--file", str(path))
    _one_error_line(r.stderr_bytes, r.exit_code, 1, "Permission denied")


def test_closed_stdin_stdout_and_stderr(tmp_path):
    close = lambda fd: (lambda: os.close(fd))  # noqa: E731  the shell's `<&-`, `>&-`, `2>&-`
    r = subprocess.run([sys.executable, "-m", "vectorize_cli", "run", "-"], capture_output=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=close(0), timeout=120)
    _one_error_line(r.stderr, r.returncode, 1, "stdin is closed")
    r = subprocess.run([sys.executable, "-m", "vectorize_cli", "run", "hi"], stderr=subprocess.PIPE,
                       preexec_fn=close(1), timeout=120)
    _one_error_line(r.stderr, r.returncode, 1, "stdout is closed")
    out = tmp_path / "out.jsonl"  # with stdout closed, --output still works
    r = subprocess.run([sys.executable, "-m", "vectorize_cli", "run", "hi", "-F", "jsonl", "-o", str(out)],
                       stderr=subprocess.PIPE, preexec_fn=close(1), timeout=120)
    assert r.returncode == 0 and json.loads(out.read_text())["tokens"] == ["hi"]
    r = subprocess.run([sys.executable, "-m", "vectorize_cli", "run", "-", "-F", "jsonl"], input=b"hi\n",
                       stdout=subprocess.PIPE, preexec_fn=close(2), timeout=120)
    assert r.returncode == 0 and json.loads(r.stdout)["tokens"] == ["hi"]
    r = subprocess.run([sys.executable, "-m", "vectorize_cli", "run", ""], preexec_fn=close(2), timeout=120)
    assert r.returncode == 2  # the error has nowhere to go, the exit code still tells


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("args", [["run", "hi", "-F", "jsonl"], ["run", "hi"], ["run", "-", "-F", "json"],
                                  ["example"], ["variants", "-F", "json"]])
def test_a_full_disk_is_one_line_and_exit_1(args):
    with open("/dev/full", "wb") as full:
        r = subprocess.run([sys.executable, "-m", "vectorize_cli", *args], input=b"a\nb\n", stdout=full,
                           stderr=subprocess.PIPE, timeout=120)
    _one_error_line(r.stderr, r.returncode, 1, "No space left on device")


def test_output_is_never_a_device_or_a_pipe(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    r = invoke("run", "hi", "-o", str(fifo), "--force")
    _one_error_line(r.stderr_bytes, r.exit_code, 2, "is not a regular file")
    assert fifo.exists() and not fifo.is_file()  # not replaced by a file


@pytest.mark.parametrize("text, message", [
    ("ab\udfff", "lone surrogate U+DFFF at byte offset 2"),  # was "byte 0x3ff": only U+DC80..U+DCFF are bytes
    ("\ud83d!", "lone surrogate U+D83D at byte offset 0"),  # half an emoji
    ("é\udcff", "byte 0xff at byte offset 2"),  # an argv byte Python could not decode
])
def test_lone_surrogates_in_text_are_named(text, message, tmp):
    r = invoke("run", text)
    _one_error_line(r.stderr_bytes, r.exit_code, 2, f"TEXT is not valid UTF-8: {message}")


def test_text_starting_with_a_dash_follows_a_double_dash(tmp):
    code, out, err = in_process(_case("-1 is a number", "-a", "flash"), tmp)  # argv: run ... -- "-1 is a number"
    assert code == 0 and json.loads(out)["tokens"] == ["-", "1", "is", "a", "number"], err


def test_sigint_before_the_first_record_exits_130_quietly():
    p = subprocess.Popen([sys.executable, "-m", "vectorize_cli", "run", "-", "-F", "jsonl"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(b"first line\n")
    p.stdin.flush()
    assert json.loads(p.stdout.readline())["text"] == "first line"  # running, waiting for more input
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130 and out == b"" and err == b"vectorize: error: interrupted\n"


# --- files the tool loads are never unpickled ----------------------------------------------------------------

class _Boom:
    """Unpickling this creates a directory: proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def _tiny_bert(folder: Path) -> None:
    """A BERT of width 4 (1 layer, 2 heads), its config and weights valid: what is loaded past them is the test."""
    from safetensors.numpy import save_file

    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({
        "model_type": "bert", "vocab_size": 8, "hidden_size": 4, "num_hidden_layers": 1, "num_attention_heads": 2,
        "intermediate_size": 8, "max_position_embeddings": 16}))
    shapes = {"embeddings.word_embeddings.weight": (8, 4), "embeddings.position_embeddings.weight": (16, 4),
              "embeddings.token_type_embeddings.weight": (2, 4), "embeddings.LayerNorm.weight": (4,),
              "embeddings.LayerNorm.bias": (4,)}
    layer = {"attention.self.query": (4, 4), "attention.self.key": (4, 4), "attention.self.value": (4, 4),
             "attention.output.dense": (4, 4), "intermediate.dense": (8, 4), "output.dense": (4, 8),
             "attention.output.LayerNorm": (4,), "output.LayerNorm": (4,)}
    for name, shape in layer.items():
        shapes[f"encoder.layer.0.{name}.weight"], shapes[f"encoder.layer.0.{name}.bias"] = shape, shape[:1]
    save_file({k: np.ones(s, dtype=np.float32) for k, s in shapes.items()}, str(folder / "model.safetensors"))


def test_model_files_are_never_unpickled(tmp_path):
    """A pickle where the weights or the tokenizer should be is an error naming the file; it never runs."""
    pytest.importorskip("safetensors")
    pytest.importorskip("tokenizers")
    from vectorize_cli.model.bert import load

    marker = tmp_path / "code-ran"
    payload = pickle.dumps(_Boom(marker))
    folder = tmp_path / "model"
    _tiny_bert(folder)
    weights = (folder / "model.safetensors").read_bytes()
    (folder / "pytorch_model.bin").write_bytes(payload)  # the pickled weights other tools would load: ignored
    for name in ("model.safetensors", "tokenizer.json"):
        (folder / "model.safetensors").write_bytes(weights)
        (folder / "tokenizer.json").write_text("{}")
        (folder / name).write_bytes(payload)
        load.cache_clear()
        with pytest.raises(VectorizeError, match=f"cannot read .*{re.escape(name)}"):
            load(str(folder))
        r = invoke("run", "hi", "--model", str(folder))
        assert r.exit_code == 1 and f"cannot read {folder / name}" in r.stderr
        assert not marker.exists()
    load.cache_clear()


def test_the_package_never_imports_pickle_or_loads_with_it():
    root = Path(__file__).resolve().parents[1] / "vectorize_cli"
    for path in root.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        for bad in ("import pickle", "pickle.load", "torch.load(", "allow_pickle=True", "import joblib", "import dill"):
            assert bad not in source, f"{path.relative_to(root)}: {bad}"
