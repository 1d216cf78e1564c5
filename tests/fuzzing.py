"""Hostile text and options for `vectorize run`, and the properties every run must keep (issue 4).

Shared by tests/test_fuzz.py (a deterministic slice in CI, a bigger run under `-m fuzz`) and
benchmarks/fuzz.py (10,000+ cases). A case is the command line and its input; `in_process` runs it
through CliRunner, `in_subprocess` through a real `python -m vectorize_cli` with the input as bytes.
`check` raises AssertionError naming the first property a run broke:

- no traceback; the exit code is one of 0, 1, 2 (70 is a bug; 130 and 141 need a signal or a pipe);
- a failure is exactly one stderr line `vectorize: error: ...`, and nothing half-written on stdout;
- success: json / jsonl validate against docs/json-schema.json, hold the input's texts in order,
  tokens taken in order from the NFC text, every number finite, weights rows summing to 1, causal
  weights zero above the diagonal, and every output recomputed from its record in float64;
- what must fail does (bad sizes: 2, bad UTF-8 or sizes no memory holds: 1, with their messages).
"""

import json
import math
import os
import re
import subprocess
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

from reference import POOL64, forward64

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "docs" / "json-schema.json").read_text(encoding="utf-8"))
VARIANTS = ["additive", "scaled-dot", "self", "multi-head", "flash"]
EXIT_CODES = {0, 1, 2}  # what a run without signals or closed pipes may end with (README: Exit codes)
INT64 = 2**63  # integer options must fit a signed 64-bit integer: the JSON record holds them exactly

FRAGMENTS = [
    "", " ", "  ", "\t", "\n", "\r\n", "\r", "\n\n", "\x00", "\x01", "\x07", "\x1b[31m", "\x1b]0;title\x07", "\x7f",
    "\x85", "\x0b", "\x0c", "\x1c", "\u2028", "\u2029", "\ufeff", "\u200b", "\u200c", "\u200d", "\u2060", "\u00ad",
    "\u202e", "\u2066", "\u200f", "\ufffd", "\ufffe", "\uffff", "\U0010ffff", "\ue000",  # format, specials, private
    "The cat sat on the mat.", "don't", "It’s", "a-b_c", "3.14", "1e400", "NaN", "-inf", "...", "?!", "«»", "—",
    "café", "cafe\u0301", "e\u0301\u0302\u0303\u0304", "\u0301", "\u0301\u0301x", "Å", "ﬁ", "½", "Ⅻ", "∑x²",
    "👩‍👩‍👧‍👦", "👍🏽", "🇫🇷", "🏳️‍🌈", "❤️", "\U0001f600" * 3, "🧑🏾‍🚀",  # emoji, ZWJ, modifiers, flags
    "مرحبا بالعالم", "שָׁלוֹם עולם", "\u200fabc\u200e",  # right to left
    "我和同桌约好明天在他家玩游戏", "日本語のテキスト", "한국어 텍스트", "ｆｕｌｌ　ｗｉｄｔｈ",  # CJK, full width
    "नमस्ते दुनिया", "สวัสดีครับ", "ཨོཾ་མ་ཎི", "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇",  # clusters, zalgo
    "\ud800", "\udfff", "\udc80", "\udcff", "a\ud83db",  # lone surrogates (the last: half an emoji)
]
_chars = st.characters(codec=None)  # every code point, surrogates included
_piece = st.one_of(st.sampled_from(FRAGMENTS), st.text(_chars, max_size=12))
_REPEAT = [1] * 12 + [2, 5, 50, 1000]


@st.composite
def texts(draw) -> str:
    """Hostile text: fragments and random code points, sometimes repeated into long texts."""
    text = "".join(draw(st.lists(_piece, max_size=6)))
    return (text * draw(st.sampled_from(_REPEAT)))[:100_000]


