"""The loops numba compiles over nn.py's own formulas (imported by compiled.py only when they are to run: importing
this module imports numba and loads, or compiles, the loops):

    gelu_loop(x)                                    x_i <- x_i * gelu_factor(x_i), for x float32[::1]
    exp_shift_loop(s, m, total, rows, cols, stride) s[i, j] <- exp_le0(s[i, j] - m_i), total_i <- sum_j s[i, j],
                                                    j < cols, row i at s[i * stride:], s, m, total float32[::1]
    bias_gelu_loop(y, b)                            y[i, j] <- GELU(y[i, j] + b_j), rows of b.size
    add_center_loop(y, b, r, var, eps)              y[i, j] <- h - mean_i(h), h = y[i, j] + b_j + r[i, j],
                                                    var_i <- mean_j(y[i, j]^2) + eps: LayerNorm's first half
                                                    (two passes a row, each one pairwise sum as it writes)
    scale_shift_loop(y, inv, g, beta)               y[i, j] <- y[i, j] * inv_i * g_j + beta_j: its second half
    softmax_loop(s, hidden, bias, scale, cols, rows_per_mask, causal_rows)
                                                    s[i] <- softmax(s[i] * scale + bias[i mod bias rows],
                                                    -inf where hidden[i // rows_per_mask], and where key
                                                    j > i mod causal_rows if causal_rows: row i a query)

The first three give numpy's bits: the same operations in the same order, each sum of a row pairwise as numpy
sums it (numba_pairwise.py); LayerNorm's inverse square root is left to numpy between its two halves (numpy's
float32 power is not libm's, and numba calls libm). The softmax takes nn.exp_le0 (a fused multiply-add a step,
as exp_shift_loop), so it is within ulps of numpy's, not its bits.

Not second implementations: numba compiles nn.py's functions themselves (register_jitable) for one float32
value, and each loop applies them element by element as numpy applies them to an array. Their signatures are
fixed (eager compilation): any other array is a TypeError, never a slow compilation in the middle of a run.

numba's own cache (cache=True) keeps the machine code, beside this file (__pycache__) or, where the package is
not writable, in the user's cache folder (or NUMBA_CACHE_DIR); it knows this file's source and the CPU, not
nn.py's (numba's documented limit): compiled.py checks the loops against numpy before they run.
How a loop stays vectorized: LLVM vectorizes a loop only when its body has no calls and no branches it cannot
turn into selects. Hence error_model="numpy" (numba's float division otherwise checks for zero and raises) and
nn.py's own exp (libm's expf would be called one lane at a time). nogil: parallel.core_map's threads run them
on every core at once. How wide: GELU's two loops call wide_vectors() first, 16 float32 lanes where the CPU has
AVX-512 (LLVM's own choice there is 8). A sum in numpy's order is no loop LLVM vectorizes: LayerNorm's first
loop adds its 8 running sums as one vector of 8 lanes (numba_pairwise.py).
"""

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload, register_jitable

from vectorize_cli.model import nn
from vectorize_cli.numba_pairwise import OPTIONS, added_sum, centered_sum


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

# LLVM's string attribute on a function: vectorize its loops up to 512 bits wide
PREFER_512_BIT = '"prefer-vector-width"="512"'


@intrinsic
def wide_vectors(typingctx):
    """Marks the function that calls it PREFER_512_BIT. LLVM's tuning for Intel's AVX-512 CPUs (Skylake-X to
    Sapphire Rapids: "prefer-256-bit", against the clock drop of early 512-bit units) vectorizes a loop 8 float32
    lanes wide; this attribute overrides it for the one function, 16 lanes: bias + GELU, a throughput-bound
    body, runs about 1.4x faster here (benchmarks/README.md, "512-bit vectors"). Not numba's CPU features
    ("-prefer-256-bit" in NUMBA_CPU_FEATURES): those change every numba function of the process, and only
    before numba's target machine is made. Without AVX-512 it changes nothing (LLVM's widest vectors there
    are 256 bits).

    Marked: gelu_loop and bias_gelu_loop, numpy's bits still (a lane computes its own element with the same
    operations whatever the width; tested on rows of any length). Not LayerNorm's two loops: no faster so
    (add_center_loop 0.85-0.95x when its sums were scalar adds; its Lanes are 8 wide, numpy's order;
    scale_shift_loop within the noise), nor the
    softmax's and exp_shift's: their reassociated row_sum would add in 16 lanes, not 8, other bits, and the
    softmax of short rows ran slower so (459 us against 412 at T = 20). numba's cache keeps the machine code
    made with it under an index keyed by this file's stamp (its content), the function's bytecode and the
    CPU's name and features (codegen.magic_tuple): a cache of another source (before this mark, or without
    it) or of another CPU is compiled again, never reused (tests/test_wide_vectors.py). llvmlite's attribute
    set takes only the names it knows, not LLVM's "key"="value" ones: the set's own add (set.add) takes it
    as written."""

    def codegen(context, builder, signature, args):
        set.add(builder.function.attributes, PREFER_512_BIT)  # the function being compiled, the caller's
        return context.get_dummy_value()

    return types.none(), codegen


