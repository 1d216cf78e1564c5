"""Hostile input, round two (issue 14): crafted model folders, files that change under the tool,
signals at any moment. Every test runs the real command in a real process (a FIFO or /dev/zero
must not hang the suite: each has a timeout) and holds the rules of the house: exit 0 with whole,
finite output, or one line `vectorize: error: ...` and exit 1 / 2; never a traceback."""

import io
import json
import os
import resource
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tokenizers")
pytest.importorskip("safetensors")

import model_fuzzing as mf  # noqa: E402
from conftest import ROOT  # noqa: E402


def cli(*args, stdin: bytes | None = b"", env: dict | None = None, timeout: float = 120, **kw):
    """`python -m vectorize_cli ARGS` -> (exit code, stdout bytes, stderr text)."""
    p = subprocess.run([sys.executable, "-m", "vectorize_cli", *map(str, args)], input=stdin, capture_output=True,
                       timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})}, **kw)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def one_error(rc: int, err: str, code: int, *words: str) -> None:
    assert rc == code, err
    assert "Traceback" not in err and "panicked" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("vectorize: error: "), err
    for w in words:
        assert w in lines[0], lines[0]


@pytest.fixture
def tiny(tmp_path) -> Path:
    """A tiny, valid BERT folder (random weights, a WordPiece tokenizer built by `tokenizers`)."""
    return mf.make_folder(tmp_path / "tiny", seed=int.from_bytes(os.urandom(2), "little"))


def edit_json(path: Path, **changes) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def test_the_tiny_folder_runs(tiny):
    rc, out, err = cli("run", "-", "--model", tiny, "-F", "npy", stdin=b"the cat sat\na dog\n")
    assert rc == 0, err
    a = np.load(io.BytesIO(out))
    assert a.shape == (2, 8) and np.isfinite(a).all()


# --- model folders: the optional files are read as the required ones are --------------------------------------

@pytest.mark.parametrize("name", ["modules.json", "sentence_bert_config.json", "1_Pooling/config.json",
                                  "config.json", "tokenizer.json", "model.safetensors"])
@pytest.mark.parametrize("kind", ["fifo", "dev_zero"])
def test_a_fifo_or_dev_zero_in_the_folder_is_refused_not_read(tiny, name, kind):
    if name == "1_Pooling/config.json":
        (tiny / "modules.json").write_text(json.dumps([{"type": "sentence_transformers.models.Pooling",
                                                        "path": "1_Pooling"}]))
    path = tiny / name
    path.parent.mkdir(exist_ok=True)
    path.unlink(missing_ok=True)
    os.mkfifo(path) if kind == "fifo" else path.symlink_to("/dev/zero")
    t = time.perf_counter()
    rc, out, err = cli("run", "the cat", "--model", tiny, "-F", "json", timeout=60)
    one_error(rc, err, 1, name, "not a regular file" if kind == "fifo" else "links outside the model folder")
    assert time.perf_counter() - t < 60 and not out


@pytest.mark.parametrize("where", ["../elsewhere", "/ABS"])
def test_a_modules_json_path_outside_the_folder_is_refused(tiny, tmp_path, where):
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "config.json").write_text('{"pooling_mode_cls_token": true}')
    where = where.replace("/ABS", str(other))
    (tiny / "modules.json").write_text(json.dumps([{"type": "sentence_transformers.models.Pooling", "path": where}]))
    one_error(*cli("run", "the cat", "--model", tiny, "-F", "json")[::2], 1, "leads outside the model folder")


