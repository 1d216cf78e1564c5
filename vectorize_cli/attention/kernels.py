"""Attention kernels on (H, T, hs) arrays: the one place the softmax-attention formula lives.

Written once against the array API, so the same code runs on numpy arrays and on torch tensors
(CPU or CUDA, through array-api-compat); `FusedFlash` in backends.py runs torch's own fused
kernel, the only other implementation, and is tested against these.

Notation, used the same way in every file: T tokens, d model width, H heads, hs head size,
q/k/v (H, T, hs), s scores and att weights (H, T, T), y outputs (H, T, hs).
Scalars are Python floats so that the arrays keep their dtype (float32 stays float32).
"""

import math

import numpy as np

from vectorize_cli.parallel import core_map

NEG_INF = -math.inf


def namespace(a):
    """numpy for numpy arrays (its main namespace follows the array API since 2.0), else the
    array-api-compat namespace of the array (torch), imported only then."""
    if isinstance(a, np.ndarray):
        return np
    from array_api_compat import array_namespace

    return array_namespace(a)


def softmax(s):
    """softmax(s)_j = exp(s_j - m) / sum_k exp(s_k - m), m = max_k s_k, over the last axis.

    Subtracting the row maximum keeps every exp() in (0, 1], so no finite score overflows;
    -inf scores (masked keys) get weight exactly 0."""
    xp = namespace(s)
    e = xp.exp(s - xp.max(s, axis=-1, keepdims=True))
    return e / xp.sum(e, axis=-1, keepdims=True)


def causal_mask(xp, T_q: int, T_k: int, q_start: int = 0, k_start: int = 0, device=None):
    """True where key j lies in query i's future (j > i), for query rows q_start.. and key
    columns k_start..: the entries causal attention sets to -inf."""
    i = xp.arange(q_start, q_start + T_q, device=device)[:, None]
    j = xp.arange(k_start, k_start + T_k, device=device)[None, :]
    return j > i  # (T_q, T_k)


def mask_future(s, q_start: int = 0, k_start: int = 0):
    """Scores s (..., T_q, T_k) with future keys set to -inf."""
    xp = namespace(s)
    future = causal_mask(xp, s.shape[-2], s.shape[-1], q_start, k_start, device=s.device)
    return xp.where(future, NEG_INF, s)


def explicit_attention(q, k, v, causal: bool = False, block_size: int = 0, key_mask=None):
    """Attention(Q, K, V) = softmax(Q Kᵀ / sqrt(hs) + M) V   (Vaswani et al. 2017, eq. 1),
    M_ij = -inf where j > i when causal, or where key_mask hides key j (padding), else 0.
    key_mask: bool, broadcastable to (..., 1, T_k), True for the keys no query may see.
    Materialises the (H, T, T) weights and returns them."""
    s = (q @ k.mT) * (1.0 / math.sqrt(q.shape[-1]))  # (H, T, T)
    if causal:
        s = mask_future(s)
    if key_mask is not None:
        s = namespace(s).where(key_mask, NEG_INF, s)
    att = softmax(s)  # (H, T, T)
    return att @ v, att  # (H, T, hs), (H, T, T)


def flash_attention(q, k, v, causal: bool = False, block_size: int = 256, key_mask=None):
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

    Query blocks are independent: on numpy they run on every core at once, each block's small
    matrix products on one BLAS thread (parallel.core_map). Returns (y, None): no weights."""
    xp = namespace(q)
    y = xp.empty_like(q)  # (H, T, hs)

    def query_block(q0: int) -> None:
        y[:, q0 : q0 + block_size] = _online_softmax(xp, q, k, v, q0, block_size, causal, key_mask)

    starts = range(0, q.shape[1], block_size)
    with core_map(enabled=xp is np and len(starts) > 1) as map_:  # torch threads inside its own ops
        for _ in map_(query_block, starts):  # consumed, so that an error in a block is raised here
            pass
    return y, None


def _online_softmax(xp, q, k, v, q0: int, block_size: int, causal: bool, key_mask):
    """Attention for the queries q0 .. q0 + block_size, walking the key blocks (see flash_attention)."""
    H, T_k, hs = k.shape
    q_blk = q[:, q0 : q0 + block_size] * (1.0 / math.sqrt(hs))  # (H, Bq, hs)
    Bq = q_blk.shape[1]
    m = xp.full((H, Bq, 1), NEG_INF, dtype=q.dtype, device=q.device)  # running row maximum
    l = xp.zeros((H, Bq, 1), dtype=q.dtype, device=q.device)  # running denominator
    acc = xp.zeros((H, Bq, hs), dtype=q.dtype, device=q.device)  # running numerator
    k_end = min(T_k, q0 + Bq) if causal else T_k  # causal: later key blocks are all future
    for k0 in range(0, k_end, block_size):
        s = q_blk @ k[:, k0 : k0 + block_size].mT  # (H, Bq, Bk)
        if causal and k0 + s.shape[-1] - 1 > q0:  # the block reaches past some query's diagonal
            s = mask_future(s, q0, k0)
        if key_mask is not None:
            s = xp.where(key_mask[..., k0 : k0 + block_size], NEG_INF, s)
        m_new = xp.maximum(m, xp.max(s, axis=-1, keepdims=True))  # (H, Bq, 1)
        m_safe = xp.where(m_new == NEG_INF, 0.0, m_new)  # a row with no key yet: avoid -inf - -inf
        p = xp.exp(s - m_safe)  # (H, Bq, Bk)
        rescale = xp.exp(m - m_safe)  # (H, Bq, 1)
        l = l * rescale + xp.sum(p, axis=-1, keepdims=True)
        acc = acc * rescale + p @ v[:, k0 : k0 + block_size]
        m = m_new
    return acc / l  # every row has seen at least one key (its own, or [CLS]), so l > 0
