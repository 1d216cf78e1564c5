"""Independent float64 references, written from the papers' equations with plain loops where it
keeps them obviously right. They share no code with vectorize_cli."""

import math

import numpy as np


def softmax64(s):
    s = np.asarray(s, dtype=np.float64)
    e = np.exp(s - s.max())
    return e / e.sum()


def attention64(q, k, v, causal):
    """One head: y_i = sum_j softmax_j(q_i . k_j / sqrt(hs)) v_j, j <= i when causal. (T, hs) each."""
    q, k, v = (np.asarray(a, dtype=np.float64) for a in (q, k, v))
    T, hs = q.shape
    y, att = np.zeros((T, v.shape[1])), np.zeros((T, k.shape[0]))
    for i in range(T):
        keys = range(i + 1) if causal else range(k.shape[0])
        w = softmax64([q[i] @ k[j] / math.sqrt(hs) for j in keys])
        att[i, : len(w)] = w
        y[i] = sum(wj * v[j] for wj, j in zip(w, keys))
    return y, att


def additive64(x, w_q, w_k, v, causal):
    x = np.asarray(x, dtype=np.float64)
    T = x.shape[0]
    y, att = np.zeros_like(x), np.zeros((T, T))
    for i in range(T):
        keys = range(i + 1) if causal else range(T)
        w = softmax64([v @ np.tanh(x[i] @ w_q + x[j] @ w_k) for j in keys])
        att[i, : len(w)] = w
        y[i] = sum(wj * x[j] for wj, j in zip(w, keys))
    return y, att


def multi_head64(x, w_q, w_k, w_v, w_o, H, causal):
    x = np.asarray(x, dtype=np.float64)
    q, k, v = x @ w_q, x @ w_k, x @ w_v  # (T, H*hs)
    hs = q.shape[1] // H
    heads = [attention64(q[:, h * hs : (h + 1) * hs], k[:, h * hs : (h + 1) * hs], v[:, h * hs : (h + 1) * hs], causal)
             for h in range(H)]
    y = np.concatenate([y for y, _ in heads], axis=1)
    if w_o is not None:
        y = y @ np.asarray(w_o, dtype=np.float64)
    return y, np.stack([a for _, a in heads])


def forward64(variant, x, params, heads, causal):
    """Any variant's (output, weights) from the encoded input and its params, in float64."""
    p = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    if variant == "additive":
        y, att = additive64(x, p["w_q"], p["w_k"], p["v"], causal)
        return y, att[None]
    if variant == "scaled-dot":
        y, att = attention64(x, x, x, causal)
        return y, att[None]
    if variant == "self":
        x = np.asarray(x, dtype=np.float64)
        y, att = attention64(x @ p["w_q"], x @ p["w_k"], x @ p["w_v"], causal)
        return y, att[None]
    return multi_head64(x, p["w_q"], p["w_k"], p["w_v"], p.get("w_o"), heads, causal)


POOL64 = {
    "mean": lambda y: y.mean(axis=0),
    "max": lambda y: y.max(axis=0),
    "first": lambda y: y[0],
    "none": lambda y: None,
}