INF, NEG_INF, NAN = np.float32(np.inf), np.float32(-np.inf), np.float32(np.nan)  # float32: a float64 constant would widen the loop's sums


@njit("void(float32[::1])", **OPTIONS)  # no fastmath: numpy rounds every product and sum, and so must GELU
def gelu_loop(x):
    wide_vectors()
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


@njit("void(float32[::1], float32[::1])", **OPTIONS)  # no fastmath: numpy's bits, as gelu_loop
def bias_gelu_loop(y, b):
    wide_vectors()
    cols = b.size
    for i in range(y.size // cols):
        row = y[i * cols : (i + 1) * cols]
        for j in range(cols):
            h = row[j] + b[j]
            row[j] = h * nn.gelu_factor(h)


@njit("void(float32[::1], float32[::1], float32[::1], float32[::1], float32)", **OPTIONS)
def add_center_loop(y, b, r, var, eps):
    """Two passes a row, each a pairwise sum that writes as it reads (8 elements a vector instruction): numpy's
    += b, += r and mean, then its -= mean and mean of the squares, the same roundings in the same order."""
    cols = b.size
    d = np.float32(cols)
    for i in range(var.size):
        mean = added_sum(y, b, r, i * cols, 0, cols) / d
        var[i] = centered_sum(y, i * cols, cols, mean) / d + eps


@njit("void(float32[::1], float32[::1], float32[::1], float32[::1])", **OPTIONS)
def scale_shift_loop(y, inv, g, beta):
    cols = g.size
    for i in range(inv.size):
        row, scale = y[i * cols : (i + 1) * cols], inv[i]
        for j in range(cols):
            row[j] = row[j] * scale * g[j] + beta[j]


# as exp_shift_loop: its multiply-adds fused (fastmath "contract": the scale and the bias one FMA), its row sums in
# vector lanes (row_sum)
@njit("void(float32[::1], boolean[::1], float32[::1], float32, int64, int64, int64)", **OPTIONS,
      fastmath={"contract"})
def softmax_loop(s, hidden, bias, scale, cols, rows_per_mask, causal_rows):
    masked = hidden.size > 0
    bias_rows = bias.size // cols  # 0: no bias
    for i in range(s.size // cols):
        row = s[i * cols : (i + 1) * cols]
        keys = hidden[i // rows_per_mask * cols : (i // rows_per_mask + 1) * cols]  # empty where none is hidden
        add = bias[i % bias_rows * cols : (i % bias_rows + 1) * cols] if bias_rows else bias  # this row's B
        end = min(cols, i % causal_rows + 1) if causal_rows else cols  # causal: keys 0 .. i, none after
        # the keys up to the last one seen: a padded sentence's row sums only its own keys,
        while masked and end > 0 and keys[end - 1]:  # in the same order whatever its batch's length
            end -= 1
        m, bad = NEG_INF, False
        for j in range(end):
            v = row[j] * scale + add[j] if bias_rows else row[j] * scale
            if masked and keys[j]:
                v = NEG_INF
            row[j] = v
            m = max(m, v)
            bad |= not v < INF  # NaN or +inf seen: NaN out, as numpy's (max would pass over a NaN)
        if end == 0 or bad:  # every key hidden, or a NaN or +inf: NaN, as numpy's -inf - (-inf) or inf - inf
            m = NAN
        for j in range(end):
            row[j] = nn.exp_le0(row[j] - m)
        total = row_sum(row[:end])
        for j in range(end):
            row[j] /= total
        for j in range(end, cols):
            row[j] = 0 if end else NAN


LOOPS = (gelu_loop, exp_shift_loop, bias_gelu_loop, add_center_loop, scale_shift_loop,
         softmax_loop)  # what compiled.py calls (row_sum and numba_pairwise's sums: compiled into them)