BAD_BYTES = [b"\xff", b"\xfe", b"\xc3", b"\xc0\xaf", b"\xe2\x82", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80"]


@dataclass
class Case:
    args: list[str]  # after `vectorize`
    text: str  # the TEXT argument, or what stdin / the file holds (may hold lone surrogates)
    mode: str  # argument | stdin | file
    data: bytes | None = None  # stdin's or the file's bytes (None: the TEXT argument)
    opts: dict = field(default_factory=dict)  # the options as given (for the oracle)
    path: Path | None = None  # the --file written for an in-process run

    def argv(self, path: Path | None = None) -> list[str]:
        """The command line; a `file` case reads `path`. A TEXT starting with `-` follows `--`."""
        if self.mode == "argument":
            return ["run", *self.args, "--", self.text] if self.text.startswith("-") else ["run", self.text, *self.args]
        return ["run", *(["--file", str(path)] if self.mode == "file" else ["-"]), *self.args]

    def __repr__(self) -> str:
        return f"Case(argv={self.argv(Path('FILE'))!r}, data={self.data!r})"


VALID = {  # small and odd sizes, all legal (heads not dividing dim is refused unless --head-dim is given)
    "--dim": [1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 33], "--heads": [1, 1, 2, 3, 4], "--head-dim": [1, 2, 3, 5, 8],
    "--block-size": [1, 2, 3, 7, 64, 256, 2**40],
}
DECIMALS = [0, 1, 3, 12]  # --decimals: tables only (views/formats.py); any other format refuses it
HOSTILE = {  # sizes to refuse: zero and negative (usage), beyond 64 bits (usage), or beyond any memory
    "--dim": [0, -1, 10**9, INT64 - 1, INT64, 10**30], "--heads": [0, -3, 10**9, INT64], "--head-dim": [0, -1, 10**9],
    "--block-size": [0, -1, INT64, 2**64], "--seed": [INT64, -INT64 - 1, 2**70], "--decimals": [-1, 13],
}
MEMORY = {"64MiB": 64 * 2**20, "4GiB": 4 * 2**30, "1e9": 10**9, " 2 gb ": 2 * 10**9, "1.5e3kb": 1_500_000,
          "100": 100, "1KiB": 1024, "512MB": 512 * 10**6}
BAD_MEMORY = ["0", ".5", "-1", "1e400", "1e30", "9" * 30, "lots", "", "inf", "nan", "16EiB", "1 2", "4 GiB/s"]


@st.composite
def options(draw) -> tuple[list[str], dict]:
    """Options as the command line spells them, and as a dict for the oracle."""
    args, opts = [], {}
    maybe = lambda s: draw(st.one_of(st.none(), s))  # noqa: E731

    variants = draw(st.lists(st.sampled_from(VARIANTS), max_size=3))
    for v in variants:
        args += ["-a", v]
    opts["attention"] = list(dict.fromkeys(variants)) or ["multi-head"]
    spoil = draw(st.sampled_from([None] * 24 + [*HOSTILE, "--max-memory", "--bogus"]))  # now and then, one to refuse
    for name, strategy in (*((n, st.sampled_from(v)) for n, v in VALID.items()),
                           ("--seed", st.one_of(st.integers(-INT64, INT64 - 1), st.sampled_from([0, -1, INT64 - 1])))
                           , ("--positional", st.sampled_from(["sinusoidal", "learned", "linear", "none"])),
                           ("--tokenizer", st.sampled_from(["word", "whitespace", "char"])),
                           ("--pool", st.sampled_from(["mean", "max", "first", "none"]))):
        value = draw(st.sampled_from(HOSTILE[name])) if name == spoil else maybe(strategy)
        if value is not None:
            args += [name, str(value)]
            opts[name] = value
    memory = draw(st.sampled_from(BAD_MEMORY)) if spoil == "--max-memory" else maybe(st.sampled_from(list(MEMORY)))
    if memory is not None:
        args += ["--max-memory", memory]
        opts["--max-memory"] = memory
    for flag in ("--causal", "--concat", "--weights", "--whole"):
        if draw(st.booleans()):
            args.append(flag)
            opts[flag] = True
    fmt = draw(st.sampled_from(["json", "jsonl", "jsonl", "table"] * 4 + ["npy"]))
    args += ["--format", fmt]
    opts["format"] = fmt
    if fmt == "table" or spoil == "--decimals":  # now and then, decimals for a format that does not read them
        value = draw(st.sampled_from(HOSTILE["--decimals"])) if spoil == "--decimals" and draw(st.booleans()) \
            else maybe(st.sampled_from(DECIMALS))
        if value is not None:
            args += ["--decimals", str(value)]
            opts["--decimals"] = value
    if fmt in ("json", "jsonl"):  # --omit: fields of the JSON record
        for o in draw(st.lists(st.sampled_from(["embedding", "positional", "encoded", "weights", "params", "output"]),
                               max_size=2)):
            args += ["--omit", o]
    backend = draw(st.sampled_from(["numpy"] * 12 + ["torch"]))
    if backend == "torch":
        args += ["--backend", "torch", "--device", draw(st.sampled_from(["cpu", "auto"]))]
        opts["torch"] = True
        dtype = draw(st.sampled_from(["float32", "float16", "bfloat16"]))
        args += ["--dtype", dtype]
        opts["half"] = dtype != "float32"
        if draw(st.booleans()):
            args.append("--strict")
    elif spoil == "--bogus":  # what only fails: a bad name or option
        args += draw(st.sampled_from([["--bogus"], ["-a", "nope"], ["--dtype", "float16"], ["--device", "cuda"],
                                      ["--format", "xml"], ["--dim"], ["--layer", "2"],
                                      ["--omit", "weights", "-F", "table"], ["--token", "0", "-F", "jsonl"]]))
        opts["bad"] = True
    return args, opts


def one_in(n: int):
    """True about once in n draws (st.integers leans to its bounds, so it would be far more often)."""
    return st.sampled_from([True] + [False] * (n - 1))


@st.composite
def cases(draw, modes=("argument", "stdin", "file")) -> Case:
    text = draw(texts())
    mode = draw(st.sampled_from(modes))
    args, opts = draw(options())
    if len(text) > 2000:  # long: runs that stay quick (flash in tiles of 1 x 1 is a Python loop over T^2 tiles)
        if opts.get("--max-memory") not in BAD_MEMORY:
            args += ["--max-memory", draw(st.sampled_from(["64MiB", "512MB"]))]
            opts["--max-memory"] = args[-1]
        if 0 < opts.get("--block-size", 256) < 64:
            at = args.index("--block-size")
            del args[at : at + 2], opts["--block-size"]
    if mode == "argument":
        text = "<->" if text == "-" else text  # `-` alone means stdin
        args = [a for a in args if a != "--whole"]
        opts.pop("--whole", None)
        return Case(args, text, mode, None, opts)
    data = text.encode("utf-8", "surrogatepass")  # a lone surrogate becomes the bytes no decoder takes
    if draw(one_in(5)):
        data = draw(st.sampled_from([b"", b"\xef\xbb\xbf"])) + data
    if draw(one_in(6)):  # a bad byte somewhere
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from(BAD_BYTES)) + data[at:]
    return Case(args, text, mode, data, opts)