def test_a_link_out_of_the_folder_is_refused_but_a_hub_cache_snapshot_reads(tiny, tmp_path):
    secret = tmp_path / "secret.json"
    secret.write_text('{"max_seq_length": 8}')
    (tiny / "sentence_bert_config.json").symlink_to(secret)
    one_error(*cli("run", "the cat", "--model", tiny, "-F", "json")[::2], 1, "links outside the model folder")
    # the Hugging Face hub cache: snapshots/REV/* link into ../../blobs, inside the models--* entry
    entry = tmp_path / "models--org--tiny"
    (entry / "blobs").mkdir(parents=True)
    snap = entry / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    for f in tiny.iterdir():
        if f.is_file() and not f.is_symlink():
            (entry / "blobs" / f.name).write_bytes(f.read_bytes())
            (snap / f.name).symlink_to(Path("../../blobs") / f.name)
    rc, out, err = cli("run", "the cat", "--model", snap, "-F", "npy")
    assert rc == 0, err
    assert np.isfinite(np.load(io.BytesIO(out))).all()


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("fmt", ["json", "npy"])
def test_non_finite_weights_are_refused_before_any_text_runs(tmp_path, value, fmt, rng):
    cfg = mf.config()
    w = mf.tensors(cfg, rng)
    name = sorted(w)[int(rng.integers(len(w)))]
    w[name].flat[int(rng.integers(w[name].size))] = value
    folder = mf.write(tmp_path / "m", cfg, w, mf.tokenizer_json())
    rc, out, err = cli("similarity", "the cat", "a dog", "--model", folder, "-F", fmt)
    one_error(rc, err, 1, "model.safetensors", "non-finite")
    assert "RuntimeWarning" not in err and not out


def test_finite_weights_that_overflow_are_one_error_not_nan(tmp_path, rng):
    """Found by the model-folder fuzzer: a LayerNorm gain of 1e38 is finite, but the forward pass overflows."""
    cfg = mf.config()
    w = mf.tensors(cfg, rng)
    w["embeddings.LayerNorm.weight"][int(rng.integers(cfg["hidden_size"]))] = 1e38
    folder = mf.write(tmp_path / "m", cfg, w, mf.tokenizer_json())
    for cmd in (["run", "the cat", "-F", "json"], ["similarity", "the cat", "a dog", "-F", "npy"]):
        rc, out, err = cli(*cmd, "--model", folder)
        one_error(rc, err, 1, "overflowed float32")
        assert not out


@pytest.mark.parametrize("eps", ["NaN", "-1e-12", "0", "Infinity", "1e400"])
def test_layer_norm_eps_must_be_a_positive_finite_number(tiny, eps):
    path = tiny / "config.json"
    path.write_text(path.read_text().replace('"layer_norm_eps": 1e-12', f'"layer_norm_eps": {eps}'))
    one_error(*cli("run", "the cat", "--model", tiny, "-F", "json")[::2], 1, "config.json")


def test_a_regex_the_rust_tokenizer_gives_up_on_is_one_line(tiny):
    doc = json.loads((tiny / "tokenizer.json").read_text())
    doc["pre_tokenizer"] = {"type": "Split", "pattern": {"Regex": "(a+)+$"}, "behavior": "Isolated", "invert": False}
    (tiny / "tokenizer.json").write_text(json.dumps(doc))
    rc, out, err = cli("run", "a" * 60 + "b", "--model", tiny, "-F", "json", env={"RUST_BACKTRACE": "1"})
    one_error(rc, err, 1, "tokenizer.json", "tokenizer failed")


@pytest.mark.parametrize("name, content, words", [
    ("config.json", b"[" * 100_000 + b"]" * 100_000, ["config.json", "nested too deeply"]),
    ("sentence_bert_config.json", b'{"max_seq_length": ' + b"9" * 5000 + b"}", ["5000 digits"]),
    ("modules.json", b"{" * 50 + b"}" * 50, ["modules.json"]),
], ids=["deep", "5000-digits", "braces"])
def test_malformed_json_names_the_file_never_exit_70(tiny, name, content, words):
    (tiny / name).write_bytes(content)
    one_error(*cli("run", "the cat", "--model", tiny, "-F", "json")[::2], 1, *words)


