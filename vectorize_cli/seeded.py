"""Deterministic pseudo-random numbers from SHAKE-256.

Every token vector and parameter must come out the same on every machine and every Python and
numpy version, so none is drawn from numpy's generators (their streams may change between
releases) or from Python's salted hash(). A key string names the array; the bytes of
SHAKE-256("{seed}\\0{key}") are read as little-endian uint32 and mapped onto [-1, 1).

The stream is prefix-stable: the first n numbers of a key do not depend on how many are drawn,
so row p of a table is the same whatever the table's length.
"""

import hashlib
import math

import numpy as np


NUMBERS_PER_STEP = 1 << 20  # numbers mapped at a time: the float64 steps never hold more than 8 MiB


def uniform(key: str, seed: int, shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
    """Numbers uniform on [-scale, scale), float32, the same everywhere for (key, seed, shape).
    Holds twice the result at most (the digest and the result), whatever its size."""
    n = math.prod(shape)
    data = f"{seed}\0{key}".encode("utf-8", "surrogatepass")
    u = np.frombuffer(hashlib.shake_256(data).digest(4 * n), dtype="<u4")  # n uint32
    out = np.empty(n, dtype=np.float32)
    for i in range(0, n, NUMBERS_PER_STEP):
        unit = (u[i : i + NUMBERS_PER_STEP] + 0.5) / 2.0**31 - 1.0  # float64 in (-1, 1)
        out[i : i + NUMBERS_PER_STEP] = unit * scale
    return out.reshape(shape)


def xavier(key: str, seed: int, fan_in: int, fan_out: int) -> np.ndarray:
    """A (fan_in, fan_out) weight, Glorot-uniform: U(-a, a) with a = sqrt(6 / (fan_in + fan_out))."""
    return uniform(key, seed, (fan_in, fan_out), math.sqrt(6.0 / (fan_in + fan_out)))
