"""nn.py's GELU compiled by numba (in the `model` extra) into one loop over the array, vectorized by LLVM (8
float32 lanes on AVX2): one pass over memory at about 1.7 ns an element on this machine, where the numpy
chunks take 8-10 ns (benchmarks/README.md). Not a second implementation: numba compiles nn.py's own
gelu_factor (and what it calls) for one float32 value, and the loop multiplies x[i] by it as the numpy
chunk multiplies the array, so both give the same bits (tests/test_model_nn.py checks it).

How the loop stays vectorized: LLVM vectorizes a loop only when its body has no calls and no branches it
cannot turn into selects. Hence error_model="numpy" (numba's float division otherwise checks for zero and
raises) and nn.py's own exp (libm's expf would be called one lane at a time: pip's llvmlite has no vector
math library). nogil: the batches' threads (parallel.core_map) run it on every core at once. cache: the
machine code is kept beside this file (or in numba's user cache), so a process after the first only loads it.
"""

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload, register_jitable

from vectorize_cli.model import nn


@intrinsic
def _bits_as_float32(typingctx, i):
    """The float32 whose bits are the low 32 bits of the integer i (a bit cast, not a conversion)."""

    def codegen(context, builder, signature, args):
        (v,) = args
        if v.type.width > 32:  # numba widens int32 arithmetic to int64
            v = builder.trunc(v, ir.IntType(32))
        return builder.bitcast(v, ir.FloatType())

    return types.float32(i), codegen


@overload(nn.float_bits)
def _float_bits(i):
    return lambda i: _bits_as_float32(i)


for _formula in (nn.exp_le0, nn.erf_abs, nn.gelu_factor):
    register_jitable(_formula)  # numba compiles the Python function itself wherever a compiled one calls it


@njit(error_model="numpy", nogil=True, cache=True)
def _gelu_loop(x):  # x: float32, one axis, contiguous; in place
    for i in range(x.size):
        x[i] *= nn.gelu_factor(x[i])


def gelu_simd_(x: np.ndarray) -> np.ndarray:
    """GELU(x) = x * gelu_factor(x) in place on a contiguous float32 x."""
    _gelu_loop(x.reshape(-1))
    return x
