"""Pooling by name: token outputs (T, d_out) -> one sentence vector (d_out,), or None."""

from collections.abc import Callable

import numpy as np

POOLING: dict[str, Callable[[np.ndarray], np.ndarray | None]] = {
    "mean": lambda y: y.mean(axis=0),  # the average token: what sentence-transformers do
    "max": lambda y: y.max(axis=0),  # each feature's strongest token
    "first": lambda y: y[0].copy(),  # the first token, as BERT's [CLS]
    "none": lambda y: None,  # no sentence vector
}
