"""Same output, byte for byte: run a fixed list of commands on this checkout and on another commit
(a git worktree of it, made and removed here) and compare stdout, stderr and exit codes.

    python benchmarks/same_output.py --against HEAD~1        # after a refactor: nothing may differ
    python benchmarks/same_output.py --against main --quick  # skip the --model and torch commands

Timings are taken out of `bench --format json` (they differ run to run); new fields of the --model
record are compared only where both sides have them (a schema bump adds fields, never changes one).
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
S = "My deskmate and I made an appointment to play games at his house tomorrow."
ENGLISH = str(ROOT / "sample_inputs" / "english.txt")
CHINESE = str(ROOT / "sample_inputs" / "chinese.txt")
PUNCT = str(ROOT / "sample_inputs" / "punctuation.txt")
TIMINGS = ("median_s", "min_s", "max_s", "peak_mib")

# (name, argv after `vectorize`, stdin file or None); names are stable keys of the comparison
COMMANDS = [
    ("run table", ["run", S], None),
    ("run table narrow", ["run", S, "--dim", "64", "--heads", "4"], None),
    ("run all variants json", ["run", S, "-a", "additive", "-a", "scaled-dot", "-a", "self", "-a", "multi-head",
                               "-a", "flash", "--format", "json"], None),
    ("run all variants table", ["run", S, "-a", "additive", "-a", "scaled-dot", "-a", "self", "-a", "multi-head",
                                "-a", "flash"], None),
    ("run causal concat jsonl", ["run", S, "--causal", "--concat", "-p", "learned", "--format", "jsonl"], None),
    ("run char tokens", ["run", "我和同桌约好明天在他家玩游戏", "-t", "char", "--dim", "12", "--heads", "3",
                         "--format", "json"], None),
    ("run whitespace pool max omit", ["run", S, "-t", "whitespace", "--pool", "max", "--omit", "weights",
                                      "--omit", "params", "--format", "json"], None),
    ("run linear none pos", ["run", S, "-p", "linear", "--pool", "first", "--head-dim", "3", "--seed", "-7"], None),
    ("run flash weights", ["run", S, "-a", "flash", "--weights", "--block-size", "3", "--format", "json"], None),
    ("run stdin jsonl", ["run", "-", "--format", "jsonl"], ENGLISH),
    ("run stdin json", ["run", "-", "--format", "json", "-a", "self", "-a", "flash"], CHINESE),
    ("run file table", ["run", "--file", PUNCT], None),
    ("run whole", ["run", "-", "--whole", "--format", "jsonl"], ENGLISH),
    ("example table", ["example"], None),
    ("example json", ["example", "--format", "json"], None),
    ("example seed", ["example", "--seed", "3", "--decimals", "6"], None),
    ("variants table", ["variants"], None),
    ("variants json", ["variants", "--format", "json"], None),
    ("bench json", ["bench", "-T", "8", "-T", "32", "-r", "1", "--warmup", "0", "--format", "json"], None),
    ("error empty", ["run", ""], None),
    ("error npy no model", ["run", S, "--format", "npy"], None),
    ("error dim", ["run", S, "--dim", "5", "--heads", "2"], None),
    ("error memory", ["run", S, "--dim", "100000", "--max-memory", "1MiB"], None),
    ("error dtype numpy", ["run", S, "--dtype", "float16"], None),
    ("error unknown variant", ["run", S, "-a", "nope"], None),
    ("error model option", ["run", S, "--layer", "2"], None),
    # torch
    ("torch flash json", ["run", S, "-a", "flash", "-a", "multi-head", "-b", "torch", "--device", "cpu",
                          "--format", "json"], None),
    ("torch bf16 table", ["run", S, "-b", "torch", "--device", "cpu", "--dtype", "bfloat16"], None),
    # --model
    ("model npy", ["run", "-", "--model", "minilm", "--format", "npy"], ENGLISH),
    ("model npy flash", ["run", "-", "--model", "minilm", "-a", "flash", "--format", "npy", "--batch-size", "3"],
     CHINESE),
    ("model table", ["run", "The cat sat on the mat.", "--model", "minilm", "--layer", "6", "--head", "3"], None),
    ("model json", ["run", "The cat sat on the mat.", "--model", "minilm", "--format", "json"], None),
    ("model torch jsonl", ["run", "-", "--model", "minilm", "-b", "torch", "--format", "jsonl"], PUNCT),
    ("similarity table", ["similarity", "A man is eating food.", "A man eats.", "The sky is blue."], None),
    ("similarity json", ["similarity", "-", "--format", "json"], ENGLISH),
    ("error model layer", ["run", S, "--model", "minilm", "--layer", "9"], None),
]
HEAVY = ("torch", "model", "similarity")


def _normalise(name: str, out: bytes) -> bytes:
    """Drop what legitimately varies: bench timings; fields a --model schema bump added."""
    if name == "bench json":
        doc = json.loads(out)
        for row in doc["results"]:
            for k in TIMINGS:
                row.pop(k, None)
        return json.dumps(doc, sort_keys=True).encode()
    return out


def _comparable(name: str, a: bytes, b: bytes) -> bool:
    if a == b:
        return True
    if not name.startswith("model") or b"{" not in a:
        return False
    try:  # a --model record whose schema grew: every field the old one had, equal
        docs_a = [json.loads(line) for line in a.splitlines()] if "jsonl" in name else [json.loads(a)]
        docs_b = [json.loads(line) for line in b.splitlines()] if "jsonl" in name else [json.loads(b)]
    except ValueError:
        return False

    def within(old, new) -> bool:
        if isinstance(old, dict):
            return isinstance(new, dict) and all(k in new and within(v, new[k]) for k, v in old.items()
                                                 if k != "schema_version")
        if isinstance(old, list):
            return isinstance(new, list) and len(old) == len(new) and all(map(within, old, new))
        return old == new

    return len(docs_a) == len(docs_b) and all(map(within, docs_a, docs_b))


def run_all(tree: Path, quick: bool) -> dict[str, tuple[int, bytes, bytes]]:
    env = {**os.environ, "PYTHONPATH": str(tree), "COLUMNS": "120", "NO_COLOR": "1", "PYTHONHASHSEED": "0"}
    env.pop("VECTORIZE_DEBUG", None)
    results = {}
    for name, argv, stdin in COMMANDS:
        if quick and any(h in name for h in HEAVY):
            continue
        with open(stdin, "rb") if stdin else open(os.devnull, "rb") as f:
            p = subprocess.run([sys.executable, "-m", "vectorize_cli", *argv], stdin=f, capture_output=True,
                               env=env, cwd=tempfile.gettempdir())
        results[name] = (p.returncode, _normalise(name, p.stdout), p.stderr)
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--against", default="HEAD~1", help="the commit to compare with (default HEAD~1)")
    p.add_argument("--quick", action="store_true", help="skip the torch, --model and similarity commands")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        other = Path(tmp) / "other"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(other), a.against], check=True,
                       capture_output=True)
        try:
            before = run_all(other, a.quick)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(other)], check=True)
        after = run_all(ROOT, a.quick)
    bad = 0
    for name in before:
        (rc0, out0, err0), (rc1, out1, err1) = before[name], after[name]
        same = rc0 == rc1 and _comparable(name, out0, out1) and err0 == err1
        digest = hashlib.sha256(out1).hexdigest()[:12]
        print(f"{'same' if same else 'DIFFERS':8} {name:32} exit {rc1:<3} {len(out1):>9} bytes  sha256 {digest}")
        if not same:
            bad += 1
            if rc0 != rc1:
                print(f"         exit {rc0} -> {rc1}")
            if err0 != err1:
                print(f"         stderr {err0[-200:]!r}\n      -> {err1[-200:]!r}")
    print(f"{len(before) - bad} same, {bad} differ (against {a.against})")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
