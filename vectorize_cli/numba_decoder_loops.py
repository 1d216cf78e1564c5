"""The decoder's loops (model/decoder.py), numba compiling decoder_nn.py's own formulas; imported by compiled.py
only when a decoder's steps are to run compiled (compiled_decoder.decoder_fused), so that no other run loads them:

    swiglu_loop(gate_up, d_ff)          up[i, j] <- silu_times(gate[i, j], up[i, j]) = silu(gate) * up,
                                        row i of gate_up [gate | up], each half d_ff long
    add_rms_norm_loop(y, r, h, g, eps)  y[i] <- y[i] + r[i] (where r is not empty),
                                        h[i, j] <- y[i, j] / sqrt(mean_j(y[i, j]²) + eps) * g_j

One pass a row each (RMSNorm's: the add and the sum of squares as one, 8 lanes a vector, then the scale while the
row is in the core's cache).
swiglu_loop gives decoder_nn.silu_times's bits as numpy computes it on arrays (no fastmath: every product and
sum rounded as numpy rounds it), not numpy's swiglu_'s (np.exp: not numba's); RMSNorm's sum of squares is
numpy's pairwise order (numba_pairwise.squared_sum), not np.vecdot's (BLAS's sdot, whose order is its CPU
kernel's), and its 1/sqrt is IEEE's: both within float32 rounding of float64 (compiled_decoder.SWIGLU_ULPS,
RMS_NORM_ULPS; tests/test_fused.py). Fixed signatures, numba's own cache, nogil: as numba_loops.py.
"""

import numpy as np
from numba import njit
from numba.extending import register_jitable

from vectorize_cli import numba_loops  # noqa: F401  (registers nn.exp_le0 for numba)
from vectorize_cli.model import decoder_nn
from vectorize_cli.numba_pairwise import OPTIONS, squared_sum

for formula in (decoder_nn.sigmoid, decoder_nn.silu_times):
    register_jitable(formula)  # numba compiles the Python function itself wherever a loop calls it

ONE = np.float32(1.0)


@njit("void(float32[::1], int64)", **OPTIONS)  # no fastmath: silu_times's bits, as numpy rounds each step
def swiglu_loop(gate_up, d_ff):
    width = 2 * d_ff
    for i in range(gate_up.size // width):
        gate, up = gate_up[i * width : i * width + d_ff], gate_up[i * width + d_ff : (i + 1) * width]
        for j in range(d_ff):
            up[j] = decoder_nn.silu_times(gate[j], up[j])


@njit("void(float32[::1], float32[::1], float32[::1], float32[::1], float32)", **OPTIONS)
def add_rms_norm_loop(y, r, h, g, eps):
    cols = g.size
    d = np.float32(cols)
    add = r.size > 0
    for i in range(y.size // cols):
        row, out = y[i * cols : (i + 1) * cols], h[i * cols : (i + 1) * cols]
        # y += r (numpy's) and sum(y²) in numpy's pairwise order, one pass: 1 / sqrt(mean(x²) + eps)
        inv = ONE / np.sqrt(squared_sum(y, r, i * cols, cols, add) / d + eps)
        for j in range(cols):
            out[j] = row[j] * inv * g[j]  # rms_norm's order: (x r) g


DECODER_LOOPS = (swiglu_loop, add_rms_norm_loop)  # what compiled_decoder.py calls, in DecoderLoops' order
