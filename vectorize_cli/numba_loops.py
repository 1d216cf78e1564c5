"""The loops numba compiles over nn.py's own formulas (imported by compiled.py only when they are to run: importing
this module imports numba and loads, or compiles, the loops):

    gelu_loop(x)                                    x_i <- x_i * gelu_factor(x_i), for x float32[::1]
    exp_shift_loop(s, m, total, rows, cols, stride) s[i, j] <- exp_le0(s[i, j] - m_i), total_i <- sum_j s[i, j],
                                                    j < cols, row i at s[i * stride:], s, m, total float32[::1]

Not second implementations: numba compiles nn.py's functions themselves (register_jitable) for one float32
value, and each loop applies them element by element as numpy applies them to an array. Their signatures are
fixed (eager compilation): any other array is a TypeError, never a slow compilation in the middle of a run.

numba's own cache (cache=True) keeps the machine code, beside this file (__pycache__) or, where the package is
not writable, in the user's cache folder (or NUMBA_CACHE_DIR); it knows this file's source and the CPU, not
nn.py's (numba's documented limit): compiled.py checks the loops against numpy before they run.
How a loop stays vectorized: LLVM vectorizes a loop only when its body has no calls and no branches it cannot
turn into selects. Hence error_model="numpy" (numba's float division otherwise checks for zero and raises) and
nn.py's own exp (libm's expf would be called one lane at a time). nogil: parallel.core_map's threads run them
on every core at once.
"""

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload, register_jitable

from vectorize_cli.model import nn


@intrinsic
def bits_as_float32(typingctx, i):
    """The float32 whose bits are the low 32 bits of the integer i (a bit cast, not a conversion)."""

    def codegen(context, builder, signature, args):
        (v,) = args
        if v.type.width > 32:  # numba widens int32 arithmetic to int64
            v = builder.trunc(v, ir.IntType(32))
        return builder.bitcast(v, ir.FloatType())

    return types.float32(i), codegen


overload(nn.float_bits)(lambda i: lambda i: bits_as_float32(i))  # numpy's .view, on one value
for formula in (nn.times_poly, nn.exp_le0, nn.erf_abs, nn.gelu_factor):
    register_jitable(formula)  # numba compiles the Python function itself wherever a loop calls it

OPTIONS = dict(cache=True, nogil=True, error_model="numpy")


@njit("void(float32[::1])", **OPTIONS)  # no fastmath: numpy rounds every product and sum, and so must GELU
def gelu_loop(x):
    for i in range(x.size):
        x[i] *= nn.gelu_factor(x[i])


@njit(**OPTIONS, fastmath={"reassoc"})  # reassociated: LLVM sums in vector lanes, then adds the lanes
def row_sum(row):
    total = np.float32(0)
    for j in range(row.size):
        total += row[j]
    return total


# fastmath "contract": each multiply and add fused into one FMA (one rounding instead of two, a shorter
# chain, about 1.5x faster): within an ulp of numpy's formula and 2 of float64's exp (tests/test_compiled.py)
@njit("void(float32[::1], float32[::1], float32[::1], int64, int64, int64)", **OPTIONS, fastmath={"contract"})
def exp_shift_loop(s, m, total, rows, cols, stride):
    for i in range(rows):
        shift = m[i]  # read once a row: the stores to s could otherwise be m's memory, for all LLVM knows
        row = s[i * stride : i * stride + cols]
        for j in range(cols):  # indices from range(): numba knows them >= 0, so no branch to wrap them
            row[j] = nn.exp_le0(row[j] - shift)
        total[i] = row_sum(row)  # the row is still in the core's cache


LOOPS = (gelu_loop, exp_shift_loop)  # what compiled.py calls (row_sum is compiled into exp_shift_loop)
