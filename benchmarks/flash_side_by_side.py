"""numpy flash against torch's fused CPU kernel and against an earlier commit's numpy flash, in ONE
process, interleaved in a rotating order (on a shared machine only such ratios mean anything).

    python benchmarks/flash_side_by_side.py --lengths 512 1024 2048 4096 --before c97c456

Contenders (8 heads, head size 64, float32, not causal):
  numpy-flash    kernels.flash_attention of this checkout, its exp compiled (compiled.py, loaded before
                 timing, as VECTORIZE_COMPILED=1 passes it; without numba it is left out)
  numpy-flash, numpy exp   the same with numpy's subtract and exp (VECTORIZE_COMPILED=0)
  (Without VECTORIZE_COMPILED, flash runs the first from compiled.COMPILE_AT_SCORES scores, the second below.)
  before         kernels.flash_attention of --before (read with git show), if given
  torch-flash    F.scaled_dot_product_attention under sdpa_kernel(FLASH_ATTENTION)
  matmuls alone  numpy flash's two matrix products per tile (q K^T into the tile, then tile @ V), the same
                 tiles on the same threads, no softmax: a floor for any numpy flash, as OpenBLAS runs them
--split T also times each step of numpy flash's tiles on one thread (BLAS at one thread), summed over
every tile of T tokens: the two products, the row maximum, numpy's exp(s - m) and row sum, and the
compiled loop that computes both in one pass.
Prints, per T, the median of --repeat runs and each contender's ratio to torch-flash: the ratio of the
medians, and the paired ratio (the median of each round's ratio, whose quartiles show how settled it is).
Outputs are checked equal (flash == flash of --before to 1e-5) before timing. Peak memory: see
attention_kernels.py.
"""

import argparse
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from vectorize_cli.attention.kernels import flash_attention, flash_tiles
from vectorize_cli import compiled
from vectorize_cli.backend import Backend
from vectorize_cli.parallel import core_map

ROOT = Path(__file__).resolve().parent.parent
ALWAYS = Backend("numpy", "cpu", "float32", compiled="always")  # as VECTORIZE_COMPILED=1 resolves


def matmuls_alone(q: np.ndarray, k: np.ndarray, v: np.ndarray, block_size: int = 256) -> None:
    """The products numpy flash computes, in the tasks and tiles flash_attention cuts (kernels.flash_tiles),
    on parallel.core_map's threads: what is left of its time without the softmax."""
    H, T, hs = q.shape
    g, Bq, Bk = flash_tiles(H, T, T, block_size)

    def task(start: tuple[int, int]) -> None:
        h0, q0 = start
        heads = h0 if g == 1 else slice(h0, h0 + g)  # as flash_attention: 2-D products for one head
        qt = q[heads, q0 : q0 + Bq]
        s = np.empty((*qt.shape[:-1], min(Bk, T)), dtype=np.float32)
        acc = np.empty(qt.shape, dtype=np.float32)
        for k0 in range(0, T, Bk):
            n = min(Bk, T - k0)
            np.matmul(qt, k[heads, k0 : k0 + n].swapaxes(-1, -2), out=s[..., :n])
            np.matmul(s[..., :n], v[heads, k0 : k0 + n], out=acc)

    with core_map() as map_:
        for _ in map_(task, [(h0, q0) for q0 in range(0, T, Bq) for h0 in range(0, H, g)]):
            pass


