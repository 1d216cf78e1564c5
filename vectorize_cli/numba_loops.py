"""The loops numba compiles over nn.py's own formulas (imported by compiled.py only when they are to run: importing
this module imports numba and loads, or compiles, the loops):

    gelu_loop(x)                                    x_i <- x_i * gelu_factor(x_i), for x float32[::1]
    exp_shift_loop(s, m, total, rows, cols, stride) s[i, j] <- exp_le0(s[i, j] - m_i), total_i <- sum_j s[i, j],
                                                    j < cols, row i at s[i * stride:], s, m, total float32[::1]
    bias_gelu_loop(y, b)                            y[i, j] <- GELU(y[i, j] + b_j), rows of b.size
    add_center_loop(y, b, r, var, eps)              y[i, j] <- h - mean_i(h), h = y[i, j] + b_j + r[i, j],
                                                    var_i <- mean_j(y[i, j]^2) + eps: LayerNorm's first half
    scale_shift_loop(y, inv, g, beta)               y[i, j] <- y[i, j] * inv_i * g_j + beta_j: its second half
    softmax_loop(s, hidden, bias, scale, cols, rows_per_mask, causal_rows)
                                                    s[i] <- softmax(s[i] * scale + bias[i mod bias rows],
                                                    -inf where hidden[i // rows_per_mask], and where key
                                                    j > i mod causal_rows if causal_rows: row i a query)

The first three give numpy's bits: the same operations in the same order, each sum of a row pairwise as numpy
sums it (pairwise_sum); LayerNorm's inverse square root is left to numpy between its two halves (numpy's
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
AVX-512 (LLVM's own choice there is 8).
"""

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import datamodel as models
from numba.extending import intrinsic, overload, register_jitable, register_model

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
    (add_center_loop 0.85-0.95x, its time in pairwise_sum's scalar adds; scale_shift_loop within the noise), nor the
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


class Lanes(types.Type):
    """LANES float32 values as one LLVM vector <8 x float>: numpy's 8 running sums of a row, added as one."""

    def __init__(self):
        super().__init__(name="Lanes(float32 x 8)")


LANES = 8  # numpy's running sums in its pairwise_sum's blocks
lanes = Lanes()
VECTOR = ir.VectorType(ir.FloatType(), LANES)
register_model(Lanes)(lambda dmm, fe_type: models.PrimitiveModel(dmm, fe_type, VECTOR))


def _lanes_at(context, builder, array_type, array, i):
    data = context.make_array(array_type)(context, builder, array).data
    return builder.bitcast(builder.gep(data, [i]), VECTOR.as_pointer())


@intrinsic
def load8(typingctx, a, i):
    """a[i : i + 8] as Lanes (any alignment). numba's SLP vectorizer is off (NUMBA_SLP_VECTORIZE=0, for every
    function of the process), and LLVM's loop vectorizer sums a row in lanes only reassociated (other bits):
    these few vector operations are how 8 running sums run as one."""

    def codegen(context, builder, signature, args):
        return builder.load(_lanes_at(context, builder, signature.args[0], *args), align=4)

    return lanes(a, i), codegen


@intrinsic
def store8(typingctx, a, i, v):
    """a[i : i + 8] <- v."""

    def codegen(context, builder, signature, args):
        builder.store(args[2], _lanes_at(context, builder, signature.args[0], *args[:2]), align=4)
        return context.get_dummy_value()

    return types.none(a, i, v), codegen


def _lanewise(op):
    """u op v lane by lane, IEEE's float32 operation in each (no fastmath flag: nothing fused); a float32 v is
    the same value in every lane."""

    @intrinsic
    def lanewise(typingctx, u, v):
        def codegen(context, builder, signature, args):
            x, y = args
            if signature.args[1] is not lanes:
                y = builder.insert_element(ir.Constant(VECTOR, ir.Undefined), y, ir.IntType(32)(0))
                y = builder.shuffle_vector(y, ir.Constant(VECTOR, ir.Undefined), ir.Constant(
                    ir.VectorType(ir.IntType(32), LANES), [0] * LANES))
            return getattr(builder, op)(x, y)

        return lanes(u, v), codegen

    return lanewise


add8, sub8, mul8 = _lanewise("fadd"), _lanewise("fsub"), _lanewise("fmul")


@intrinsic
def lanes_sum(typingctx, v):
    """((v0 + v1) + (v2 + v3)) + ((v4 + v5) + (v6 + v7)): numpy's sum of its 8 running sums, in its order."""

    def codegen(context, builder, signature, args):
        r = [builder.extract_element(args[0], ir.IntType(32)(k)) for k in range(LANES)]
        add = builder.fadd
        return add(add(add(r[0], r[1]), add(r[2], r[3])), add(add(r[4], r[5]), add(r[6], r[7])))

    return types.float32(v), codegen


OPTIONS = dict(cache=True, nogil=True, error_model="numpy")
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


@njit(**OPTIONS)
def _term(a, i, square):
    v = a[np.uint64(i)]  # i >= 0: unsigned, numba indexes without wrapping a negative i (a select less, 1.4x)
    return v * v if square else v


PAIRWISE_BLOCK = 128  # numpy's PW_BLOCKSIZE: rows up to this long are summed in 8 running sums


@njit("float32(float32[::1], int64, int64, boolean)", **OPTIONS)
def pairwise_sum(a, lo, n, square):
    """sum_j a_j (or a_j^2, each square rounded to float32 first) over a[lo : lo + n] in numpy's own order (its
    pairwise_sum for float32: below 8 one after another, up to PAIRWISE_BLOCK in 8 running sums, longer
    halved at a multiple of 8), so that a mean is numpy's bits. Indices, not slices: a slice passed to a
    call is counted in and out (numba's NRT), two atomic calls a row."""
    if n > PAIRWISE_BLOCK:
        half = n // 2
        half -= half % 8
        return pairwise_sum(a, lo, half, square) + pairwise_sum(a, lo + half, n - half, square)
    if n < 8:
        total = np.float32(-0.0)
        for i in range(lo, lo + n):
            total += _term(a, i, square)
        return total
    r0, r1, r2, r3 = _term(a, lo, square), _term(a, lo + 1, square), _term(a, lo + 2, square), _term(a, lo + 3, square)
    r4, r5, r6, r7 = _term(a, lo + 4, square), _term(a, lo + 5, square), _term(a, lo + 6, square), _term(a, lo + 7, square)
    for i in range(lo + 8, lo + n - n % 8, 8):  # 8 running sums, as numpy's
        r0 += _term(a, i, square)
        r1 += _term(a, i + 1, square)
        r2 += _term(a, i + 2, square)
        r3 += _term(a, i + 3, square)
        r4 += _term(a, i + 4, square)
        r5 += _term(a, i + 5, square)
        r6 += _term(a, i + 6, square)
        r7 += _term(a, i + 7, square)
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for i in range(lo + n - n % 8, lo + n):
        total += _term(a, i, square)
    return total


@njit(**OPTIONS, inline="always")  # compiled into its caller: no call a leaf
def _added(y, b, r, at, lo, n):
    """sum_j h_j over a leaf of numpy's pairwise_sum (n <= PAIRWISE_BLOCK: 8 running sums, Lanes), h_j = (y_j +
    b_j) + r_j rounded to float32 (numpy's two in-place adds) and stored in y: y, r at at + lo, b at lo."""
    if n < 8:
        total = np.float32(-0.0)
        for j in range(lo, lo + n):
            h = (y[at + j] + b[j]) + r[at + j]
            y[at + j] = h
            total += h
        return total
    end = lo + n - n % 8
    acc = add8(add8(load8(y, at + lo), load8(b, lo)), load8(r, at + lo))
    store8(y, at + lo, acc)
    for j in range(lo + 8, end, 8):
        h = add8(add8(load8(y, at + j), load8(b, j)), load8(r, at + j))
        store8(y, at + j, h)
        acc = add8(acc, h)
    total = lanes_sum(acc)
    for j in range(end, lo + n):
        h = (y[at + j] + b[j]) + r[at + j]
        y[at + j] = h
        total += h
    return total


@njit(**OPTIONS, inline="always")
def _centered(y, at, n, mean):
    """sum_j c_j^2 over a leaf, c_j = y_j - mean rounded to float32 and stored in y, each square rounded: y at at."""
    if n < 8:
        total = np.float32(-0.0)
        for j in range(at, at + n):
            c = y[j] - mean
            y[j] = c
            total += c * c
        return total
    end = at + n - n % 8
    c = sub8(load8(y, at), mean)
    store8(y, at, c)
    acc = mul8(c, c)
    for j in range(at + 8, end, 8):
        c = sub8(load8(y, j), mean)
        store8(y, j, c)
        acc = add8(acc, mul8(c, c))
    total = lanes_sum(acc)
    for j in range(end, at + n):
        c = y[j] - mean
        y[j] = c
        total += c * c
    return total


@njit(**OPTIONS, inline="always")
def _pairwise_added(y, b, r, at, lo, n):
    """pairwise_sum's order over h = (y + b) + r, each h stored in y as it is summed (_added): add_center_loop's
    first pass and its mean's sum in one. A part of at most PAIRWISE_BLOCK summed in place, a longer one by a
    call (pairwise_sum_added): 3 calls a row, not 7, for d = 384."""
    if n <= PAIRWISE_BLOCK:
        return _added(y, b, r, at, lo, n)
    half = n // 2
    half -= half % 8
    left = _added(y, b, r, at, lo, half) if half <= PAIRWISE_BLOCK else pairwise_sum_added(y, b, r, at, lo, half)
    if n - half <= PAIRWISE_BLOCK:
        return left + _added(y, b, r, at, lo + half, n - half)
    return left + pairwise_sum_added(y, b, r, at, lo + half, n - half)


@njit("float32(float32[::1], float32[::1], float32[::1], int64, int64, int64)", **OPTIONS)
def pairwise_sum_added(y, b, r, at, lo, n):
    return _pairwise_added(y, b, r, at, lo, n)


@njit(**OPTIONS, inline="always")
def _pairwise_centered(y, at, n, mean):
    """pairwise_sum's order over (y - mean)^2, each y - mean stored in y as it is summed (_centered); split as
    _pairwise_added."""
    if n <= PAIRWISE_BLOCK:
        return _centered(y, at, n, mean)
    half = n // 2
    half -= half % 8
    left = _centered(y, at, half, mean) if half <= PAIRWISE_BLOCK else pairwise_sum_centered(y, at, half, mean)
    if n - half <= PAIRWISE_BLOCK:
        return left + _centered(y, at + half, n - half, mean)
    return left + pairwise_sum_centered(y, at + half, n - half, mean)


@njit("float32(float32[::1], int64, int64, float32)", **OPTIONS)
def pairwise_sum_centered(y, at, n, mean):
    return _pairwise_centered(y, at, n, mean)


@njit("void(float32[::1], float32[::1], float32[::1], float32[::1], float32)", **OPTIONS)
def add_center_loop(y, b, r, var, eps):
    """Two passes a row, each a pairwise sum that writes as it reads (8 elements a vector instruction): numpy's
    += b, += r and mean, then its -= mean and mean of the squares, the same roundings in the same order."""
    cols = b.size
    d = np.float32(cols)
    for i in range(var.size):
        mean = _pairwise_added(y, b, r, i * cols, 0, cols) / d
        var[i] = _pairwise_centered(y, i * cols, cols, mean) / d + eps


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
         softmax_loop)  # what compiled.py calls (row_sum and pairwise_sum: compiled into them)
