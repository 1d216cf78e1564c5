"""The layouts numba's loops (compiled.py) can walk: each loop reads and writes raw memory, so each array is checked
first to be exactly what its loop takes (float32, contiguous rows, apart from the arrays it writes), or turned into
it (a mask's or a score bias's rows), or refused with a TypeError before any write."""

import numpy as np

from vectorize_cli.model import nn


def check_rows(y: np.ndarray, *vectors: np.ndarray) -> None:
    """y contiguous, writeable float32 whose rows are as long as each vector, every vector float32 (n,) and
    contiguous, none in y's memory: what the row loops read and write."""
    nn.check_in_place(y)
    n = y.shape[-1] if y.ndim else -1
    if any(v.dtype != np.float32 or v.shape != (n,) or not v.flags.c_contiguous or np.may_share_memory(y, v)
           for v in vectors) or n == 0:
        raise TypeError(f"the row loops take rows of {n} and float32 ({n},) vectors apart from them, not "
                        f"{', '.join(f'{v.dtype} {v.shape}' for v in vectors)}")


def bias_rows(s: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """A score bias broadcastable to s -> its rows, contiguous, repeating over s's rows: an (H, T_q, T_k) bias of
    (B, H, T_q, T_k) scores is H * T_q rows, score row i taking bias row i mod H * T_q; any other broadcast is
    written out in full."""
    if not isinstance(bias, np.ndarray) or bias.dtype != np.float32 or np.may_share_memory(s, bias):
        raise TypeError(f"the compiled softmax takes a float32 score bias apart from the scores, not "
                        f"{getattr(bias, 'dtype', type(bias).__name__)}")
    while bias.ndim > 1 and bias.shape[0] == 1:
        bias = bias[0]  # leading axes of 1 repeat as the rows do
    if bias.shape != s.shape[s.ndim - bias.ndim :]:
        bias = np.broadcast_to(bias, s.shape)  # raises where it does not broadcast, as numpy's s += bias would
    return np.ascontiguousarray(bias).reshape(-1)


def mask_rows(shape: tuple, hidden: np.ndarray) -> tuple[np.ndarray, int]:
    """A mask broadcastable to scores of this shape -> (its rows, contiguous, one for each rows_per_mask
    consecutive rows of the scores, rows_per_mask): (B, 1, 1, T_k) against (B, H, T_q, T_k) is B rows, one
    each H * T_q score rows; any other broadcast is written out in full, a row each."""
    hidden = hidden.reshape((1,) * (len(shape) - hidden.ndim) + hidden.shape)
    if hidden.ndim != len(shape) or hidden.shape[-1] != shape[-1]:
        hidden = np.broadcast_to(hidden, shape)  # raises where it does not broadcast, as numpy's path would
    lead = next((i for i in range(len(shape) - 1, 0, -1) if hidden.shape[i - 1] != 1), 0)  # axes before: as s
    if hidden.shape[:lead] == shape[:lead] and all(n == 1 for n in hidden.shape[lead:-1]):
        return np.ascontiguousarray(hidden).reshape(-1), int(np.prod(shape[lead:-1], dtype=np.int64))
    return np.ascontiguousarray(np.broadcast_to(hidden, shape)).reshape(-1), 1


def overlap(*arrays: np.ndarray) -> bool:
    """Whether any two of the arrays may share memory."""
    return any(np.may_share_memory(a, b) for i, a in enumerate(arrays) for b in arrays[i + 1 :])


def row_stride(s: np.ndarray) -> int | None:
    """The elements from one row of s to the next, where s is writeable float32, each row's elements one
    after another and the rows evenly spaced, not overlapping (a contiguous array, or the first columns of
    one); else None."""
    if s.dtype != np.float32 or s.ndim == 0 or not s.flags.writeable or (s.shape[-1] > 1 and s.strides[-1] != 4):
        return None
    outer = [(n, step) for n, step in zip(s.shape[:-1], s.strides[:-1]) if n > 1]  # a size-1 axis steps nowhere
    if not outer:
        return s.shape[-1]  # one row at most
    for (_, step), (n_inner, step_inner) in zip(outer, outer[1:]):
        if step != step_inner * n_inner:  # each outer axis steps over whole blocks of the one inside it
            return None
    stride, rem = divmod(outer[-1][1], 4)
    return stride if not rem and stride >= s.shape[-1] else None
