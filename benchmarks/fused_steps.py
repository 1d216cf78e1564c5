"""The steps between the model's products, numpy's passes against the compiled loops (compiled.py), side by
side in one process on one thread: a batch of 32 sentences of T tokens, on MiniLM's shapes (d = 384,
d_ff = 1,536, 12 heads; MPNet's relative bias added to its scores in a row of its own) and a decoder's
(Qwen3-Embedding-0.6B's: d = 1,024, d_ff = 3,072, 16 heads, causal; --decoder-d and --decoder-d-ff to change).

    python benchmarks/fused_steps.py [--T 20] [--repeat 200] [--decoder-d 1024] [--decoder-d-ff 3072]
                                     [--against OTHER/vectorize_cli/numba_loops.py]

--against: another checkout's numba_loops.py (compiled by numba there, over this checkout's nn.py and, where it
imports it, numba_pairwise.py) as a third contender on the steps it has, checked like ours first: a change to the
loops before and after, in one run.

Each step gets fresh copies of the same inputs (the copy timed alone and subtracted); contenders alternate
within each round; the median over rounds is printed, with the ratio. The bits: bias + GELU and LayerNorm
are compared for equality, the softmax, SwiGLU and RMSNorm as max |delta| / max |numpy's|.
"""

import argparse
import importlib.util
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from vectorize_cli import compiled, compiled_decoder
from vectorize_cli.attention.kernels import hide_, mask_future_, softmax_
from vectorize_cli.backend import Backend
from vectorize_cli.model import nn
from vectorize_cli.model.decoder_nn import add_rms_norm, swiglu_


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--T", type=int, default=20)
    p.add_argument("--repeat", type=int, default=200)
    p.add_argument("--decoder-d", type=int, default=1024)
    p.add_argument("--decoder-d-ff", type=int, default=3072)
    p.add_argument("--against", help="another checkout's vectorize_cli/numba_loops.py, timed beside ours")
    a = p.parse_args()
    always = Backend("numpy", "cpu", "float32", compiled="always")
    loops = compiled.loops(always, True)
    other = None if a.against is None else compiled.checked(other_loops(a.against))
    decoder_loops = compiled_decoder.decoder_fused(compiled.for_run(always, 1))
    if loops is None or decoder_loops is None:
        raise SystemExit("numba's loops did not load (pip install numba)")
    rng = np.random.default_rng(0)
    B, T, d, d_ff, H = 32, a.T, 384, 1536, 12
    y_ff = rng.standard_normal((B * T, d_ff), dtype=np.float32)  # x W_1, before its bias
    y = rng.standard_normal((B * T, d), dtype=np.float32)  # a W_o or h W_2, before its bias
    r = rng.standard_normal((B * T, d), dtype=np.float32)  # the residual
    b_ff, b, g, beta = (rng.standard_normal(n, dtype=np.float32) for n in (d_ff, d, d, d))
    s = rng.standard_normal((B, H, T, T), dtype=np.float32) * 4  # q k^T
    n = rng.integers(T // 3, T + 1, B)
    mask = (np.arange(T)[None, :] >= n[:, None])[:, None, None, :]  # (B, 1, 1, T) padding

    def numpy_gelu(x):
        x += b_ff
        return nn.gelu_(x)

    def numpy_norm(x):
        x += b
        x += r
        return nn.layer_norm_(x, g, beta, 1e-12)

    def numpy_softmax(x):
        x *= np.float32(0.125)
        return softmax_(hide_(x, mask))

    bias = rng.standard_normal((H, T, T), dtype=np.float32)  # MPNet's relative position bias (H, T, T)

    def numpy_biased(x):
        x *= np.float32(0.125)
        x += bias
        return softmax_(hide_(x, mask))

    D, D_ff, H_dec = a.decoder_d, a.decoder_d_ff, 16  # a decoder's
    gate_up = rng.standard_normal((B * T, 2 * D_ff), dtype=np.float32) * 3  # h [W_gate | W_up]
    y_dec = rng.standard_normal((B * T, D), dtype=np.float32)  # a sublayer's output
    x_dec = rng.standard_normal((B * T, D), dtype=np.float32)  # the residual stream
    g_dec = 1 + 0.2 * rng.standard_normal(D, dtype=np.float32)
    s_dec = rng.standard_normal((B, H_dec, T, T), dtype=np.float32) * 4
    scale_dec = float(1 / np.sqrt(128))  # head size 128

    def numpy_add_rms(x):
        return add_rms_norm(x, x_dec, g_dec, 1e-6)[1]

    def numpy_causal(x):
        x *= np.float32(scale_dec)
        return softmax_(mask_future_(x))

    def of(kind):  # the step of a Loops (ours, or --against's)
        return {
            "gelu": lambda L: lambda x: L.bias_gelu_(x, b_ff),
            "norm": lambda L: lambda x: L.add_layer_norm_(x, b, r, g, beta, 1e-12),
            "softmax": lambda L: lambda x: L.softmax_(x, mask, 0.125),
            "biased": lambda L: lambda x: L.softmax_(x, mask, 0.125, False, bias),
            "causal": lambda L: lambda x: L.softmax_(x, None, scale_dec, True),
        }[kind]

    againsts = {}  # a step's name -> --against's loop of it
    steps = {
        "bias + GELU (B*T, d_ff)": (y_ff, numpy_gelu, "gelu", "bits"),
        "bias + residual + LayerNorm (B*T, d)": (y, numpy_norm, "norm", "bits"),
        "scale + mask + softmax (B, H, T, T)": (s, numpy_softmax, "softmax", "delta"),
        "MPNet: scale + bias + mask + softmax (B, H, T, T)": (s, numpy_biased, "biased", "delta"),
        f"decoder: SwiGLU (B*T, 2 x {D_ff})": (gate_up, lambda x: swiglu_(x, D_ff),
                                               lambda x: decoder_loops.swiglu_(x, D_ff), "delta"),
        f"decoder: residual + RMSNorm (B*T, {D})": (y_dec, numpy_add_rms,
                                                   lambda x: decoder_loops.add_rms_norm_(x, x_dec, g_dec, 1e-6)[1],
                                                   "delta"),
        f"decoder: scale + causal mask + softmax (B, {H_dec}, T, T)": (s_dec, numpy_causal, "causal", "delta"),
    }
    for name, (x, numpy_step, kind, compare) in steps.items():
        if isinstance(kind, str):  # a step of Loops
            steps[name] = (x, numpy_step, of(kind)(loops), compare)
            if other is not None:
                againsts[name] = of(kind)(other)
    print(f"B {B}, T {T}, one thread, median of {a.repeat} rounds, alternating; load average "
          f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())}\n")
    head = "| step | numpy us | compiled us | numpy / compiled | outputs |"
    if other is not None:
        head += " --against us | --against / compiled | --against's outputs |"
    print(head + "\n" + "|---" + "|---:" * 3 + "|---|" + ("---:|---:|---|" if other is not None else ""))
    for name, (x, numpy_step, loop_step, compare) in steps.items():
        contenders = {"copy": lambda z: z, "numpy": numpy_step, "compiled": loop_step}
        if name in againsts:
            contenders["against"] = againsts[name]
        times = {k: [] for k in contenders}
        for _ in range(a.repeat):
            for k, f in contenders.items():
                t = time.perf_counter()
                f(x.copy())
                times[k].append(time.perf_counter() - t)
        copy = statistics.median(times["copy"])
        t = {k: statistics.median(v) - copy for k, v in times.items()}
        with np.errstate(invalid="ignore"):
            ours, theirs = loop_step(x.copy()), numpy_step(x.copy())
            row = f"| {name} | {t['numpy'] * 1e6:.0f} | {t['compiled'] * 1e6:.0f} | {t['numpy'] / t['compiled']:.2f}x | " \
                  f"{outputs(ours, theirs, compare)} |"
            if name in againsts:
                row += f" {t['against'] * 1e6:.0f} | {t['against'] / t['compiled']:.2f}x | " \
                       f"{'our bits' if againsts[name](x.copy()).tobytes() == ours.tobytes() else 'OTHER BITS'} |"
            elif other is not None:
                row += " - | - | - |"
        print(row)


def outputs(ours: np.ndarray, theirs: np.ndarray, compare: str) -> str:
    """Our step's outputs against numpy's: the same bits (compare "bits") or max |delta| / max |numpy's|."""
    if compare == "bits":
        return "numpy's bits" if ours.tobytes() == theirs.tobytes() else "DIFFERENT BITS"
    return f"max abs delta / max abs {np.abs(ours - theirs).max() / np.abs(theirs).max():.1e}"


def other_loops(path: str) -> tuple:
    """The loops (numba_loops.LOOPS) of another checkout's numba_loops.py, imported under a name of their own
    from a copy in a new folder: compiled in this process, never loaded from a cache (a cache made under the
    name vectorize_cli.numba_loops holds the machine code of ours' symbol names, which this process has)."""
    with tempfile.TemporaryDirectory() as folder:
        copy = shutil.copy(path, Path(folder) / "against_numba_loops.py")
        spec = importlib.util.spec_from_file_location("against_numba_loops", copy)
        module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # as an import would
        spec.loader.exec_module(module)  # compiles every loop (fixed signatures)
    return module.LOOPS


if __name__ == "__main__":
    main()