# --- running a case ---------------------------------------------------------------------------------------

def in_process(case: Case, tmp: Path) -> tuple[int, bytes, bytes]:
    from typer.testing import CliRunner

    from vectorize_cli.cli import app

    path = None
    if case.mode == "file":
        path = tmp / "input.txt"
        path.write_bytes(case.data)
    r = CliRunner(env={"COLUMNS": "120"}).invoke(app, case.argv(path), input=case.data)
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise AssertionError(f"exception escaped the CLI: {r.exception!r}") from r.exception
    return r.exit_code, r.stdout_bytes, r.stderr_bytes


def in_subprocess(case: Case, tmp: Path, hash_seed: int = 0, extra_env: dict | None = None) -> tuple[int, bytes, bytes]:
    """A real process; the TEXT argument goes through argv as the OS passes it (bytes; lone
    surrogates U+DC80..U+DCFF as the bytes they stand for, which is how Python decodes bad argv)."""
    path = None
    if case.mode == "file":
        path = tmp / "input.txt"
        path.write_bytes(case.data)
    argv = [os.fsencode(a) for a in case.argv(path)]
    env = {**os.environ, "COLUMNS": "120", "PYTHONHASHSEED": str(hash_seed), **(extra_env or {})}
    env.pop("VECTORIZE_DEBUG", None)
    r = subprocess.run([sys.executable.encode(), b"-m", b"vectorize_cli", *argv],
                       input=case.data if case.mode == "stdin" else None,
                       stdin=None if case.mode == "stdin" else subprocess.DEVNULL,
                       capture_output=True, env=env, timeout=300, cwd=ROOT)
    return r.returncode, r.stdout, r.stderr


