"""Positional encodings by name: (T, d) -> the vector added to each token's embedding.
The pipeline casts them to its compute dtype; the article's example keeps them in float64.

Positions p count from 0 here; the article counts from 1 ("Location1").
"""

from collections.abc import Callable
from functools import lru_cache

import numpy as np

from vectorize_cli.errors import lookup
from vectorize_cli.seeded import uniform


def sinusoidal(T: int, d: int, seed: int) -> np.ndarray:
    """Vaswani et al. 2017, section 3.5:
    PE(p, 2i) = sin(p / 10000^(2i/d)),  PE(p, 2i+1) = cos(p / 10000^(2i/d)).
    An odd d keeps the sine of its last pair."""
    p = np.arange(T, dtype=np.float64)[:, None]  # (T, 1)
    freq = 10000.0 ** (-np.arange(0, d, 2, dtype=np.float64) / d)  # (ceil(d/2),)
    pe = np.zeros((T, d))
    pe[:, 0::2] = np.sin(p * freq)
    pe[:, 1::2] = np.cos(p * freq)[:, : d // 2]
    return pe  # (T, d)


def learned(T: int, d: int, seed: int) -> np.ndarray:
    """A trainable table as it is before training: row p uniform on [-1, 1), seeded.
    Row p does not depend on T (the stream is prefix-stable)."""
    return uniform("positional/learned", seed, (T, d))  # (T, d)


def linear(T: int, d: int, seed: int) -> np.ndarray:
    """The article's: PE(p, i) = 0.01 * (p * d + i + 1), i.e. the grid's elements numbered 1, 2, 3, ...
    in reading order and scaled by 1/100. For d = 4: p=0 -> [0.01, 0.02, 0.03, 0.04], p=1 -> [0.05, ...].
    Computed as n / 100 in float64 so each value is the double nearest its decimal."""
    return np.arange(1, T * d + 1, dtype=np.float64).reshape(T, d) / 100  # (T, d)


def none(T: int, d: int, seed: int) -> np.ndarray:
    """No position information: attention then sees the sentence as a bag of tokens."""
    return np.zeros((T, d), dtype=np.float32)


POSITIONAL: dict[str, Callable[[int, int, int], np.ndarray]] = {
    "sinusoidal": sinusoidal,
    "learned": learned,
    "linear": linear,
    "none": none,
}


CACHED_SIZE = 1 << 14  # tables of up to this many numbers are cached: 256 of them hold 16 MiB at most


def positions(name: str, T: int, d: int, seed: int) -> np.ndarray:
    """The (T, d) table in float32 (computed in float64), read-only; small ones cached: sentences
    of one length share them."""
    return (_cached if T * d <= CACHED_SIZE else _cached.__wrapped__)(name, T, d, seed)


@lru_cache(maxsize=256)
def _cached(name: str, T: int, d: int, seed: int) -> np.ndarray:
    pe = lookup(POSITIONAL, "positional encoding", name)(T, d, seed).astype(np.float32)
    pe.flags.writeable = False
    return pe
