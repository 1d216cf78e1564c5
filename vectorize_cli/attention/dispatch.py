"""From an attention family and a backend to the function that computes it: the one dispatch both
pipelines use, and the one place that reports the kernel that ran (returned with the output).

    ATTENTION_FUNCTIONS[name](q, k, v, causal, block_size, key_mask, strict, backend, bias)
        -> Attended(y, att | None, op, notes)

    Attention(Q, K, V) = softmax(Q Kᵀ / sqrt(hs) + B + M) V   (kernels.explicit_attention)

    explicit  kernels.explicit_attention on numpy or torch: the (H, T, T) weights materialised; on numpy its
              scale, bias, masks (padding, causal) and softmax compiled where the run chose it
              (compiled.softmax; said in its notes)
    tiled     kernels.flash_attention: tiles and an online softmax, never the weights (numpy); its exp
              compiled for long inputs, as the backend allows (compiled.flash_exp; op
              tiled-online-softmax+compiled-exp)
    sdpa      torch's fused kernel, flash first (sdpa.py), never the weights (torch)

q, k, v are (H, T, hs) or (B, H, T, hs); key_mask, broadcastable to (..., 1, T), is True for
the keys no query may see (padding): M; bias, None or (H, T, T) the same for every sentence, is the additive
score bias B (MPNet's relative position bias): explicit adds it to the scores, tiled to each tile's scores,
sdpa passes B + M as SDPA's float attn_mask.
"""

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from vectorize_cli import compiled
from vectorize_cli.attention.kernels import explicit_attention, flash_attention
from vectorize_cli.backend import NUMPY, Backend


class Attended(NamedTuple):
    y: object  # (..., H, T, hs)
    att: object | None  # (..., H, T, T), or None where never materialised
    op: str  # the kernel that ran: explicit | tiled-online-softmax[+compiled-exp] | an aten op of torch
    notes: tuple[str, ...] = ()  # why it is not the kernel asked for


def explicit(q, k, v, causal=False, block_size=0, key_mask=None, strict=False, backend=NUMPY, bias=None) -> Attended:
    """explicit_attention, its softmax compiled where the backend's run chose it (compiled.softmax, with the
    scale, the score bias, the causal and the padding masks: said in the notes)."""
    step = compiled.softmax(backend)
    out = None
    if isinstance(q, np.ndarray) and q.ndim == 4:  # y written with the heads side by side: (B, T, H, hs) as it lies
        (B, H, T, _), hs = q.shape, v.shape[-1]  # (the next product reads it so: a view, no copy; and numpy's
        out = np.empty((B, T, H, hs), dtype=np.result_type(q, k, v)).swapaxes(1, 2)  # att @ v 4-5x faster into it)
    y, att = explicit_attention(q, k, v, causal, key_mask=key_mask, bias=bias, softmax_step=step, out=out)
    return Attended(y, att, "explicit", () if step is None else (compiled.SOFTMAX_NOTE,))


def tiled(q, k, v, causal=False, block_size=256, key_mask=None, strict=False, backend=NUMPY, bias=None) -> Attended:
    """flash_attention (numpy) works on (H, T, hs): a batch's sentences and heads are folded into one axis (folded
    head b * H + h adds bias[h]: flash_attention's bias rule).
    Its exp is the one compiled.flash_exp picks by the scores' count alone, and its op says which ran:
    `tiled-online-softmax`, or `+compiled-exp` after it."""
    scores = q.size // q.shape[-1] * k.shape[-2]  # heads (of every sentence) x queries x keys
    exp = compiled.flash_exp(backend, q.dtype, scores)  # None: numpy's
    op = "tiled-online-softmax" + ("" if exp is None else "+compiled-exp")
    if q.ndim == 4:
        B, H, T, hs = q.shape
        fold = lambda a: a.reshape(B * H, T, hs)  # noqa: E731
        mask = None if key_mask is None else np.broadcast_to(key_mask, (B, H, 1, T)).reshape(B * H, 1, T)
        y, _ = flash_attention(fold(q), fold(k), fold(v), causal, block_size, mask, exp, bias)
        return Attended(y.reshape(B, H, T, hs), None, op)
    y, _ = flash_attention(q, k, v, causal, block_size, key_mask, exp, bias)
    return Attended(y, None, op)


def sdpa(q, k, v, causal=False, block_size=0, key_mask=None, strict=False, backend=NUMPY, bias=None) -> Attended:
    from vectorize_cli.attention.sdpa import fused_attention

    y, op, reasons = fused_attention(q, k, v, causal, key_mask, strict, bias)
    notes = (f"torch's flash kernel could not run ({'; '.join(reasons)}); {op} ran instead",) if reasons else ()
    return Attended(y, None, op, notes)


ATTENTION_FUNCTIONS: dict[str, Callable[..., Attended]] = {"explicit": explicit, "tiled": tiled, "sdpa": sdpa}


def implementation(family: str, backend: Backend) -> str:
    """A variant's family (explicit | flash) on a backend -> the name of the function that computes it."""
    if family == "explicit":
        return "explicit"
    return "sdpa" if backend.name == "torch" else "tiled"