def test_tokenizer_ids_beyond_vocab_size_and_type_ids_beyond_the_table(tiny):
    edit_json(tiny / "config.json", vocab_size=20)  # the word table then has 20 rows; the tokenizer gives more
    cfg = json.loads((tiny / "config.json").read_text())
    w = mf.tensors(cfg, np.random.default_rng(0))
    mf.write(tiny, cfg, w, mf.tokenizer_json())
    one_error(*cli("run", "the cat", "--model", tiny, "-F", "json")[::2], 1, "tokenizer.json", "vocab_size 20")
    tok = mf.tokenizer_json()
    tok["post_processor"]["single"][1]["Sequence"]["type_id"] = 7
    mf.write(tiny, mf.config(), mf.tensors(mf.config(), np.random.default_rng(0)), tok)
    one_error(*cli("run", "the cat", "--model", tiny, "-F", "json")[::2], 1, "token type 7", "type_vocab_size 2")


@pytest.mark.parametrize("pad", [-1, 10_000])
def test_a_pad_token_id_outside_the_vocabulary(tiny, pad):
    edit_json(tiny / "config.json", pad_token_id=pad)
    for cmd in (["run", "-", "-F", "npy"], ["similarity", "the cat", "a dog", "-F", "npy"]):
        one_error(*cli(*cmd, "--model", tiny, stdin=b"the cat sat\na dog\n")[::2], 1, "pad_token_id")


def test_a_text_that_gives_no_tokens(tiny):
    doc = json.loads((tiny / "tokenizer.json").read_text())
    doc["post_processor"] = None  # no [CLS] / [SEP]
    (tiny / "tokenizer.json").write_text(json.dumps(doc))
    rc, out, err = cli("run", "-", "--model", tiny, "-F", "npy", stdin=b"the cat\n\xe2\x80\x8b\n")  # U+200B: no token
    one_error(rc, err, 2, "input 2 gives no tokens")


@pytest.mark.parametrize("dtype, ok", [("int8", False), ("bool", False), ("int64", False), ("float64", True),
                                       ("float16", True)])
def test_weight_dtypes_are_converted_and_said_or_refused(tmp_path, dtype, ok, rng):
    cfg = mf.config()
    w = {k: v.astype(dtype) for k, v in mf.tensors(cfg, rng).items()}
    folder = mf.write(tmp_path / "m", cfg, w, mf.tokenizer_json())
    rc, out, err = cli("run", "the cat", "--model", folder, "-F", "npy")
    if not ok:
        one_error(rc, err, 1, "model.safetensors", "only float weights")
        return
    assert rc == 0 and err.count("\n") == 1 and f"{len(w)} {'F64' if dtype == 'float64' else 'F16'} tensor(s) " \
        "converted to float32" in err, err
    assert np.isfinite(np.load(io.BytesIO(out))).all()


def test_our_safetensors_reader_matches_safetensors(tmp_path, rng):
    """Fresh random tensors of every float dtype, read by weights.py and by safetensors.numpy."""
    from safetensors.numpy import load_file, save_file

    from vectorize_cli.model.weights import open_tensors

    arrays = {f"t{i}": rng.normal(0, 10, tuple(rng.integers(0, 5, rng.integers(0, 4)))).astype(dt)
              for i, dt in enumerate(["float32", "float16", "float64"] * 4)}
    save_file(arrays, str(tmp_path / "model.safetensors"))
    ref = load_file(str(tmp_path / "model.safetensors"))
    t = open_tensors(tmp_path, tmp_path / "model.safetensors")
    try:
        for name, a in ref.items():
            got = t.read(name)
            assert got.dtype == np.float32 and got.shape == a.shape
            np.testing.assert_array_equal(got, a.astype(np.float32))
    finally:
        os.close(t.fd)


def test_bfloat16_is_read_exactly(tmp_path, rng):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    from vectorize_cli.model.weights import open_tensors

    a = torch.from_numpy(rng.normal(0, 3, (7, 5)).astype(np.float32)).to(torch.bfloat16)
    save_file({"w": a}, str(tmp_path / "model.safetensors"))
    t = open_tensors(tmp_path, tmp_path / "model.safetensors")
    try:
        np.testing.assert_array_equal(t.read("w"), a.float().numpy())
    finally:
        os.close(t.fd)


