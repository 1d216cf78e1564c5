"""numpy's pairwise sums of float32 rows, compiled for numba's loops (numba_loops.py, numba_decoder_loops.py):
the same float32 additions in the same order as numpy's pairwise_sum (its PW_BLOCKSIZE = 128 blocks, halves cut
at multiples of 8; in a block 8 running sums r_k over the elements k, k + 8, ..., then ((r0 + r1) + (r2 + r3))
+ ((r4 + r5) + (r6 + r7)), then the n % 8 left one after another), so that a mean is numpy's bits:

    added_sum(y, b, r, at, lo, n)            sum of h = (y + b) + r over a row's y[at + lo : at + lo + n], each h
                                             stored in y as it is summed (LayerNorm's first pass)
    centered_sum(y, at, n, mean)             sum of c^2, c = y - mean stored in y (its second pass)
    squared_sum(y, r, at, n, add)            sum of h^2, h = y + r stored in y (add; else h = y, y untouched):
                                             RMSNorm's residual add and sum of squares in one pass

Each compiles into its caller (inline), a half longer than a block by a call (pairwise_sum_added,
pairwise_sum_centered, pairwise_sum_squared: numba compiles a recursive function only as a call).

LLVM vectorizes none of these orders itself (8 running sums are a reassociation to its loop vectorizer, and
numba turns its SLP vectorizer off, NUMBA_SLP_VECTORIZE=0, for every function of the process): each adds
a block's 8 running sums as one vector of 8 lanes (Lanes: load8, add8, ..., lanes_sum), the same IEEE float32
operation lane by lane, nothing fused. OPTIONS are every loop's numba options (numba_loops.py says why each).
numba's cache of a loop that compiles these in knows its own module's source, not this one's: compiled.py's check
against numpy when the loops load is what finds a stale one.
"""

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import datamodel as models
from numba.extending import intrinsic, register_model

OPTIONS = dict(cache=True, nogil=True, error_model="numpy")


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


PAIRWISE_BLOCK = 128  # numpy's PW_BLOCKSIZE: rows up to this long are summed in 8 running sums


@njit(**OPTIONS, inline="always")  # compiled into its caller: no call a leaf
def _added(y, b, r, at, lo, n):
    """sum_j h_j over a leaf of numpy's pairwise_sum (n <= PAIRWISE_BLOCK: 8 running sums, Lanes), h_j = (y_j +
    b_j) + r_j rounded to float32 (numpy's two in-place adds) and stored in y: y, r at at + lo, b at lo."""
    end = lo + n - n % 8  # n below 8: no lanes, every element one after another
    total = np.float32(-0.0)
    if n >= 8:
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
    end = at + n - n % 8  # n below 8: no lanes
    total = np.float32(-0.0)
    if n >= 8:
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
def _first_part(n):
    """numpy's pairwise cut of n elements: the first half's length, rounded down to a multiple of 8, past
    PAIRWISE_BLOCK; n itself (one block, summed whole) up to it."""
    return n // 2 - n // 2 % 8 if n > PAIRWISE_BLOCK else n


@njit(**OPTIONS, inline="always")
def added_sum(y, b, r, at, lo, n):
    """pairwise_sum's order over h = (y + b) + r, each h stored in y as it is summed (_added): add_center_loop's
    first pass and its mean's sum in one. A part of at most PAIRWISE_BLOCK summed in place, a longer one by a
    call (pairwise_sum_added): 3 calls a row, not 7, for d = 384. One place that compiles _added in (a loop
    over the parts): numba's inlining is the most of the loops' compile time."""
    half = _first_part(n)
    total = np.float32(0)
    for k in range(1 if half == n else 2):
        start, size = (lo, half) if k == 0 else (lo + half, n - half)
        if size <= PAIRWISE_BLOCK:
            part = _added(y, b, r, at, start, size)
        else:
            part = pairwise_sum_added(y, b, r, at, start, size)
        total = part if k == 0 else total + part
    return total


@njit("float32(float32[::1], float32[::1], float32[::1], int64, int64, int64)", **OPTIONS)
def pairwise_sum_added(y, b, r, at, lo, n):
    return added_sum(y, b, r, at, lo, n)


@njit(**OPTIONS, inline="always")
def centered_sum(y, at, n, mean):
    """pairwise_sum's order over (y - mean)^2, each y - mean stored in y as it is summed (_centered); split as
    added_sum."""
    half = _first_part(n)
    total = np.float32(0)
    for k in range(1 if half == n else 2):
        start, size = (at, half) if k == 0 else (at + half, n - half)
        if size <= PAIRWISE_BLOCK:
            part = _centered(y, start, size, mean)
        else:
            part = pairwise_sum_centered(y, start, size, mean)
        total = part if k == 0 else total + part
    return total


@njit("float32(float32[::1], int64, int64, float32)", **OPTIONS)
def pairwise_sum_centered(y, at, n, mean):
    return centered_sum(y, at, n, mean)


@njit(**OPTIONS, inline="always")
def _squared(y, r, at, n, add):
    """sum_j h_j^2 over a leaf, h_j = y_j + r_j rounded to float32 and stored in y where add (numpy's y += r),
    else h_j = y_j (y not written), each square rounded: y, r at at."""
    end = at + n - n % 8  # n below 8: no lanes
    total = np.float32(-0.0)
    if n >= 8:
        h = add8(load8(y, at), load8(r, at)) if add else load8(y, at)
        if add:
            store8(y, at, h)
        acc = mul8(h, h)
        for j in range(at + 8, end, 8):
            h = add8(load8(y, j), load8(r, j)) if add else load8(y, j)
            if add:
                store8(y, j, h)
            acc = add8(acc, mul8(h, h))
        total = lanes_sum(acc)
    for j in range(end, at + n):
        h = y[j] + r[j] if add else y[j]
        if add:
            y[j] = h
        total += h * h
    return total


@njit(**OPTIONS, inline="always")
def squared_sum(y, r, at, n, add):
    """pairwise_sum's order over h^2, h = y + r stored in y where add, else h = y (_squared); split as added_sum."""
    half = _first_part(n)
    total = np.float32(0)
    for k in range(1 if half == n else 2):
        start, size = (at, half) if k == 0 else (at + half, n - half)
        if size <= PAIRWISE_BLOCK:
            part = _squared(y, r, start, size, add)
        else:
            part = pairwise_sum_squared(y, r, start, size, add)
        total = part if k == 0 else total + part
    return total


@njit("float32(float32[::1], float32[::1], int64, int64, boolean)", **OPTIONS)
def pairwise_sum_squared(y, r, at, n, add):
    return squared_sum(y, r, at, n, add)