def argv_safe(case: Case) -> bool:
    """Whether the TEXT argument can go through a real argv (no NUL; surrogates only as escaped bytes)."""
    if case.mode != "argument":
        return True
    try:
        return "\x00" not in case.text and all(b"\x00" not in os.fsencode(a) for a in case.argv())
    except UnicodeEncodeError:
        return False


# --- the oracle ---------------------------------------------------------------------------------------------

def _int(opts: dict, name: str, default):
    return opts.get(name, default)


def usage_problem(case: Case) -> str | None:
    """Why the options alone must be refused as a usage error (exit 2), or None."""
    o = case.opts
    if o.get("bad"):
        return "bad option"
    if o["format"] == "npy":
        return "npy needs --model"
    if o.get("--decimals", 3) not in range(0, 13):
        return "--decimals"
    if "--decimals" in o and o["format"] != "table":
        return "--decimals with a format that is not a table"
    dim, heads, head_dim, block = (o.get(k) for k in ("--dim", "--heads", "--head-dim", "--block-size"))
    for name, v in (("--dim", dim), ("--heads", heads), ("--head-dim", head_dim), ("--block-size", block)):
        if v is not None and v < 1:
            return name
    if "--max-memory" in o and o["--max-memory"] not in MEMORY:
        return "--max-memory"
    if head_dim is None and (dim or 8) % (heads or 2):
        return "heads do not divide dim"
    for name in ("--dim", "--heads", "--head-dim", "--block-size", "--seed"):
        if name in o and not -INT64 <= o[name] < INT64:
            return f"{name} beyond 64 bits"
    if o.get("half") and not o.get("torch"):
        return "half precision on numpy"
    return None


def expected_texts(case: Case) -> list[str] | None:
    """The `text` of each record, in order; None when the input is not valid UTF-8."""
    if case.mode == "argument":
        return None if re.search("[\ud800-\udfff]", case.text) else [case.text]
    try:
        text = case.data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        return None
    if case.opts.get("--whole"):
        return [text] if text.strip() else []
    return [line.rstrip("\r") for line in text.split("\n") if line.rstrip("\r").strip()]


def _bad_byte(case: Case) -> str:
    """How the error names the first byte that is not UTF-8 (argv: a lone surrogate, or the
    U+DC80..U+DCFF that Python puts for a byte it could not decode)."""
    if case.mode == "argument":
        i = re.search("[\ud800-\udfff]", case.text).start()
        offset, c = len(case.text[:i].encode("utf-8")), ord(case.text[i])
        what = f"byte 0x{c - 0xDC00:02x}" if 0xDC80 <= c <= 0xDCFF else f"lone surrogate U+{c:04X}"
        return f"TEXT is not valid UTF-8: {what} at byte offset {offset}"
    try:
        case.data.decode("utf-8")
    except UnicodeDecodeError as e:
        return f"is not valid UTF-8: byte 0x{case.data[e.start]:02x} at byte offset {e.start}"
    raise AssertionError("valid UTF-8")


