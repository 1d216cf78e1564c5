"""Pooling by name: token outputs (T, d_out) -> one sentence vector (d_out,), or None."""

from collections.abc import Callable

import numpy as np

POOLING: dict[str, Callable[[np.ndarray], np.ndarray | None]] = {
    # the average token, as sentence-transformers pool; summed in float64, since a float32 sum of
    # thousands of rows drifts by 1e-5 (the fuzzer found it), then rounded back to y's dtype
    "mean": lambda y: y.mean(axis=0, dtype=np.float64).astype(y.dtype),
    "max": lambda y: y.max(axis=0),  # each feature's strongest token
    "first": lambda y: y[0].copy(),  # the first token, as BERT's [CLS]
    "none": lambda y: None,  # no sentence vector
}