# --- --max-memory with --model; truncation while tokenizing -------------------------------------------------------

def test_a_huge_line_costs_its_first_tokens(minilm_path, tmp_path):
    line = ("lorem ipsum dolor " * 1_000_000).encode() + b"\n"  # 18 MB, one line
    p = subprocess.run([sys.executable, "-c", "import resource, runpy, sys; "
                        "resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30)); "
                        "sys.argv = ['vectorize', 'run', '-', '--model', 'minilm', '-F', 'npy']; "
                        "runpy.run_module('vectorize_cli', run_name='__main__')"],
                       input=line, capture_output=True, timeout=300, cwd=ROOT)
    assert p.returncode == 0, p.stderr.decode()[-2000:]
    assert np.load(io.BytesIO(p.stdout)).shape == (1, 384) and b"truncated" in p.stderr


def test_truncation_while_tokenizing_gives_the_tokenizers_own_truncation(minilm, rng):
    """Fresh random long texts of real words and punctuation: the ids equal those of the whole text
    truncated by the tokenizers library itself (the reference)."""
    from tokenizers import Tokenizer

    ref = Tokenizer.from_file(str(minilm.folder.path / "tokenizer.json"))
    ref.no_padding()
    ref.enable_truncation(minilm.folder.max_length)
    words = ["the", "cat", "sat", "on", "mat", "naïve", "café", "漢字", ",", ".", "—", "unbelievable", "x" * 120,
             "antidisestablishmentarianism", "12345", "  ", "\n", "日本語のテキスト"]
    texts = ["".join(w + " " for w in rng.choice(words, int(rng.integers(100, 6000)))) for _ in range(12)]
    texts += [" ".join(rng.choice(words, int(rng.integers(2000, 20000)))) for _ in range(12)]
    texts += [" ".join(rng.choice(words, int(rng.integers(1, 60)))) for _ in range(40)]  # whole, some at the limit
    ours = minilm.tokenizer.encode(texts)
    for t, e, r in zip(texts, ours, ref.encode_batch(texts)):
        assert e.ids.tolist() == r.ids, t[:200]
        assert e.truncated == bool(r.overflowing)
        assert e.tokens == r.tokens
    for e, fast in zip(ours, minilm.tokenizer.encode(texts, tokens=False)):  # the corpus path: no token strings
        assert fast.ids.tolist() == e.ids.tolist() and fast.type_ids.tolist() == e.type_ids.tolist()
        assert fast.truncated == e.truncated
        with pytest.raises(ValueError, match="without its token strings"):
            fast.tokens


def test_similarity_of_many_lines_is_refused_before_allocating(minilm_path):
    lines = "".join(f"sentence {i}\n" for i in range(20_000)).encode()
    t = time.perf_counter()
    one_error(*cli("similarity", "-", "-F", "json", stdin=lines)[::2], 1, "over --max-memory", "20,000 x 20,000")
    assert time.perf_counter() - t < 60
    one_error(*cli("run", "-", "--model", "minilm", "-F", "npy", "--batch-size", "100000", "--max-memory", "64MiB",
                   stdin=lines)[::2], 1, "over --max-memory")


# --- files written --------------------------------------------------------------------------------------------

def _slow_writer(out: Path, *extra, **kw) -> subprocess.Popen:
    """`vectorize run - -o OUT` waiting on its stdin (a pipe the test holds), handlers installed."""
    p = subprocess.Popen([sys.executable, "-m", "vectorize_cli", "run", "-", "-F", "jsonl", "-o", str(out), *extra],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, **kw)
    p.stdin.write(b"the cat sat\n" * 50)
    p.stdin.flush()
    deadline = time.time() + 60
    while not list(out.parent.glob(f".{out.name}.*.part")):  # the temporary file exists: past the checks
        assert time.time() < deadline and p.poll() is None, p.stderr.read().decode() if p.poll() is not None else ""
        time.sleep(0.02)
    return p


