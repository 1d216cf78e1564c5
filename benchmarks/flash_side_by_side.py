"""numpy flash against torch's fused CPU kernel and against an earlier commit's numpy flash, in ONE
process, interleaved in a rotating order (on a shared machine only such ratios mean anything).

    python benchmarks/flash_side_by_side.py --lengths 512 1024 2048 4096 --before c97c456

Contenders (8 heads, head size 64, float32, not causal):
  numpy-flash    kernels.flash_attention of this checkout, its exp compiled (model/compiled.py, loaded
                 before timing, VECTORIZE_COMPILED=1; without numba nor a cached object file it is left out)
  numpy-flash, numpy exp   the same with VECTORIZE_COMPILED=0: numpy's subtract and exp
  (Without VECTORIZE_COMPILED, flash runs the first from 2^28 scores, kernels.COMPILE_AT_SCORES, the second below.)
  before         kernels.flash_attention of --before (read with git show), if given
  torch-flash    F.scaled_dot_product_attention under sdpa_kernel(FLASH_ATTENTION)
  matmuls alone  numpy flash's two matrix products per tile (q K^T into the tile, then tile @ V), the same
                 tiles on the same threads, no softmax: a floor for any numpy flash, as OpenBLAS runs them
Prints, per T, the median of --repeat runs and each contender's ratio to torch-flash. Outputs are
checked equal (flash == flash of --before to 1e-5) before timing. Peak memory: see attention_kernels.py.
"""

import argparse
import os
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from vectorize_cli.attention.kernels import flash_attention, flash_tiles
from vectorize_cli.model import compiled
from vectorize_cli.parallel import core_map

ROOT = Path(__file__).resolve().parent.parent


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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lengths", type=int, nargs="+", default=[512, 1024, 2048, 4096])
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--before", help="a commit whose kernels.flash_attention runs beside this one")
    a = p.parse_args()
    old = None
    if a.before:
        src = subprocess.run(["git", "show", f"{a.before}:vectorize_cli/attention/kernels.py"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
        scope: dict = {}
        exec(compile(src, f"{a.before}:kernels.py", "exec"), scope)
        old = scope["flash_attention"]
    rng = np.random.default_rng(0)
    H, hs = 8, 64
    os.environ.pop("VECTORIZE_COMPILED", None)
    kernels = compiled.kernels()  # loaded (or compiled) now, not inside a timed call
    print(f"compiled exp: {'loaded' if kernels else 'not available (no numba nor a cached object file)'}")
    print(f"torch threads {torch.get_num_threads()}; median of {a.repeat}, rotating order\n")
    print("| T | contender | median ms | spread ms | vs torch-flash |\n|---|---|---:|---|---:|")
    for T in a.lengths:
        q, k, v = (rng.standard_normal((H, T, hs), dtype=np.float32) for _ in range(3))
        tq, tk, tv = (torch.from_numpy(x)[None] for x in (q, k, v))

        def torch_flash():
            with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
                return torch.nn.functional.scaled_dot_product_attention(tq, tk, tv)

        def with_exp(told: str):
            def run():
                os.environ["VECTORIZE_COMPILED"] = told  # read on every call (compiled.kernels)
                try:
                    return flash_attention(q, k, v)[0]
                finally:
                    del os.environ["VECTORIZE_COMPILED"]
            return run

        numpy_exp = with_exp("0")
        runs = {"numpy-flash, numpy exp": numpy_exp, "torch-flash": torch_flash}
        if kernels is not None:
            runs["numpy-flash"] = with_exp("1")
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
            print(f"| {T} | {n} | {med * 1e3:.1f} | {min(ts) * 1e3:.1f}-{max(ts) * 1e3:.1f} | {med / base:.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()
