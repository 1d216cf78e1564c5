"""Pairwise differences between the attention blocks of the variants run on one sentence."""

from itertools import combinations

import numpy as np

from vectorize_cli.trace import Block


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """cos(a, b) = a·b / (|a| |b|) over the last axis, in float64; 1.0 when both are zero, 0.0 when one is."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    dot = (a * b).sum(axis=-1)
    na, nb = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
    norms = na * nb
    return np.where(norms > 0, dot / np.where(norms > 0, norms, 1.0), np.where((na > 0) | (nb > 0), 0.0, 1.0))


def difference(a: Block, b: Block) -> dict:
    """max |a - b| over the outputs, the mean cosine between the two outputs of each token and the
    cosine of the sentence vectors; None where the widths differ (e.g. --concat) or nothing was pooled."""
    same_width = a.output.shape == b.output.shape
    both_pooled = same_width and a.sentence_vector is not None and b.sentence_vector is not None
    both_weights = a.weights is not None and b.weights is not None and a.weights.shape == b.weights.shape
    return {
        "a": a.variant,
        "b": b.variant,
        "max_abs_delta": float(np.abs(a.output - b.output).max()) if same_width else None,
        "mean_token_cosine": float(_cosine(a.output, b.output).mean()) if same_width else None,
        "sentence_cosine": float(_cosine(a.sentence_vector, b.sentence_vector)) if both_pooled else None,
        "weights_max_abs_delta": float(np.abs(a.weights - b.weights).max()) if both_weights else None,
    }


def differences(blocks: list[Block]) -> list[dict]:
    return [difference(a, b) for a, b in combinations(blocks, 2)]