def test_a_file_created_during_the_run_is_not_replaced(tmp_path):
    out = tmp_path / "out.jsonl"
    p = _slow_writer(out)
    out.write_text("theirs\n")
    _, err = p.communicate(b"a dog\n", timeout=120)
    one_error(p.returncode, err.decode(), 2, "created by something else", "not replaced")
    assert out.read_text() == "theirs\n"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["out.jsonl"]  # no temporary file left


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_during_output_removes_the_temporary_file(tmp_path, sig):
    out = tmp_path / "out.jsonl"
    p = _slow_writer(out)
    p.send_signal(sig)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 128 + sig, err.decode()
    name = "interrupted" if sig == signal.SIGINT else signal.Signals(sig).name
    one_error(p.returncode, err.decode(), 128 + sig, name)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o027, 0o002])
def test_output_files_follow_the_umask(tmp_path, umask):
    out = tmp_path / "out.json"
    rc, _, err = cli("run", "the cat", "-F", "json", "-o", out, preexec_fn=lambda: os.umask(umask))
    assert rc == 0, err
    shell = tmp_path / "shell.json"  # what `>` gives under the same umask
    subprocess.run(f"umask {umask:o}; : > {shell}", shell=True, check=True)
    assert stat.S_IMODE(out.stat().st_mode) == stat.S_IMODE(shell.stat().st_mode) == 0o666 & ~umask


def test_force_keeps_the_replaced_files_permissions_and_replaces_a_link_not_its_target(tmp_path):
    out = tmp_path / "out.json"
    out.write_text("old")
    out.chmod(0o640)
    rc, _, err = cli("run", "the cat", "-F", "json", "-o", out, "--force")
    assert rc == 0 and stat.S_IMODE(out.stat().st_mode) == 0o640 and json.loads(out.read_text())["text"] == "the cat"
    target = tmp_path / "target"
    target.write_text("precious")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    one_error(*cli("run", "the cat", "-F", "json", "-o", link)[::2], 2, "symbolic link", "--force")
    assert target.read_text() == "precious" and link.is_symlink()
    assert cli("run", "the cat", "-F", "json", "-o", link, "--force")[0] == 0
    assert target.read_text() == "precious" and not link.is_symlink() and json.loads(link.read_text())["text"]


def _limit_file_size(n: int):
    """For a child whose writes fail past n bytes; it must run with PYTHONDONTWRITEBYTECODE=1 (Python
    would leave truncated .pyc files behind, which break every later run)."""
    def pre():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (n, n))
    return pre


@pytest.mark.parametrize("fmt", ["jsonl", "table"])
def test_stdout_to_a_regular_file_keeps_only_whole_records_when_a_write_fails(tmp_path, fmt, rng):
    """A full disk, played by RLIMIT_FSIZE: the file keeps the records written whole, none cut."""
    def to_file(n: int, limit: int | None = None):
        path = tmp_path / f"out{n}"
        with open(path, "wb") as f:
            p = subprocess.run([sys.executable, "-m", "vectorize_cli", "run", "-", "-F", fmt],
                               input=b"the cat sat\n" * n, stdout=f, stderr=subprocess.PIPE, cwd=ROOT,
                               env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
                               preexec_fn=None if limit is None else _limit_file_size(limit))
        return p, path.read_bytes()

    ends = [len(to_file(n)[1]) for n in (1, 2, 3)]  # where each record ends
    full = to_file(4)[1]
    limit = int(rng.integers(ends[0] + 1, ends[2]))  # the disk fills inside the 2nd or 3rd record
    p, got = to_file(4, limit)
    one_error(p.returncode, p.stderr.decode(), 1, "cannot write the output")
    assert got == full[: max(e for e in ends if e <= limit)], (limit, len(got), ends)


