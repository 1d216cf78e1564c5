"""Attention kernels on (H, T, hs) arrays: the one place the softmax-attention formula lives.

Written once against the array API, so the same code runs on numpy arrays and on torch tensors
(CPU or CUDA, through array-api-compat); `sdpa.fused_attention` runs torch's own fused kernel,
the only other implementation, and is tested against these. Two steps may run compiled, where the caller
passes them: flash's exp(s - m) (dispatch.tiled: compiled.flash_exp, nn.exp_le0 compiled) and explicit
attention's scale, score bias, masks (padding, causal) and softmax (dispatch.explicit: compiled.softmax, the same
formula a row at a time).

Notation, used the same way in every file: T tokens, d model width, H heads, hs head size,
q/k/v (H, T, hs), s scores and att weights (H, T, T), y outputs (H, T, hs).
Scalars are Python floats so that the arrays keep their dtype (float32 stays float32).
"""

import math

import numpy as np

from vectorize_cli.backend import namespace
from vectorize_cli.parallel import core_map

NEG_INF = -math.inf


def softmax_(s):
    """softmax(s)_j = exp(s_j - m) / sum_k exp(s_k - m), m = max_k s_k, over the last axis, in place: s is
    overwritten with its weights and returned.

    Subtracting the row maximum keeps every exp() in (0, 1], so no finite score overflows;
    -inf scores (masked keys) get weight exactly 0. In place: the model runs it on a batch's (B, H, T, T)
    scores, and a new array for each step costs more than the step's arithmetic (benchmarks/README.md)."""
    xp = namespace(s)
    exp_shift_(s, xp.max(s, axis=-1, keepdims=True))
    s /= xp.sum(s, axis=-1, keepdims=True)
    return s


def hide_(s, hidden):
    """s with -inf written where hidden (bool, broadcastable to s) is True, in place: masked scores."""
    if isinstance(s, np.ndarray):
        np.copyto(s, NEG_INF, where=hidden)
    else:
        s.masked_fill_(hidden, NEG_INF)  # torch
    return s


def causal_mask(xp, T_q: int, T_k: int, q_start: int = 0, k_start: int = 0, device=None):
    """True where key j lies in query i's future (j > i), for query rows q_start.. and key
    columns k_start..: the entries causal attention sets to -inf."""
    i = xp.arange(q_start, q_start + T_q, device=device)[:, None]
    j = xp.arange(k_start, k_start + T_k, device=device)[None, :]
    return j > i  # (T_q, T_k)


def mask_future_(s, q_start: int = 0, k_start: int = 0):
    """Scores s (..., T_q, T_k) with future keys set to -inf, in place."""
    xp = namespace(s)
    return hide_(s, causal_mask(xp, s.shape[-2], s.shape[-1], q_start, k_start, device=s.device))


def explicit_attention(q, k, v, causal: bool = False, block_size: int = 0, key_mask=None, bias=None,
                       softmax_step=None, out=None):
    """Attention(Q, K, V) = softmax(Q Kᵀ / sqrt(hs) + B + M) V   (Vaswani et al. 2017, eq. 1),
    B the additive score bias where given (MPNet's relative position bias), else 0;
    M_ij = -inf where j > i when causal, or where key_mask hides key j (padding), else 0.
    key_mask: bool, broadcastable to (..., 1, T_k), True for the keys no query may see; bias: float, (H, T_q, T_k),
    the same for every sentence of a batch.
    softmax_step(s, key_mask, scale, causal, bias): the scale, the bias, the masks and the softmax in one pass a
    row, in place of the scores (dispatch.explicit passes the compiled one). out (numpy): the (..., H, T, hs) array
    y is written into (dispatch.explicit's: a view of the heads side by side, the next product's layout).
    Materialises the (H, T, T) weights and returns them."""
    s = q @ k.mT  # (H, T, T)
    if softmax_step is not None:
        att = softmax_step(s, key_mask, 1.0 / math.sqrt(q.shape[-1]), causal, bias)  # (H, T, T), in place of s
    else:
        s *= 1.0 / math.sqrt(q.shape[-1])
        if bias is not None:
            s += bias  # (H, T, T), broadcast over a batch's sentences
        if causal:
            mask_future_(s)
        if key_mask is not None:
            hide_(s, key_mask)
        att = softmax_(s)  # (H, T, T), in place of s
    return (att @ v if out is None else np.matmul(att, v, out=out)), att  # (H, T, hs), (H, T, T)