def _visible(token: str) -> bool:
    return any(unicodedata.category(c) not in ("Cc", "Cf", "Zs", "Zl", "Zp") and not c.isspace() for c in token)


def _check_record(rec: dict, text: str, case: Case) -> None:
    import jsonschema

    jsonschema.validate(rec, SCHEMA)
    o, c = case.opts, rec["config"]
    assert rec["text"] == text, (rec["text"], text)
    # tokens: visible, taken in order from the NFC text
    nfc, at = unicodedata.normalize("NFC", text), 0
    for t in rec["tokens"]:
        assert _visible(t), f"invisible token {t!r}"
        found = nfc.find(t, at)
        assert found >= 0, f"token {t!r} is not in the text after offset {at}"
        at = found + len(t)
    # the config echoes the options
    assert c["attention"] == o["attention"]
    for name in ("dim", "heads", "head_dim", "block_size", "seed"):
        if f"--{name.replace('_', '-')}" in o:
            assert c[name] == o[f"--{name.replace('_', '-')}"], name
    for name in ("tokenizer", "positional", "pool"):
        if f"--{name}" in o:
            assert c[name] == o[f"--{name}"], name
    assert c["max_memory"] == MEMORY.get(o.get("--max-memory", "4GiB"))
    assert c["causal"] == bool(o.get("--causal")) and c["concat"] == bool(o.get("--concat"))
    T, d = len(rec["tokens"]), c["dim"]
    omitted = set(rec.get("omitted", ()))
    if "embedding" not in omitted:
        emb = np.array(rec["embedding"], dtype=np.float64)
        assert emb.shape == (T, d) and np.abs(emb).max() <= math.sqrt(3)
        rows = {}
        for t, row in zip(rec["tokens"], emb):  # one vector per distinct token, in every position
            assert np.array_equal(rows.setdefault(t, row), row), f"token {t!r} has two vectors"
    if "positional" not in omitted:
        _check_positional(np.array(rec["positional"], dtype=np.float32), c["positional"], T, d)
    _check_attention(rec, case, T)


def _check_positional(pe: np.ndarray, name: str, T: int, d: int) -> None:
    assert pe.shape == (T, d)
    p, i = np.arange(T, dtype=np.float64)[:, None], np.arange(d)[None, :]
    if name == "sinusoidal":
        angle = p / 10000.0 ** ((i - i % 2) / d)
        want = np.where(i % 2 == 0, np.sin(angle), np.cos(angle))
        np.testing.assert_allclose(pe, want, atol=2e-6 * max(1, T / 100))  # float32 of large angles
    elif name == "linear":
        np.testing.assert_array_equal(pe, ((p * d + i + 1) / 100).astype(np.float32))
    elif name == "none":
        assert not pe.any()
    else:
        assert np.abs(pe).max() < 1


