"""A model-folder fuzzer, in the spirit of tests/fuzzing.py: tiny BERT folders built from scratch
(config.json, model.safetensors written by safetensors.numpy, tokenizer.json built by the
`tokenizers` library), then mutated by hypothesis: config values, tensor shapes / dtypes / values,
tokenizer.json edits and special files in place of regular ones; each folder is run through the
real CLI and judged by the oracle (check), which knows only the rules of the house:

    exit 0    the output is whole and finite (JSON without null, npy without NaN)
    exit 1/2  exactly one line on stderr, `vectorize: error: ...`
    never     a traceback, exit 70 (a bug), a signal, a hang (a timeout), a Rust panic report

Used by tests/test_model_fuzz.py (a derandomized slice in CI) and benchmarks/fuzz.py (2,000+ cases).
"""

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
WORDS = ["the", "cat", "sat", "on", "mat", "dog", "##s", "##ing", "a", "is", "play", "game"]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
TEXTS = ["The cat sat on the mat.", "A dog is playing games", "café 漢字 ünïcode", "x" * 3000]


def vocab() -> list[str]:
    return SPECIAL + list("abcdefghijklmnopqrstuvwxyz.,!?") + [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"] + WORDS


def tokenizer_json() -> dict:
    """A BERT WordPiece tokenizer.json, made by the tokenizers library itself."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    v = {t: i for i, t in enumerate(vocab())}
    tok = Tokenizer(models.WordPiece(v, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True, handle_chinese_chars=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    return json.loads(tok.to_str())


def config(d: int = 8, heads: int = 2, layers: int = 1, d_ff: int = 16, positions: int = 32) -> dict:
    return {"model_type": "bert", "vocab_size": len(vocab()), "hidden_size": d, "num_hidden_layers": layers,
            "num_attention_heads": heads, "intermediate_size": d_ff, "max_position_embeddings": positions,
            "type_vocab_size": 2, "layer_norm_eps": 1e-12, "pad_token_id": 0, "hidden_act": "gelu"}


def tensors(c: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random weights named and shaped as Hugging Face's BertModel stores them ((out, in) linears)."""
    d, f = c["hidden_size"], c["intermediate_size"]
    t = {"embeddings.word_embeddings.weight": (c["vocab_size"], d),
         "embeddings.position_embeddings.weight": (c["max_position_embeddings"], d),
         "embeddings.token_type_embeddings.weight": (c["type_vocab_size"], d),
         "embeddings.LayerNorm.weight": (d,), "embeddings.LayerNorm.bias": (d,)}
    for i in range(c["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        for n in ("query", "key", "value"):
            t |= {p + f"attention.self.{n}.weight": (d, d), p + f"attention.self.{n}.bias": (d,)}
        t |= {p + "attention.output.dense.weight": (d, d), p + "attention.output.dense.bias": (d,),
              p + "attention.output.LayerNorm.weight": (d,), p + "attention.output.LayerNorm.bias": (d,),
              p + "intermediate.dense.weight": (f, d), p + "intermediate.dense.bias": (f,),
              p + "output.dense.weight": (d, f), p + "output.dense.bias": (d,),
              p + "output.LayerNorm.weight": (d,), p + "output.LayerNorm.bias": (d,)}
    out = {}
    for name, shape in t.items():
        a = rng.normal(0, 0.2, shape).astype(np.float32)
        if name.endswith("LayerNorm.weight"):
            a += 1
        out[name] = a
    return out


def write(folder: Path, cfg: dict, weights: dict[str, np.ndarray], tok: dict | str,
          extra: dict[str, object] | None = None) -> Path:
    """A model folder; extra: {relative path: JSON value, or bytes written as they are}."""
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(cfg) if not isinstance(cfg, str) else cfg)
    save_file(weights, str(folder / "model.safetensors"))
    (folder / "tokenizer.json").write_text(tok if isinstance(tok, str) else json.dumps(tok))
    for name, value in (extra or {}).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(value if isinstance(value, bytes) else json.dumps(value).encode())
    return folder


def make_folder(folder: Path, seed: int = 0, **sizes) -> Path:
    """A tiny, valid BERT folder."""
    cfg = config(**sizes)
    return write(folder, cfg, tensors(cfg, np.random.default_rng(seed)), tokenizer_json())


@dataclass
class Case:
    """One fuzzed folder: how it differs from a valid one, said in words for the failure report."""

    changes: list[str] = field(default_factory=list)
    cfg: dict = field(default_factory=config)
    dtype: str = "float32"
    weight_edits: list[tuple[str, str]] = field(default_factory=list)  # (tensor, edit)
    tok_edits: list[tuple[str, object]] = field(default_factory=list)  # (json path, value)
    special: list[tuple[str, str]] = field(default_factory=list)  # (file, kind)
    command: list[str] = field(default_factory=list)


CONFIG_VALUES = st.one_of(st.integers(-3, 70), st.sampled_from([0, 2**31, 10**30, -(10**30)]),
                          st.floats(allow_nan=False, allow_infinity=False, width=32), st.none(), st.booleans(),
                          st.text(max_size=3), st.just([1]), st.just({"a": 1}))
CONFIG_KEYS = ["vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
               "max_position_embeddings", "type_vocab_size", "layer_norm_eps", "pad_token_id"]
DTYPES = ["float32", "float16", "float64", "int8", "bool", "int64"]
WEIGHT_EDITS = ["nan", "inf", "-inf", "huge", "zero", "transpose", "drop", "extra_row"]
TOK_EDITS = [("model.unk_token", "[NOPE]"), ("model.vocab.[UNK]", 10**6), ("model.vocab.the", -1),
             ("post_processor.single.1.Sequence.type_id", 5), ("post_processor.special_tokens.[CLS].ids", [999]),
             ("pre_tokenizer", {"type": "Split", "pattern": {"Regex": "(a+)+$"}, "behavior": "Isolated",
                                "invert": False}),
             ("post_processor", None), ("normalizer", {"type": "Replace", "pattern": {"String": "a"}, "content": ""}),
             ("model.max_input_chars_per_word", 0), ("model", None), ("truncation", {"max_length": 1}),
             ("pre_tokenizer", {"type": "Nope"}), ("model.vocab", {})]
SPECIAL_FILES = ["fifo", "dev_zero", "outside_link", "dangling_link", "folder", "huge_json", "deep_json",
                 "big_int", "nan_json", "modules_outside", "modules_absolute", "binary"]
SPECIAL_TARGETS = ["config.json", "modules.json", "sentence_bert_config.json", "1_Pooling/config.json",
                   "tokenizer.json", "model.safetensors"]
COMMANDS = [["run", "-F", "json"], ["run", "-F", "jsonl"], ["run", "-F", "npy"], ["run"],
            ["similarity", "-F", "json"], ["similarity", "-F", "npy"], ["similarity"]]


@st.composite
def cases(draw) -> Case:
    c = Case()
    for _ in range(draw(st.integers(0, 2))):
        key, value = draw(st.sampled_from(CONFIG_KEYS)), draw(CONFIG_VALUES)
        c.cfg[key] = value
        c.changes.append(f"config {key}={value!r}")
    if draw(st.integers(0, 3)) == 0:
        c.dtype = draw(st.sampled_from(DTYPES))
        c.changes.append(f"dtype {c.dtype}")
    for _ in range(draw(st.integers(0, 1))):
        edit = (draw(st.sampled_from(["embeddings.word_embeddings.weight", "encoder.layer.0.output.dense.bias",
                                      "embeddings.LayerNorm.weight", "encoder.layer.0.attention.self.query.weight"])),
                draw(st.sampled_from(WEIGHT_EDITS)))
        c.weight_edits.append(edit)
        c.changes.append(f"weight {edit}")
    for _ in range(draw(st.integers(0, 1))):
        edit = draw(st.sampled_from(TOK_EDITS))
        c.tok_edits.append(edit)
        c.changes.append(f"tokenizer {edit}")
    for _ in range(draw(st.integers(0, 1))):
        sp = (draw(st.sampled_from(SPECIAL_TARGETS)), draw(st.sampled_from(SPECIAL_FILES)))
        c.special.append(sp)
        c.changes.append(f"special {sp}")
    c.command = draw(st.sampled_from(COMMANDS))
    return c


def _edit_weight(w: dict, name: str, edit: str) -> None:
    if name not in w:
        return
    a = w[name]
    if edit == "drop":
        del w[name]
    elif edit == "transpose":
        w[name] = np.ascontiguousarray(a.T)
    elif edit == "extra_row":
        w[name] = np.concatenate([a, a[:1]])
    else:
        a = a.copy()
        with np.errstate(over="ignore"):  # 1e38 in float16 is inf: a case like any other
            a.flat[0] = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf, "huge": 1e38, "zero": 0}[edit]
        w[name] = a


def _set(doc, dotted: str, value) -> None:
    keys = dotted.split(".")
    node = doc
    for k in keys[:-1]:
        if isinstance(node, list):
            k = int(k)
            if k >= len(node):
                return
        elif not isinstance(node, dict) or k not in node or node[k] is None:
            return
        node = node[k]
    last = keys[-1]
    if isinstance(node, dict):
        node[last] = value
    elif isinstance(node, list) and last.isdigit() and int(last) < len(node):
        node[int(last)] = value


def _special(folder: Path, target: str, kind: str, outside: Path) -> None:
    path = folder / target
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind in ("fifo", "dev_zero", "outside_link", "dangling_link", "folder"):
        if path.exists() or path.is_symlink():
            path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev_zero":
        path.symlink_to("/dev/zero")
    elif kind == "outside_link":
        (outside / "secret.json").write_text('{"model_type": "bert"}')
        path.symlink_to(outside / "secret.json")
    elif kind == "dangling_link":
        path.symlink_to(folder / "nowhere")
    elif kind == "folder":
        path.mkdir()
    elif kind == "huge_json":
        path.write_bytes(b"[" + b"0," * (3 << 19) + b"0]")
    elif kind == "deep_json":
        path.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    elif kind == "big_int":
        path.write_bytes(b'{"max_seq_length": ' + b"9" * 5000 + b', "vocab_size": ' + b"7" * 5000 + b"}")
    elif kind == "nan_json":
        path.write_bytes(b'{"max_seq_length": NaN, "layer_norm_eps": NaN}')
    elif kind == "binary":
        path.write_bytes(bytes(range(256)) * 4)
    elif kind in ("modules_outside", "modules_absolute"):
        (outside / "config.json").write_text('{"pooling_mode_mean_tokens": true}')
        where = "../" + outside.name if kind == "modules_outside" else str(outside)
        (folder / "modules.json").write_text(json.dumps(
            [{"type": "sentence_transformers.models.Transformer", "path": ""},
             {"type": "sentence_transformers.models.Pooling", "path": where}]))


def build(case: Case, folder: Path, seed: int = 0) -> Path:
    """The case's folder, under folder (which it creates); a sibling folder is 'outside'."""
    rng = np.random.default_rng(seed)
    good = config()
    w = tensors(good, rng)
    cast = {"float32": np.float32, "float16": np.float16, "float64": np.float64, "int8": np.int8,
            "bool": np.bool_, "int64": np.int64}[case.dtype]
    w = {k: (v * 10 if case.dtype in ("int8", "int64") else v).astype(cast) for k, v in w.items()}
    for name, edit in case.weight_edits:
        if case.dtype in ("float32", "float16", "float64") or edit in ("drop", "transpose", "extra_row"):
            _edit_weight(w, name, edit)
    tok = tokenizer_json()
    for path, value in case.tok_edits:
        _set(tok, path, value)
    write(folder, case.cfg, w, tok)
    outside = folder.parent / (folder.name + "-outside")
    outside.mkdir(exist_ok=True)
    for target, kind in case.special:
        _special(folder, target, kind, outside)
    return folder


def command(case: Case, folder: Path) -> list[str]:
    """argv for the case: its command, the folder, and texts (argument or stdin)."""
    head, *rest = case.command
    return [head, *TEXTS[:3], "--model", str(folder), *rest] if head == "similarity" else \
        [head, "-", "--model", str(folder), *rest]


def run_case(case: Case, folder: Path, timeout: float = 60) -> tuple[int, bytes, bytes]:
    env = {**os.environ, "VECTORIZE_DEBUG": "", "RUST_BACKTRACE": "1"}
    try:
        p = subprocess.run([sys.executable, "-m", "vectorize_cli", *command(case, folder)], cwd=ROOT, env=env,
                           input="\n".join(TEXTS).encode(), capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return -999, b"", b"timeout"
    return p.returncode, p.stdout, p.stderr


OPTIONAL = {"head", "weights", "layer"}  # JSON keys whose value may be null: options not given, flash's weights


def _nulls(doc, key: str = "") -> bool:
    """A null anywhere but under an OPTIONAL key."""
    if doc is None:
        return key not in OPTIONAL
    if isinstance(doc, dict):
        return any(_nulls(v, k) for k, v in doc.items())
    if isinstance(doc, list):
        return any(_nulls(v, key) for v in doc)
    return False


def run_in_process(case: Case, folder: Path) -> tuple[int, bytes, bytes]:
    """The same run through Typer's CliRunner (about 20x faster than a process); numpy's warnings are
    recorded every time (not once per place, as the default filter shows them) and count as stderr."""
    import warnings

    from typer.testing import CliRunner

    from vectorize_cli.cli import app

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = CliRunner(env={"COLUMNS": "120", "VECTORIZE_DEBUG": ""}).invoke(
            app, command(case, folder), input="\n".join(TEXTS).encode())
    err = r.stderr_bytes + "".join(f"{w.category.__name__}: {w.message}\n" for w in caught
                                   if issubclass(w.category, RuntimeWarning)).encode()
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        import traceback

        err += "Traceback (in process)\n".encode() + "".join(traceback.format_exception(r.exception)).encode()
    return r.exit_code, r.stdout_bytes, err


def check(case: Case, rc: int, out: bytes, err: bytes) -> str | None:
    """None if the run kept the rules; else what it broke."""
    text = err.decode("utf-8", "replace")
    if rc == -999:
        return "hung (timeout)"
    if rc not in (0, 1, 2):
        return f"exit {rc}: {text[-500:]}"
    if "Traceback" in text or "panicked" in text or "RuntimeWarning" in text:
        return f"traceback or warning on stderr: {text[-800:]}"
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if rc != 0:
        if len([ln for ln in lines if ln.startswith("vectorize: error: ")]) != 1 or out:
            return f"exit {rc} without exactly one error line (or with output): {text[-500:]!r} {out[:100]!r}"
        return None
    if any(not ln.startswith("vectorize: ") for ln in lines):
        return f"stray stderr: {text[-500:]}"
    if "npy" in case.command:
        import io

        a = np.load(io.BytesIO(out), allow_pickle=False)
        if not np.isfinite(a).all():
            return "non-finite numbers in npy"
    elif "json" in case.command or "jsonl" in case.command:
        jsonl = "jsonl" in case.command
        docs = [json.loads(ln) for ln in out.splitlines() if ln.strip()] if jsonl else [json.loads(out)]
        if any(_nulls(doc) for doc in docs) or b"NaN" in out or b"Infinity" in out:
            return "null (where a number belongs) or NaN in the JSON"
        if not docs:
            return "no output"
    elif not out.strip():
        return "exit 0 with no table"
    return None