KEY_TILE = 4  # keys per tile, in query tiles: a wider key tile means fewer online-softmax rescales
TILE_ELEMENTS = 1 << 18  # scores per task (1 MiB of float32): heads are grouped until a task's tile is this big


def flash_tiles(H: int, T_q: int, T_k: int, block_size: int) -> tuple[int, int, int]:
    """(heads per task, queries per tile, keys per tile) of flash_attention: a task's scores
    g x min(Bq, T_q) x min(Bk, T_k) are at most TILE_ELEMENTS, or one head's tile where that is bigger."""
    Bq, Bk = block_size, KEY_TILE * block_size
    g = max(1, min(H, TILE_ELEMENTS // (min(Bq, T_q) * min(Bk, T_k))))
    return g, Bq, Bk


def flash_attention(q, k, v, causal: bool = False, block_size: int = 256, key_mask=None, exp_step=None, bias=None):
    """The same function as explicit_attention, computed tile by tile with an online softmax
    (Dao et al. 2022, FlashAttention, Algorithm 1), so no (T, T) matrix is ever held:
    memory is O(block_size²) per task, whatever T.

    For each tile of block_size queries, walk the tiles of KEY_TILE * block_size keys keeping,
    per query row, the running maximum m, the running denominator l = sum_j exp(s_j - m) and the
    running numerator acc = sum_j exp(s_j - m) v_j. A new tile with scores s' and maximum
    m' = max(m, max s') rescales the old sums by exp(m - m'):
        l   <- l   * exp(m - m') + sum_j exp(s'_j - m')
        acc <- acc * exp(m - m') + exp(s' - m') V'
    and at the end y = acc / l. key_mask (H, 1, T_k) hides keys as in explicit_attention; bias (H_b, T_q, T_k),
    H a multiple of H_b, is added to each tile's scores s' before its maximum: head h adds bias[h % H_b] (a
    batch's sentences folded into the heads axis share their heads' bias), the B of explicit_attention.

    A task is one query tile of a group of heads, the group as large as fits TILE_ELEMENTS scores
    (one head for long texts, hundreds of short sentences' heads at once): on numpy the tasks run
    on every core at once, each task's small matrix products on one BLAS thread (parallel.core_map),
    and each task's tile stays in its core's cache. exp_step(s, m, total=None): the step exp(s - m) in
    place (and its rows' sums), exp_shift_ where not given (dispatch.tiled passes the compiled one).
    Returns (y, None): no weights."""
    xp = namespace(q)
    H, T, hs = q.shape
    y = xp.empty_like(q)  # (H, T, hs)
    g, Bq, Bk = flash_tiles(H, T, k.shape[1], block_size)
    q = q * (1.0 / math.sqrt(hs))  # the scale folded into q once
    if key_mask is not None:
        key_mask = xp.broadcast_to(key_mask, (H, 1, k.shape[1]))  # one row per head, as the tasks take them
    exp_step = exp_step or exp_shift_  # exp(s - m), in place
    Hb = 0 if bias is None else bias.shape[0]

    def task(start: tuple[int, int]) -> None:
        h0, q0 = start
        heads = h0 if g == 1 else slice(h0, h0 + g)  # one head: 2-D products, BLAS's fastest path
        mask = None if key_mask is None else key_mask[heads]
        # this task's rows of the bias: a view for one head, the group's heads gathered (g x Bq x T_k) for several
        b = None if bias is None else bias[h0 % Hb if g == 1 else [h % Hb for h in range(h0, min(h0 + g, H))],
                                           q0 : q0 + Bq]
        y[heads, q0 : q0 + Bq] = _online_softmax(xp, q[heads, q0 : q0 + Bq], k[heads], v[heads], q0, Bk, causal, mask,
                                                 exp_step, b)

    starts = [(h0, q0) for q0 in range(0, T, Bq) for h0 in range(0, H, g)]
    with core_map(enabled=xp is np and len(starts) > 1) as map_:  # torch threads inside its own ops
        for _ in map_(task, starts):  # consumed, so that an error in a task is raised here
            pass
    return y, None


def exp_shift_(s, m, total=None):
    """s <- exp(s - m) in place, m (..., 1) a shift for each row of s (its maximum: s - m <= 0), and
    total (..., 1) <- sum_j s_j, the new rows' sums, where given. The compiled Loops.exp_shift_ computes
    the same with nn.exp_le0 in one pass over s (compiled.py), numpy here in three; the two agree to float32
    rounding, not to the last bit."""
    xp = namespace(s)
    s -= m
    s = xp.exp(s, out=s)
    if total is not None:
        total[...] = xp.sum(s, axis=-1, keepdims=True)
    return s


def _online_softmax(xp, q, k, v, q0: int, Bk: int, causal: bool, key_mask, exp_step, bias=None):
    """Attention for the (already scaled) queries q ([h,] Bq, hs) starting at row q0, walking the key
    tiles of Bk keys (see flash_attention); bias ([h,] Bq, T_k): these queries' rows of the score bias.
    Every step writes into the task's own buffers (out=, in place): no new (h, Bq, Bk) array per tile.
    -> (h, Bq, hs)"""
    *h, Bq, hs = q.shape  # h: () for one head, (heads,) for a group
    k_end = min(k.shape[-2], q0 + Bq) if causal else k.shape[-2]  # causal: later key tiles are all future
    s_buf = xp.empty((*h, Bq, min(Bk, k_end)), dtype=q.dtype, device=q.device)  # scores, then exp(s - m')
    pv = xp.empty((*h, Bq, hs), dtype=q.dtype, device=q.device)  # exp(s - m') V of a tile
    l = xp.empty((*h, Bq, 1), dtype=q.dtype, device=q.device)  # running denominator
    l_tile = xp.empty_like(l)  # sum_j exp(s_j - m') of a tile
    m = acc = None  # running maximum (h, Bq, 1), numerator (h, Bq, hs)
    for k0 in range(0, k_end, Bk):
        keys = slice(k0, min(k0 + Bk, k_end))
        s = xp.matmul(q, k[..., keys, :].mT, out=s_buf[..., : keys.stop - k0])  # (h, Bq, Bk)
        if bias is not None:
            s += bias[..., keys]  # the tile's B (h, Bq, Bk), as explicit_attention's
        if causal and keys.stop - 1 > q0:  # the tile reaches past some query's diagonal
            mask_future_(s, q0, k0)
        if key_mask is not None:
            hide_(s, key_mask[..., keys])
        m_new = xp.max(s, axis=-1, keepdims=True)  # (h, Bq, 1)
        if m is not None:
            m_new = xp.maximum(m, m_new)
        # a row whose keys so far are all hidden has m' = -inf: subtract 0 there, not -inf (NaN)
        m_safe = m_new if key_mask is None else xp.where(m_new == NEG_INF, 0.0, m_new)
        if m is None:  # the first tile: nothing to rescale
            p = exp_step(s, m_safe, l)  # (h, Bq, Bk): exp(s - m') in place of s, and l its rows' sums
            acc = xp.matmul(p, v[..., keys, :])
        else:
            p = exp_step(s, m_safe, l_tile)
            rescale = exp_step(m, m_safe)  # (h, Bq, 1): exp(m - m') in place of m, which m' replaces below
            l *= rescale
            l += l_tile
            acc *= rescale
            acc += xp.matmul(p, v[..., keys, :], out=pv)
        m = m_new
    with np.errstate(invalid="ignore"):  # 0 / 0 where the row's scores held NaN or inf: NaN out, no warning
        acc /= l  # every row has seen at least one key (its own, or [CLS]), so l > 0 for finite scores
    return acc
