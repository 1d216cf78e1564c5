"""The model path in bfloat16 (and float16 on CUDA) against float32: speed side by side, and the cost.

    python benchmarks/model_dtype.py --lines 1000 --repeat 3 --markdown
    python benchmarks/model_dtype.py --device cuda --dtypes float32 bfloat16 float16 --lines 10000

Each contender is the whole command `vectorize run - --model minilm --format npy -b torch --dtype DTYPE
--device DEVICE` (plus numpy float32, the default path) over the first --lines of
sample_inputs/sentences-10k.txt, in a fresh process, the contenders in a rotating order each round
(the machine is shared: only ratios within one run mean anything). The cost of a dtype, against torch
float32's vectors of the same sentences: the min and mean cosine per sentence, and recall@10 of a
search: for each of --queries sentences, its 10 nearest others by cosine, against float32's 10
(ties counted as hits: benchmarks/recall.py).
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from recall import cosine_recall

from vectorize_cli.backend import cpu_flags

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "sample_inputs" / "sentences-10k.txt"


def run(args: list[str], text: Path, out: Path) -> float:
    t = time.perf_counter()
    with open(text, "rb") as f, open(out, "wb") as o:
        subprocess.run([sys.executable, "-m", "vectorize_cli", "run", "-", "--model", "minilm", "-F", "npy", *args],
                       stdin=f, stdout=o, check=True, cwd=ROOT)
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lines", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    p.add_argument("--no-numpy", action="store_true", help="leave out numpy float32")
    p.add_argument("--markdown", action="store_true")
    a = p.parse_args()
    tmp = Path(tempfile.mkdtemp())
    text = tmp / "in.txt"
    text.write_text("".join(CORPUS.read_text().splitlines(keepends=True)[: a.lines]))
    contenders = {f"torch {d}": ["-b", "torch", "--dtype", d, "--device", a.device] for d in a.dtypes}
    if not a.no_numpy:
        contenders["numpy float32"] = []
    times: dict[str, list[float]] = {c: [] for c in contenders}
    names = list(contenders)
    for r in range(a.repeat):
        for c in names[r % len(names):] + names[: r % len(names)]:
            times[c].append(run(contenders[c], text, tmp / f"{c.replace(' ', '-')}.npy"))
            print(f"round {r + 1}: {c}: {times[c][-1]:.2f} s", file=sys.stderr, flush=True)
    vec = {c: np.load(tmp / f"{c.replace(' ', '-')}.npy").astype(np.float64) for c in contenders}
    ref = vec["torch float32"]
    flags = cpu_flags()
    native = sorted(flags & {"avx512_bf16", "amx_bf16", "avx512_fp16", "amx_fp16"}) or ["none"]
    print(f"{a.lines} lines of {CORPUS.name}, device {a.device}; CPU half-precision flags: {', '.join(native)}; "
          f"median of {a.repeat} rounds, rotating order.\n")
    print("| contender | median s | every round, s | vs torch float32 | min cosine | mean cosine | recall@10 |")
    print("|---|---:|---|---:|---:|---:|---:|")
    base = statistics.median(times["torch float32"])
    for c in contenders:
        v = vec[c]
        cos = np.sum(v * ref, axis=1) / (np.linalg.norm(v, axis=1) * np.linalg.norm(ref, axis=1))
        recall = cosine_recall(ref, v, min(a.queries, len(ref) - 1))
        med = statistics.median(times[c])
        print(f"| {c} | {med:.2f} | {' / '.join(f'{t:.2f}' for t in times[c])} | {base / med:.2f}x | "
              f"{cos.min():.6f} | {cos.mean():.6f} | {recall:.3f} |")


if __name__ == "__main__":
    main()
