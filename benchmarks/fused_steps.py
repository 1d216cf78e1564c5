"""The steps between the model's products, numpy's passes against the compiled loops (compiled.py), side by
side in one process on one thread: a batch of 32 sentences of T tokens, on MiniLM's shapes (d = 384,
d_ff = 1,536, 12 heads; MPNet's relative bias added to its scores in a row of its own) and a decoder's
(Qwen3-Embedding-0.6B's: d = 1,024, d_ff = 3,072, 16 heads, causal; --decoder-d and --decoder-d-ff to change).

    python benchmarks/fused_steps.py [--T 20] [--repeat 200] [--decoder-d 1024] [--decoder-d-ff 3072]

Each step gets fresh copies of the same inputs (the copy timed alone and subtracted); contenders alternate
within each round; the median over rounds is printed, with the ratio. The bits: bias + GELU and LayerNorm
are compared for equality, the softmax, SwiGLU and RMSNorm as max |delta| / max |numpy's|.
"""

import argparse
import os
import statistics
import time

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
    a = p.parse_args()
    always = Backend("numpy", "cpu", "float32", compiled="always")
    loops = compiled.loops(always, True)
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

    steps = {
        "bias + GELU (B*T, d_ff)": (y_ff, numpy_gelu, lambda x: loops.bias_gelu_(x, b_ff), "bits"),
        "bias + residual + LayerNorm (B*T, d)": (y, numpy_norm, lambda x: loops.add_layer_norm_(x, b, r, g, beta, 1e-12),
                                                 "bits"),
        "scale + mask + softmax (B, H, T, T)": (s, numpy_softmax, lambda x: loops.softmax_(x, mask, 0.125), "delta"),
        "MPNet: scale + bias + mask + softmax (B, H, T, T)": (
            s, numpy_biased, lambda x: loops.softmax_(x, mask, 0.125, False, bias), "delta"),
        f"decoder: SwiGLU (B*T, 2 x {D_ff})": (gate_up, lambda x: swiglu_(x, D_ff),
                                               lambda x: decoder_loops.swiglu_(x, D_ff), "delta"),
        f"decoder: residual + RMSNorm (B*T, {D})": (y_dec, numpy_add_rms,
                                                   lambda x: decoder_loops.add_rms_norm_(x, x_dec, g_dec, 1e-6)[1],
                                                   "delta"),
        f"decoder: scale + causal mask + softmax (B, {H_dec}, T, T)": (
            s_dec, numpy_causal, lambda x: loops.softmax_(x, None, scale_dec, True), "delta"),
    }
    print(f"B {B}, T {T}, one thread, median of {a.repeat} rounds, alternating; load average "
          f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())}\n")
    print("| step | numpy us | compiled us | numpy / compiled | outputs |\n|---|---:|---:|---:|---|")
    for name, (x, numpy_step, loop_step, compare) in steps.items():
        times = {"copy": [], "numpy": [], "compiled": []}
        for _ in range(a.repeat):
            for k, f in (("copy", lambda z: z), ("numpy", numpy_step), ("compiled", loop_step)):
                t = time.perf_counter()
                f(x.copy())
                times[k].append(time.perf_counter() - t)
        copy = statistics.median(times["copy"])
        tn, tc = (statistics.median(times[k]) - copy for k in ("numpy", "compiled"))
        with np.errstate(invalid="ignore"):
            ours, theirs = loop_step(x.copy()), numpy_step(x.copy())
        same = ("numpy's bits" if ours.tobytes() == theirs.tobytes() else "DIFFERENT BITS") if compare == "bits" \
            else f"max abs delta / max abs {np.abs(ours - theirs).max() / np.abs(theirs).max():.1e}"
        print(f"| {name} | {tn * 1e6:.0f} | {tc * 1e6:.0f} | {tn / tc:.2f}x | {same} |")


if __name__ == "__main__":
    main()