def _check_attention(rec: dict, case: Case, T: int) -> None:
    c, o = rec["config"], case.opts
    half = o.get("half", False)
    small = T * c["dim"] <= 2000 and T <= 48 and "encoded" not in rec.get("omitted", ())
    outputs = {}
    for a in rec["attention"]:
        if a.get("weights") is not None:
            w = np.array(a["weights"], dtype=np.float64)
            H = 1 if a["variant"] in ("additive", "scaled-dot", "self") else c["heads"]
            assert w.shape == (H, T, T) and w.min() >= 0
            np.testing.assert_allclose(w.sum(axis=-1), 1, atol=1e-2 if half else 1e-5)
            if c["causal"]:
                assert not np.triu(w, k=1).any(), "causal weights above the diagonal"
        if "output" in a:
            y = np.array(a["output"], dtype=np.float64)
            width = c["dim"] if a["variant"] in ("additive", "scaled-dot", "self") or not c["concat"] else \
                c["heads"] * c["head_dim"]
            assert y.shape == (T, width), (y.shape, (T, width))
            outputs[a["variant"]] = y
            if small and not half and "params" in a:
                y64, att64 = forward64(a["variant"], np.array(rec["encoded"]), a["params"], c["heads"], c["causal"])
                np.testing.assert_allclose(y, y64, atol=5e-5, rtol=1e-4, err_msg=f"{a['variant']} output")
                if a.get("weights") is not None:
                    np.testing.assert_allclose(a["weights"], att64, atol=1e-6, err_msg=f"{a['variant']} weights")
            pooled = POOL64[c["pool"]](y)
            if pooled is None:
                assert a["sentence_vector"] is None
            else:
                np.testing.assert_allclose(a["sentence_vector"], pooled, atol=2e-2 if half else 1e-5, rtol=1e-5)
    if "flash" in outputs and "multi-head" in outputs and not half:
        y, y_flash = outputs["multi-head"], outputs["flash"]
        np.testing.assert_allclose(y_flash, y, atol=1e-5 * max(1.0, np.abs(y).max()), err_msg="flash vs multi-head")


def check(case: Case, code: int, out: bytes, err: bytes) -> None:
    """Every property of one run (see the module docstring); AssertionError names the one broken."""
    stderr = err.decode("utf-8", "replace")
    assert b"Traceback" not in err, stderr
    assert code in EXIT_CODES, f"exit {code}: {stderr}"
    fmt = case.opts["format"]
    if code != 0:
        assert stderr.count("\n") == 1 and stderr.endswith("\n") and stderr.startswith("vectorize: error: "), stderr
        if fmt == "json":
            assert out == b"", "json: output written before an error"
        elif fmt == "jsonl":
            assert out == b"" or out.endswith(b"\n"), "half a line"
            for line in out.splitlines():
                json.loads(line)  # whole records only
    problem = usage_problem(case)
    if problem:
        assert code == 2, f"{problem}: expected a usage error, got exit {code}: {stderr}"
        return
    texts = expected_texts(case)
    if texts is None:  # not UTF-8: refused, naming the first bad byte and its offset
        assert code != 0, "invalid UTF-8 accepted"
        if "UTF-8" in stderr:
            assert _bad_byte(case) in stderr, (stderr, _bad_byte(case))
        return
    if huge(case):
        assert code == 1 and "over --max-memory" in stderr, f"huge sizes not refused up front: {code} {stderr}"
        return
    blank = [t for t in texts if not _visible(unicodedata.normalize("NFC", t))]
    if code != 0:
        assert any(m in stderr for m in ("no tokens", "no text", "over --max-memory", "torch")), stderr
        assert "no tokens" not in stderr or blank, f"tokens missed: {stderr}"
        assert "no text" not in stderr or not texts, stderr
        return
    assert err == b"", stderr
    assert texts, "success without text"
    if fmt == "table":
        shown = out.decode("utf-8")
        assert "\x1b" not in shown and shown.count("Embedding (hash)") == len(texts)
        return
    records = [json.loads(line) for line in out.splitlines()] if fmt == "jsonl" else json.loads(out)
    if case.mode == "argument" and fmt == "json":
        records = [records]
    assert len(records) == len(texts), (len(records), len(texts))
    for rec, text in zip(records, texts):
        _check_record(rec, text, case)


def huge(case: Case) -> bool:
    """Sizes no memory holds, whatever the text: the memory guard must refuse them up front."""
    o = case.opts
    d, H = o.get("--dim", 8), o.get("--heads", 2)
    width = {"additive": d, "self": d, "scaled-dot": 0, "multi-head": H * (o.get("--head-dim") or d // H)}
    return d >= 10**9 or any(d * width[v if v != "flash" else "multi-head"] >= 10**9 for v in o["attention"])
