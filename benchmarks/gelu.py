"""GELU on the model's shapes: numpy's chunks against the compiled loop (compiled.py), and what
loading the compiled one costs a fresh process, side by side in one run.

    python benchmarks/gelu.py --repeat 20

Rows: nanoseconds per element, best of --repeat, for (rows, 1536) float32 arrays (the feed-forward
layer of all-MiniLM-L6-v2: a batch of 32 x 20 tokens is 640 rows), N(0, 3) values, one thread; every
compiled output is checked to be numpy's bits. Load: `compiled.for_run` in a fresh process, imports
included, first with an empty NUMBA_CACHE_DIR (numba compiles the loops), then from that cache, median of 3.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from vectorize_cli import compiled
from vectorize_cli.backend import Backend
from vectorize_cli.model import nn

LOAD = ("import time; t = time.perf_counter(); from vectorize_cli import compiled; from vectorize_cli.backend import "
        "resolve; assert compiled.for_run(resolve('numpy', 'cpu', 'float32'), 1 << 30).fused == 'compiled'; "
        "print(time.perf_counter() - t)")


def per_element(gelu, x: np.ndarray, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        y = x.copy()
        t = time.perf_counter()
        gelu(y)
        best = min(best, time.perf_counter() - t)
    return best / x.size * 1e9


def load_seconds(cache: str) -> float:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache}
    r = subprocess.run([sys.executable, "-c", LOAD], capture_output=True, text=True, env=env, check=True)
    return float(r.stdout)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--rows", type=int, nargs="+", default=[640, 4096])
    a = p.parse_args()
    fast = compiled.loops(Backend("numpy", "cpu", "float32", compiled="always"), True).gelu_
    rng = np.random.default_rng(0)
    print("| rows x 1536 | numpy chunks ns/element | compiled ns/element | numpy / compiled | same bits |")
    print("|---:|---:|---:|---:|---|")
    for rows in a.rows:
        x = rng.normal(0, 3, size=(rows, 1536)).astype(np.float32)
        slow = per_element(lambda y: nn._chunked(y, nn._gelu_chunk), x, a.repeat)
        quick = per_element(fast, x, a.repeat)
        same = np.array_equal(fast(x.copy()), nn._chunked(x.copy(), nn._gelu_chunk))
        print(f"| {rows:,} | {slow:.2f} | {quick:.2f} | {slow / quick:.1f}x | {'yes' if same else 'NO'} |")
    cold, warm = [], []
    for _ in range(3):
        with tempfile.TemporaryDirectory() as cache:
            cold.append(load_seconds(cache))
            warm.append(load_seconds(cache))
    print(f"\nLoading it in a fresh process: {statistics.median(cold):.2f} s compiling with numba (empty cache), "
          f"{statistics.median(warm):.2f} s from numba's cache; every round "
          f"{' / '.join(f'{c:.2f}' for c in cold)} and {' / '.join(f'{w:.2f}' for w in warm)} s.")


if __name__ == "__main__":
    main()
