"""Attention kernels on (H, T, hs) arrays: the one place the softmax-attention formula lives.

Notation, used the same way in every file: T tokens, d model width, H heads, hs head size,
q/k/v (H, T, hs), s scores and att weights (H, T, T), y outputs (H, T, hs).
Scalars are Python floats so that numpy keeps the inputs' dtype (float32 stays float32).
"""

import math

import numpy as np


def softmax(s: np.ndarray) -> np.ndarray:
    """softmax(s)_j = exp(s_j - m) / sum_k exp(s_k - m), m = max_k s_k, over the last axis.

    Subtracting the row maximum keeps every exp() in (0, 1], so no finite score overflows;
    -inf scores (masked keys) get weight exactly 0."""
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def causal_mask(T_q: int, T_k: int, q_start: int = 0, k_start: int = 0) -> np.ndarray:
    """True where key j lies in query i's future (j > i), for query rows q_start.. and key
    columns k_start..: the entries causal attention sets to -inf."""
    i = np.arange(q_start, q_start + T_q)[:, None]
    j = np.arange(k_start, k_start + T_k)[None, :]
    return j > i  # (T_q, T_k)


def explicit_attention(q, k, v, causal: bool = False, block_size: int = 0, key_mask=None):
    """Attention(Q, K, V) = softmax(Q Kᵀ / sqrt(hs) + M) V   (Vaswani et al. 2017, eq. 1),
    M_ij = -inf where j > i when causal, or where key_mask hides key j (padding), else 0.
    key_mask: bool, broadcastable to (..., 1, T_k), True for the keys no query may see.
    Materialises the (H, T, T) weights and returns them."""
    T, hs = q.shape[-2], q.shape[-1]
    s = q @ k.swapaxes(-1, -2) * (1.0 / math.sqrt(hs))  # (H, T, T)
    if causal:
        s = np.where(causal_mask(T, k.shape[-2]), -np.inf, s)
    if key_mask is not None:
        s = np.where(key_mask, -np.inf, s)
    att = softmax(s)  # (H, T, T)
    return att @ v, att  # (H, T, hs), (H, T, T)


def flash_attention(q, k, v, causal: bool = False, block_size: int = 64, key_mask=None):
    """The same function as explicit_attention, computed tile by tile with an online softmax
    (Dao et al. 2022, FlashAttention, Algorithm 1), so no (T, T) matrix is ever held:
    memory is O(T * block_size) per head instead of O(T^2).

    For each block of queries, walk the blocks of keys keeping, per query row, the running
    maximum m, the running denominator l = sum_j exp(s_j - m) and the running numerator
    acc = sum_j exp(s_j - m) v_j. A new block with scores s' and maximum m' = max(m, max s')
    rescales the old sums by exp(m - m'):
        l   <- l   * exp(m - m') + sum_j exp(s'_j - m')
        acc <- acc * exp(m - m') + exp(s' - m') V'
    and at the end y = acc / l. key_mask (H, 1, T_k) hides keys as in explicit_attention.
    Returns (y, None): the weights are never materialised."""
    H, T, hs = q.shape
    T_k = k.shape[1]
    scale = 1.0 / math.sqrt(hs)
    y = np.empty_like(q)  # (H, T, hs)
    for q0 in range(0, T, block_size):
        q_blk = q[:, q0 : q0 + block_size] * scale  # (H, Bq, hs)
        Bq = q_blk.shape[1]
        m = np.full((H, Bq, 1), -np.inf, dtype=q.dtype)  # running row maximum
        l = np.zeros((H, Bq, 1), dtype=q.dtype)  # running denominator
        acc = np.zeros((H, Bq, hs), dtype=q.dtype)  # running numerator
        k_end = min(T_k, q0 + Bq) if causal else T_k  # causal: later key blocks are all future
        for k0 in range(0, k_end, block_size):
            s = q_blk @ k[:, k0 : k0 + block_size].swapaxes(-1, -2)  # (H, Bq, Bk)
            if causal and k0 + s.shape[-1] - 1 > q0:  # the block reaches past some query's diagonal
                s = np.where(causal_mask(Bq, s.shape[-1], q0, k0), -np.inf, s)
            if key_mask is not None:
                s = np.where(key_mask[..., k0 : k0 + block_size], -np.inf, s)
            m_new = np.maximum(m, s.max(axis=-1, keepdims=True))  # (H, Bq, 1)
            m_safe = np.where(np.isneginf(m_new), 0.0, m_new).astype(q.dtype)  # a row masked so far: avoid -inf - -inf
            p = np.exp(s - m_safe)  # (H, Bq, Bk)
            rescale = np.exp(m - m_safe)  # (H, Bq, 1)
            l = l * rescale + p.sum(axis=-1, keepdims=True)
            acc = acc * rescale + p @ v[:, k0 : k0 + block_size]
            m = m_new
        y[:, q0 : q0 + Bq] = acc / l  # every row has seen at least one key (its own, or [CLS]), so l > 0
    return y, None