def split(T: int, H: int = 8, hs: int = 64, block_size: int = 256) -> None:
    """Each step of the tiles of one flash call, on one thread, summed over the tiles (median of 3 passes)."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((H, T, hs), dtype=np.float32) for _ in range(3))
    _, Bq, Bk = flash_tiles(H, T, T, block_size)
    kernels = compiled.loops(ALWAYS, worth_loading=True)
    steps = ["q K^T", "row max", "exp(s - m), numpy", "row sum, numpy", "exp(s - m) and row sum, compiled", "p V"]
    passes = []
    with threadpool_limits(1, user_api="blas"):
        for _ in range(3):
            total = dict.fromkeys(steps, 0.0)
            for h in range(H):
                for q0 in range(0, T, Bq):
                    for k0 in range(0, T, Bk):
                        t0 = time.perf_counter()
                        s = q[h, q0 : q0 + Bq] @ k[h, k0 : k0 + Bk].T
                        t1 = time.perf_counter()
                        m = s.max(axis=-1, keepdims=True)
                        t2 = time.perf_counter()
                        e = np.exp(s - m)
                        t3 = time.perf_counter()
                        e.sum(axis=-1, keepdims=True)
                        t4 = time.perf_counter()
                        if kernels is not None:
                            kernels.exp_shift_(s, m, np.empty_like(m))
                        t5 = time.perf_counter()
                        e @ v[h, k0 : k0 + Bk]
                        t6 = time.perf_counter()
                        for step, dt in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5)):
                            total[step] += dt
            passes.append(total)
    print(f"T = {T}, {H} heads, tiles {Bq} x {Bk}, one thread: ms summed over the tiles, median of 3 passes\n")
    print("| step | ms |\n|---|---:|")
    for step in steps:
        print(f"| {step} | {statistics.median(p[step] for p in passes) * 1e3:.1f} |")
    print()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lengths", type=int, nargs="+", default=[512, 1024, 2048, 4096])
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--before", help="a commit whose kernels.flash_attention runs beside this one")
    p.add_argument("--split", type=int, metavar="T", help="also time each step of the tiles at this T")
    a = p.parse_args()
    if a.split:
        split(a.split)
    old = None
    if a.before:
        src = subprocess.run(["git", "show", f"{a.before}:vectorize_cli/attention/kernels.py"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
        scope: dict = {}
        exec(compile(src, f"{a.before}:kernels.py", "exec"), scope)
        old = scope["flash_attention"]
    rng = np.random.default_rng(0)
    H, hs = 8, 64
    kernels = compiled.loops(ALWAYS, worth_loading=True)  # loaded (or compiled) now, not inside a timed call
    print(f"compiled exp: {'loaded' if kernels else 'not available (no numba)'}")
    print(f"torch threads {torch.get_num_threads()}; median of {a.repeat}, rotating order; paired: the median "
          "of each round's ratio to torch-flash in that round (drift between rounds cancels), with its quartiles\n")
    print("| T | contender | median ms | spread ms | vs torch-flash | paired | quartiles |\n"
          "|---|---|---:|---|---:|---:|---|")
    for T in a.lengths:
        q, k, v = (rng.standard_normal((H, T, hs), dtype=np.float32) for _ in range(3))
        tq, tk, tv = (torch.from_numpy(x)[None] for x in (q, k, v))

        def torch_flash():
            with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
                return torch.nn.functional.scaled_dot_product_attention(tq, tk, tv)

        def with_exp(exp_step):
            return lambda: flash_attention(q, k, v, exp_step=exp_step)[0]

        numpy_exp = with_exp(None)
        runs = {"numpy-flash, numpy exp": numpy_exp, "torch-flash": torch_flash}
        if kernels is not None:
            runs["numpy-flash"] = with_exp(kernels.exp_shift_)
        runs["matmuls alone"] = lambda: matmuls_alone(q, k, v)
        if old:
            runs["before"] = lambda: old(q, k, v)[0]
            assert np.abs(runs["before"]() - numpy_exp()).max() < 1e-5
        for n in runs:
            if n not in ("torch-flash", "matmuls alone"):
                assert np.abs(torch_flash()[0].numpy() - runs[n]()).max() < 1e-5, n
        times: dict[str, list[float]] = {n: [] for n in runs}
        names = list(runs)
        for r in range(a.repeat):
            for n in names[r % len(names):] + names[: r % len(names)]:
                t = time.perf_counter()
                runs[n]()
                times[n].append(time.perf_counter() - t)
        base = statistics.median(times["torch-flash"])
        for n, ts in times.items():
            med = statistics.median(ts)
            paired = [t / t_torch for t, t_torch in zip(ts, times["torch-flash"])]  # round by round
            q1, q2, q3 = np.percentile(paired, [25, 50, 75])
            print(f"| {T} | {n} | {med * 1e3:.1f} | {min(ts) * 1e3:.1f}-{max(ts) * 1e3:.1f} | {med / base:.2f} "
                  f"| {q2:.2f} | {q1:.2f}-{q3:.2f} |", flush=True)


if __name__ == "__main__":
    main()
