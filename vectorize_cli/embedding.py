"""Token embeddings by name: tokens -> (T, d) float32 matrix.

`hash`: each distinct token gets a vector drawn from SHAKE-256 of the token's UTF-8 bytes under
the seed (see seeded.py), uniform on [-sqrt(3), sqrt(3)) so each component has unit variance,
like nn.Embedding's N(0, 1) init. The same token gets the same vector in every sentence, on
every machine and Python version: a vocabulary that needs no training and no table on disk.
"""

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np

from vectorize_cli.errors import lookup
from vectorize_cli.seeded import uniform


CACHED_DIM = 256  # vectors up to this width are cached: 65,536 of them hold 64 MiB at most


@lru_cache(maxsize=1 << 16)
def _hash_vector(token: str, seed: int, d: int) -> np.ndarray:
    v = uniform(f"embedding/{token}", seed, (d,), math.sqrt(3.0))  # (d,)
    v.flags.writeable = False  # shared through the cache
    return v


def hash_embedding(tokens: list[str], d: int, seed: int) -> np.ndarray:
    """E[t] = U(-sqrt(3), sqrt(3))^d seeded by the token itself."""
    vector = _hash_vector if d <= CACHED_DIM else _hash_vector.__wrapped__
    return np.stack([vector(t, seed, d) for t in tokens])  # (T, d)


EMBEDDINGS: dict[str, Callable[[list[str], int, int], np.ndarray]] = {"hash": hash_embedding}


def embed_tokens(tokens: list[str], name: str, d: int, seed: int) -> np.ndarray:
    return lookup(EMBEDDINGS, "embedding", name)(tokens, d, seed)
