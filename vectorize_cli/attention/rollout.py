"""Combining attention across heads and layers: mean and max over heads, and attention rollout
(Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers", §3).

A residual connection adds each token's own input to what attention mixes in, so a layer's effective
mixing is half attention, half identity. Rollout multiplies these per-layer mixings, first layer
applied first, to say how much each input token flows into each output token:

    A'_l    = 0.5 * mean_h(A_l,h) + 0.5 * I     rows renormalised to sum to 1      (T, T)
    rollout = A'_L @ ... @ A'_2 @ A'_1                                            (T, T)

Row i of the rollout holds input token j's share in output token i; every row sums to 1. rollouts()
gives the rollout through each layer in turn (what the HTML page shows per layer); rollout() the last.
"""

import numpy as np


def head_mean(weights: np.ndarray) -> np.ndarray:
    """mean_h A_h: (H, T, T) -> (T, T); rows still sum to 1."""
    return weights.astype(np.float64).mean(axis=0).astype(np.float32)


def head_max(weights: np.ndarray) -> np.ndarray:
    """max_h A_h: (H, T, T) -> (T, T), element by element (rows no longer sum to 1)."""
    return weights.max(axis=0).astype(np.float32)


def rollouts(weights: list[np.ndarray]) -> list[np.ndarray]:
    """Attention rollout through layer 1, through layers 1-2, ..., through every layer, first layer first:
    list of (H, T, T) -> list of (T, T), float32. Computed in float64, BLAS on one thread (T x T products
    are small: threads cost more than they give)."""
    from threadpoolctl import threadpool_limits

    if not weights:
        raise ValueError("rollout needs at least one layer's weights")
    T = weights[0].shape[-1]
    eye = np.eye(T)
    flow = eye  # (T, T): rollout of no layer
    out = []
    with threadpool_limits(1, user_api="blas"):
        for att in weights:  # (H, T, T)
            mixed = 0.5 * att.astype(np.float64).mean(axis=0) + 0.5 * eye  # (T, T)
            mixed /= mixed.sum(axis=-1, keepdims=True)
            flow = mixed @ flow  # the later layer on the left
            out.append(flow.astype(np.float32))
    return out


def rollout(weights: list[np.ndarray]) -> np.ndarray:
    """Attention rollout through every layer: list of (H, T, T), first layer first -> (T, T), float32."""
    return rollouts(weights)[-1]
