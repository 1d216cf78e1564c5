"""The dense products of MiniLM by numpy's OpenBLAS and by Intel MKL (sgemm.py), one core, side by side.

    pip install '.[mkl]'
    python benchmarks/sgemm_libraries.py [--repeat 5] [--markdown]

Each row: x (32 T, K) @ W (K, N) for a layer's four weights (W_qkv 384 x 1152, W_o 384 x 384, W_1 384 x 1536,
W_2 1536 x 384) at batches of 32 sentences of T tokens, the two libraries alternating within each round (BLAS held
to one thread: encode runs a batch per core), best of --repeat rounds of 20 products each. Both results are
checked against a float64 product first.
"""

import argparse
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from vectorize_cli import sgemm

WEIGHTS = {"W_qkv": (384, 1152), "W_o": (384, 384), "W_1": (384, 1536), "W_2": (1536, 384)}


def best_of(f, repeat: int, calls: int = 20) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(calls):
            f()
        best = min(best, (time.perf_counter() - t) / calls)
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--tokens", type=int, nargs="+", default=[10, 20, 40, 128])
    p.add_argument("--markdown", action="store_true")
    a = p.parse_args()
    mkl = sgemm.product("mkl")
    if not sgemm.used(mkl):
        sys.exit("Intel's mkl package is not installed: pip install '.[mkl]'")
    rng = np.random.default_rng(0)
    print("| x (M, K) @ W (K, N) | numpy GFLOP/s | MKL GFLOP/s | MKL / numpy |\n|---|---:|---:|---:|")
    with threadpool_limits(1, user_api="blas"):
        for T in a.tokens:
            for name, (K, N) in WEIGHTS.items():
                M = 32 * T
                x = rng.standard_normal((M, K), dtype=np.float32)
                w = rng.standard_normal((K, N), dtype=np.float32) * np.float32(0.05)
                exact = x.astype(np.float64) @ w.astype(np.float64)
                for y in (x @ w, mkl(x, w)):
                    assert np.abs(y - exact).max() <= 1e-4 * np.abs(exact).max()
                times = {"numpy": [], "mkl": []}
                for _ in range(a.repeat):  # alternating: a round of each, then again
                    times["numpy"].append(best_of(lambda: x @ w, 1))
                    times["mkl"].append(best_of(lambda: mkl(x, w), 1))
                rate = {k: 2 * M * K * N / min(v) / 1e9 for k, v in times.items()}
                print(f"| {name}: ({M}, {K}) @ ({K}, {N}) | {rate['numpy']:.0f} | {rate['mkl']:.0f} | "
                      f"{rate['mkl'] / rate['numpy']:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