def test_bench_plot_follows_the_output_rules(tmp_path):
    pytest.importorskip("matplotlib")
    args = ["bench", "-a", "multi-head", "-T", "8", "-r", "1", "--warmup", "0", "-d", "8", "-H", "2", "-F", "json"]
    plot = tmp_path / "plot.png"
    plot.write_bytes(b"mine")
    one_error(*cli(*args, "--plot", plot)[::2], 2, "exists", "--force")
    assert plot.read_bytes() == b"mine"
    target = tmp_path / "victim.png"
    target.write_bytes(b"victim")
    link = tmp_path / "link.png"
    link.symlink_to(target)
    one_error(*cli(*args, "--plot", link)[::2], 2, "symbolic link")
    rc, out, err = cli(*args, "--plot", link, "--force")
    assert rc == 0 and target.read_bytes() == b"victim" and link.read_bytes().startswith(b"\x89PNG"), err
    assert [ln for ln in err.splitlines() if not ln.startswith("vectorize: note:")] == []  # no matplotlib warnings


def test_bench_with_every_case_skipped(tmp_path):
    rc, out, err = cli("bench", "-T", "64", "-r", "1", "--warmup", "0", "--max-memory", "1", env={"COLUMNS": "100"})
    assert rc == 0, err
    assert "Traceback" not in err and out.strip()
    if pytest.importorskip("matplotlib"):
        plot = tmp_path / "p.svg"
        rc, out, err = cli("bench", "-T", "64", "-r", "1", "--warmup", "0", "--max-memory", "1", "--plot", plot)
        assert rc == 0 and plot.read_bytes().lstrip().startswith(b"<?xml"), err
        assert [ln for ln in err.splitlines() if not ln.startswith("vectorize: note:")] == [], err


# --- signals and terminals ------------------------------------------------------------------------------------

def _handlers_installed(pid: int) -> bool:
    """SIGHUP is caught: vectorize's handlers are in (Python itself catches only SIGINT)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            caught = next(int(ln.split()[1], 16) for ln in f if ln.startswith("SigCgt:"))
    except (FileNotFoundError, StopIteration):
        return True
    return bool(caught & (1 << (signal.SIGHUP - 1)))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc to see when the handlers are in")
def test_ctrl_c_during_start_up_is_one_line_and_exit_130(rng):
    """From the moment the handlers are installed (before cli.py's imports: typer, rich, numpy), a
    Ctrl-C at a random moment of start-up or of the run ends with the one line; 30 runs."""
    for _ in range(30):
        p = subprocess.Popen([sys.executable, "-m", "vectorize_cli", "run", "The cat sat.", "-F", "json"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
        while not _handlers_installed(p.pid):
            time.sleep(0.001)
        time.sleep(float(rng.uniform(0, 0.4)))
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
        if p.returncode != 0:  # 0: the run was over before the signal came
            one_error(p.returncode, err.decode(), 130, "interrupted")


COMMANDS = [["run", "The cat sat."], ["run", "我 café"], ["example"], ["variants"], ["bench", "-T", "8", "-r", "1"]]
MODEL_COMMANDS = [["similarity", "a cat", "a dog"], ["run", "the cat", "--model", "minilm"]]


@pytest.mark.parametrize("columns", ["0", "-5", "abc", ""])
@pytest.mark.parametrize("cmd", COMMANDS + MODEL_COMMANDS)
def test_a_useless_columns_still_prints_the_table(cmd, columns, request):
    if cmd in MODEL_COMMANDS:
        request.getfixturevalue("minilm_path")
    rc, out, err = cli(*cmd, env={"COLUMNS": columns})
    assert rc == 0 and len(out.splitlines()) > 3, err


@pytest.mark.parametrize("cmd", COMMANDS[:4])
@pytest.mark.parametrize("encoding", ["latin-1", "ascii", "cp1252"])
def test_a_stdout_encoding_that_is_not_utf8(cmd, encoding):
    rc, out, err = cli(*cmd, env={"PYTHONIOENCODING": encoding})
    assert rc == 0 and len(out.splitlines()) > 3, err
    out.decode(encoding)  # what it wrote is in the encoding asked for
