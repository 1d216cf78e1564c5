"""nn.py's formulas compiled into loops over arrays (numba_loops.py), the checks that keep those loops inside
their arrays, and the one place that decides when they run:

    gelu_(x)                x <- x * gelu_factor(x) in place: numpy's bits, about 5x faster than numpy's chunks
    bias_gelu_(y, b)        y <- GELU(y + b) in place, one pass after the product x W: numpy's bits
    add_layer_norm_(y, b, r, g, beta, eps)
                            y <- LayerNorm(y + b + r) in place, two passes (numpy's float32 power between
                            them): numpy's bits
    softmax_(s, hidden, scale, causal, bias)
                            s <- softmax(s * scale + bias, -inf where hidden or, causal, where key j > query i)
                            a row at a time, one pass per row over the keys up to the last one seen
                            (nn.exp_le0): numpy's within float32 rounding
    exp_shift_(s, m, total) s <- exp_le0(s - m) a row at a time, total <- each new row's sum: flash attention's
                            softmax step, within an ulp of numpy running the formula and 2 of float64's exp

and, a decoder's (model/decoder.py; numba_decoder_loops.py, loaded only by a decoder's run, compiled.decoder_fused):

    swiglu_(gate_up, d_ff)  silu(gate) * up in place of the up half, one pass: decoder_nn.silu_times's bits,
                            numpy's swiglu_ within float32 rounding
    add_rms_norm_(y, r, g, eps)
                            y <- y + r in place (numpy's bits), h <- RMSNorm(y) g new, one loop a row: numpy's
                            rms_norm within float32 rounding

When: never without numba (the `model` extra) or on another backend than numpy float32; otherwise as the
backend says (Backend.compiled, VECTORIZE_COMPILED read once by backend.resolve): never, always, or auto, by
the input's size alone: a model's steps between its products for a run of COMPILE_AT tokens or more
(for_run: Backend.fused, numpy's bits either way for BERT's steps, within ulps for a decoder's; Backend.softmax,
from COMPILE_AT_SOFTMAX, its bits within ulps; so the choice is the run's and never a batch's), flash's exp for
a call of COMPILE_AT_SCORES scores or more (flash_exp: its bits differ from numpy's exp in the last place, so the
same input must take the same exp in every process, whatever ran before).

Loading them (importing numba, and its cache) costs a process about 0.6 s, compiling them once per machine
about 1.5 s (benchmarks/README.md, "Start-up with numba's cache"), each loop about 60 ms of it: the decoder's two
live in a module of their own, loaded by a decoder's run only; a failure is said once, on stderr, and
numpy runs. numba's
cache does not know nn.py's source, so the loops are checked against numpy's formulas (checked_on()) first,
and a stale cache is compiled again (numba's public `recompile`).
"""

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from numpy.lib.stride_tricks import as_strided

from vectorize_cli.backend import Backend
from vectorize_cli.errors import tell
from vectorize_cli.model import nn

# tokens of a run (model/bert.forward's batches together) from which GELU runs compiled, and scores (heads x
# queries x keys) of one flash call from which its exp does: where loading them (about 0.7 s from numba's
# cache) is won back on 2 cores, GELU saving about 30 us a token, the exp about 1 ns a score
# (benchmarks/README.md, "Start-up with numba's cache")
COMPILE_AT = 1 << 15
COMPILE_AT_SOFTMAX = COMPILE_AT  # the same load to win back; a name of its own: its bits are not numpy's
COMPILE_AT_SCORES = 1 << 30
# in a model's Ran notes where they ran
FUSED_NOTE = "bias + GELU and bias + residual + LayerNorm compiled by numba (compiled.py): numpy's bits"
# the compiled softmax's weights from float64's, at most: SOFTMAX_ULPS ulps times (1 + |s_j - max s|), the
# rounding of the exp's argument (plus |s_j| + |max s| where a bias is added: the sum's rounding), numpy's own
# weights within the same (tests/test_fused.py)
SOFTMAX_ULPS = 12
SOFTMAX_NOTE = "attention's masked softmax compiled by numba (compiled.py): numpy's within float32 rounding"
# the decoder's compiled steps from float64's, at most, each output: SWIGLU_ULPS ulps of silu(gate) * up (its
# exp's argument -|gate| is exact; plus |gate * up| times float32's smallest normal: exp(gate) below it is
# flushed, from gate = -87.68, numpy's from -88.7), RMS_NORM_ULPS ulps of RMSNorm(x) g, each plus float32's
# smallest normal; numpy's passes within the same (measured: at most 4 ulps, either; tests/test_fused.py)
SWIGLU_ULPS = 6
RMS_NORM_ULPS = 6
DECODER_NOTE = ("SwiGLU and residual + RMSNorm compiled by numba (compiled.py): numpy's within float32 "
                "rounding")


@dataclass(frozen=True)
class Loops:
    """numba's loops as numpy functions. Both check their arrays first: the loops read and write exactly the
    memory those describe."""

    gelu: Callable  # numba_loops.gelu_loop
    exp_shift: Callable  # numba_loops.exp_shift_loop
    bias_gelu: Callable  # numba_loops.bias_gelu_loop
    add_center: Callable  # numba_loops.add_center_loop
    scale_shift: Callable  # numba_loops.scale_shift_loop
    softmax: Callable  # numba_loops.softmax_loop

    def gelu_(self, x: np.ndarray) -> np.ndarray:
        """GELU(x) = x * gelu_factor(x) in place on a contiguous float32 x."""
        nn.check_in_place(x)  # the loop writes x.size float32s from x's first byte
        self.gelu(x.reshape(-1))  # a view: x is contiguous
        return x

    def bias_gelu_(self, y: np.ndarray, b: np.ndarray) -> np.ndarray:
        """GELU(y + b) in place: y (..., n) contiguous float32, b (n,) float32, apart from y."""
        _check_rows(y, b)
        self.bias_gelu(y.reshape(-1), b)
        return y

    def add_layer_norm_(self, y: np.ndarray, b: np.ndarray, r: np.ndarray, g: np.ndarray, beta: np.ndarray,
                        eps: float) -> np.ndarray:
        """LayerNorm(y + b + r) with gain g and bias beta, in place: y and r (..., d) contiguous float32 of one
        shape, b, g, beta (d,) float32, all apart from y. numpy's float32 power takes var^-1/2 between the
        loops' two passes (numba's would be libm's, other bits)."""
        _check_rows(y, b, g, beta)
        if r.shape != y.shape or r.dtype != np.float32 or not r.flags.c_contiguous or _overlap(y, r):
            raise TypeError(f"add_layer_norm_ takes a residual like y, {y.shape} contiguous float32 apart from it, "
                            f"not {r.dtype} {r.shape}")
        var = np.empty(y.size // max(b.size, 1), np.float32)  # (rows,)
        self.add_center(y.reshape(-1), b, r.reshape(-1), var, np.float32(eps))
        self.scale_shift(y.reshape(-1), var ** -0.5, g, beta)  # var ** -0.5: nn.layer_norm_'s own power
        return y

    def softmax_(self, s: np.ndarray, hidden: np.ndarray | None, scale: float, causal: bool = False,
                 bias: np.ndarray | None = None) -> np.ndarray:
        """softmax(s * scale + B + M) over the last axis in place: s (..., T_q, T_k) contiguous float32; B = bias
        (float32, broadcastable to s: MPNet's (H, T_q, T_k), the same for every sentence) or 0; M = -inf where
        hidden (bool, broadcastable to s, its last axis s's) is True and, causal, where key j > query i."""
        nn.check_in_place(s)
        if s.size == 0:
            return s
        cols = s.shape[-1]
        if hidden is None:
            mask, per = np.empty(0, np.bool_), 1
        else:
            mask, per = _mask_rows(s.shape, np.asarray(hidden, dtype=np.bool_))
        add = np.empty(0, np.float32) if bias is None else _bias_rows(s, bias)
        self.softmax(s.reshape(-1), mask, add, np.float32(scale), cols, per, s.shape[-2] if causal else 0)
        return s

    def exp_shift_(self, s: np.ndarray, m: np.ndarray, total: np.ndarray | None = None) -> np.ndarray:
        """s <- exp_le0(s - m) in place, and total <- sum_j s_j of each row where given: s (..., n) float32,
        its rows evenly spaced (a contiguous array, or the first n columns of one), m and total (..., 1)
        contiguous float32, one value per row of s, each in memory of its own."""
        stride = _row_stride(s) if s.size else 0  # an empty s: nothing of it is read or written
        sums = np.empty(m.shape, np.float32) if total is None else total  # the loop always writes them
        if stride is None or any(a.dtype != np.float32 or not a.flags.c_contiguous or a.shape != (*s.shape[:-1], 1)
                                 for a in (m, sums)) or not sums.flags.writeable or _overlap(s, m, sums):
            raise TypeError(f"exp_shift_ takes writeable float32 rows evenly spaced and a contiguous float32 "
                            f"shift (and total) a row, apart from them and each other, not {s.dtype} {s.shape} "
                            f"strides {s.strides} and {m.dtype} {m.shape}"
                            + ("" if total is None else f" and {total.dtype} {total.shape}"))
        if s.size:
            rows, cols = s.size // s.shape[-1], s.shape[-1]
            # s's memory as one row: (rows - 1) * stride + cols float32s (as_strided, slower, where not contiguous)
            flat = s.reshape(-1) if s.flags.c_contiguous else as_strided(s, ((rows - 1) * stride + cols,), (4,))
            self.exp_shift(flat, m.reshape(-1), sums.reshape(-1), rows, cols, stride)
        else:
            sums[...] = 0  # rows of no columns sum to 0
        return s


def _check_rows(y: np.ndarray, *vectors: np.ndarray) -> None:
    """y contiguous, writeable float32 whose rows are as long as each vector, every vector float32 (n,) and
    contiguous, none in y's memory: what the row loops read and write."""
    nn.check_in_place(y)
    n = y.shape[-1] if y.ndim else -1
    if any(v.dtype != np.float32 or v.shape != (n,) or not v.flags.c_contiguous or np.may_share_memory(y, v)
           for v in vectors) or n == 0:
        raise TypeError(f"the row loops take rows of {n} and float32 ({n},) vectors apart from them, not "
                        f"{', '.join(f'{v.dtype} {v.shape}' for v in vectors)}")


@dataclass(frozen=True)
class DecoderLoops:
    """numba's loops of a decoder's steps between its products (numba_decoder_loops.py) as numpy functions, each
    checking its arrays first, as Loops'."""

    swiglu: Callable  # numba_decoder_loops.swiglu_loop
    add_rms_norm: Callable  # numba_decoder_loops.add_rms_norm_loop

    def swiglu_(self, gate_up: np.ndarray, d_ff: int) -> np.ndarray:
        """silu(gate) * up in place of up, gate_up = [gate | up] (..., 2 d_ff) contiguous float32 -> up, the view
        (..., d_ff) of its second half (decoder_nn.swiglu_'s result)."""
        nn.check_in_place(gate_up)
        if gate_up.ndim == 0 or d_ff < 1 or gate_up.shape[-1] != 2 * d_ff:
            raise TypeError(f"swiglu_ takes rows of 2 d_ff = {2 * d_ff}, not {gate_up.shape}")
        self.swiglu(gate_up.reshape(-1), d_ff)
        return gate_up[..., d_ff:]

    def add_rms_norm_(self, y: np.ndarray, r: np.ndarray | None, g: np.ndarray,
                      eps: float) -> tuple[np.ndarray, np.ndarray]:
        """x = y + r in place of y (r None: y as it is), h = RMSNorm(x) g new -> (x, h): y and r (..., d)
        contiguous float32 of one shape, g (d,) float32, apart from y."""
        _check_rows(y, g)
        if r is not None and (r.shape != y.shape or r.dtype != np.float32 or not r.flags.c_contiguous
                              or _overlap(y, r)):
            raise TypeError(f"add_rms_norm_ takes a residual like y, {y.shape} contiguous float32 apart from it, "
                            f"not {r.dtype} {r.shape}")
        h = np.empty_like(y)  # (..., d)
        self.add_rms_norm(y.reshape(-1), np.empty(0, np.float32) if r is None else r.reshape(-1), h.reshape(-1),
                          g, np.float32(eps))
        return y, h


def _bias_rows(s: np.ndarray, bias: np.ndarray) -> np.ndarray:
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


def _mask_rows(shape: tuple, hidden: np.ndarray) -> tuple[np.ndarray, int]:
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


def _overlap(*arrays: np.ndarray) -> bool:
    """Whether any two of the arrays may share memory."""
    return any(np.may_share_memory(a, b) for i, a in enumerate(arrays) for b in arrays[i + 1 :])


def _row_stride(s: np.ndarray) -> int | None:
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


def loops(backend: Backend, worth_loading: bool) -> Loops | None:
    """The compiled loops for a call on this backend whose size makes them worth_loading, or None for numpy to
    run the formulas: None on another backend than numpy float32, where backend.compiled is never (or auto
    and not worth_loading), and where they cannot be had (no numba; a failure, said once)."""
    if backend.name != "numpy" or backend.dtype != "float32" or backend.compiled == "never" or (
            backend.compiled == "auto" and not worth_loading):
        return None
    return _load()


def for_run(backend: Backend, tokens: int) -> Backend:
    """The backend of a run of this many tokens with its loops chosen: Backend.fused (bias + GELU, bias +
    residual + LayerNorm) compiled from COMPILE_AT tokens, Backend.softmax from COMPILE_AT_SOFTMAX, where they
    can be had (or as backend.compiled says), else numpy's passes. BERT's fused steps give numpy's bits either
    way (tested), so their choice is by what pays; a decoder's (SwiGLU, residual + RMSNorm: decoder_fused) and
    the softmax's bits differ within ulps: chosen once for the run, never a batch."""
    fused = loops(backend, tokens >= COMPILE_AT) is not None
    softmax = loops(backend, tokens >= COMPILE_AT_SOFTMAX) is not None
    return replace(backend, fused="compiled" if fused else "numpy", softmax="compiled" if softmax else "numpy")


def fused(backend: Backend) -> Loops | None:
    """The loops of the steps between a model's products, as the backend's run chose (for_run): bias_gelu_,
    add_layer_norm_ (and gelu_), or None for numpy's passes (nn.py)."""
    return _load() if backend.fused == "compiled" else None


def decoder_fused(backend: Backend) -> DecoderLoops | None:
    """A decoder's loops of the steps between its products, as the backend's run chose (for_run's fused):
    swiglu_ and add_rms_norm_, or None for numpy's passes (decoder_nn.py). Loaded here, at a decoder's first
    compiled step: no other run loads them."""
    return _load_decoder() if backend.fused == "compiled" else None


def softmax(backend: Backend) -> Callable | None:
    """Explicit attention's masked softmax as the backend's run chose (for_run): the compiled
    softmax_(s, hidden, scale), or None for numpy's (kernels.softmax_)."""
    found = _load() if backend.softmax == "compiled" else None
    return None if found is None else found.softmax_


def flash_exp(backend: Backend, dtype, scores: int) -> Callable | None:
    """The compiled exp(s - m) step of a flash call on this many scores (of this dtype), or None for numpy's:
    from COMPILE_AT_SCORES, by the size alone."""
    found = loops(backend, scores >= COMPILE_AT_SCORES) if dtype == np.float32 else None
    return None if found is None else found.exp_shift_


_lock = threading.Lock()  # flash attention may ask from several threads at once
_loaded: dict[str, Loops | None] = {}  # "loops": what _load() found, once a process


def _new_lock() -> None:
    global _lock
    _lock = threading.Lock()  # a forked child: no thread of it holds the lock, whatever the parent's did


os.register_at_fork(after_in_child=_new_lock)


def _load() -> Loops | None:
    """numba's loops, imported (loaded from numba's cache, or compiled and cached) and checked once a process;
    None without numba, or where they fail (said once, on stderr)."""
    with _lock:
        if "loops" not in _loaded:
            _loaded["loops"] = None
            try:
                from vectorize_cli import numba_loops
            except ImportError:  # no numba (the `model` extra): numpy, silently
                return None
            except Exception as e:  # numba there but failing: slower, not wrong; say why once
                return _failed(e)
            try:
                _loaded["loops"] = checked(numba_loops.LOOPS)
            except Exception as e:
                return _failed(e)
        return _loaded["loops"]


def _load_decoder() -> DecoderLoops | None:
    """The decoder's loops, loaded and checked once a process after the others (whose module they import); None
    where those cannot be had or these fail (said once)."""
    if _load() is None:
        return None
    with _lock:
        if "decoder" not in _loaded:
            _loaded["decoder"] = None
            try:
                from vectorize_cli import numba_decoder_loops

                _loaded["decoder"] = checked(numba_decoder_loops.LOOPS, DecoderLoops)
            except Exception as e:
                return _failed(e)
        return _loaded["decoder"]


def _failed(e: Exception) -> None:
    tell("warning", f"the compiled kernels could not be built ({type(e).__name__}: {e}); numpy computes their "
                    "formulas instead, more slowly")


def checked(dispatchers: tuple, kind: type = Loops):
    """The loops (a Loops, or the kind given), run on checked_on() against numpy's formulas (GELU, bias + GELU,
    LayerNorm, SwiGLU's silu_times: the same bits; exp: within one ulp; softmax, RMSNorm: within 1e-5), where
    numba's cache cannot tell: it knows numba_loops.py's source, not nn.py's. A mismatch is a stale cache:
    compiled again (each dispatcher's recompile()), then checked again; a second mismatch raises RuntimeError."""
    for attempt in range(2):
        found = kind(*dispatchers)
        if AGREES[kind](found):
            return found
        if attempt == 0:
            for d in dispatchers:
                d.recompile()
    raise RuntimeError("numba's loops do not compute nn.py's formulas (tests/test_compiled.py says where)")


def checked_on() -> np.ndarray:
    """What the loops are checked on when loaded: GELU's range and its edges, 4,096 values (exp: their -|x|)."""
    edges = [0.0, -0.0, 1e-30, -1e-30, 1e-45, 3e38, -3e38, np.inf, -np.inf, np.nan]
    return np.concatenate([np.linspace(-10, 10, 4096 - len(edges)), edges]).astype(np.float32)


def _agrees(found: Loops) -> bool:
    """GELU: the same bits as numpy's chunks (NaN where NaN); exp(s - 0) of -|x|: within one ulp of numpy's;
    bias + GELU and LayerNorm on checked_on()'s finite values in rows of 64, with a bias and a residual: numpy's
    bits; the softmax of their rows: within 1e-5 of numpy's."""
    from vectorize_cli.attention.kernels import softmax_

    x = checked_on()
    with np.errstate(invalid="ignore", over="ignore"):
        gelu_bits = found.gelu_(x.copy()).view(np.uint32) == nn.gelu_(x.copy()).view(np.uint32)
        a = -np.abs(x).reshape(-1, 64)  # exp's domain, a <= 0, in rows of 64
        exp = found.exp_shift_(a.copy(), np.zeros((a.shape[0], 1), np.float32)).view(np.int32)
        ulps = np.abs(exp.astype(np.int64) - nn.exp_le0(a.copy()).view(np.int32))
    y = x[np.isfinite(x) & (np.abs(x) < 1e4)][: 63 * 64].reshape(63, 64)  # GELU's range, in rows
    b, r = y[0].copy(), y[::-1].copy()
    numpy_path = y + b
    same = found.bias_gelu_(y.copy(), b).tobytes() == nn.gelu_(numpy_path).tobytes()
    same &= (found.add_layer_norm_(y.copy(), b, r, b[::-1].copy(), b, 1e-12).tobytes()
             == nn.layer_norm_(y + b + r, b[::-1].copy(), b, 1e-12).tobytes())
    near = np.allclose(found.softmax_(y.copy(), None, 0.125), softmax_(y * np.float32(0.125)), rtol=1e-5,
                       atol=1e-30)
    return bool((gelu_bits | np.isnan(x)).all() and (ulps <= 1).all() and same and near)


def _decoder_agrees(found: DecoderLoops) -> bool:
    """SwiGLU on checked_on()'s values (gate) and their reverse (up), in rows: decoder_nn.silu_times's bits as
    numpy computes it (NaN where NaN); residual + RMSNorm in rows of 64: the stream numpy's bits, the norm
    within 1e-5 of numpy's rms_norm."""
    from vectorize_cli.model import decoder_nn

    x = checked_on()
    gate, up = x.reshape(-1, 64), x[::-1].reshape(-1, 64)
    with np.errstate(invalid="ignore", over="ignore"):
        ours, formula = found.swiglu_(np.concatenate([gate, up], axis=1), 64), decoder_nn.silu_times(gate, up)
        bits = (ours.view(np.uint32) == formula.view(np.uint32)) | (np.isnan(ours) & np.isnan(formula))
    y = x[np.isfinite(x) & (np.abs(x) < 1e4)][: 63 * 64].reshape(63, 64)
    r, g = y[::-1].copy(), y[0].copy()
    stream, h = found.add_rms_norm_(y.copy(), r, g, 1e-6)
    numpy_stream = y + r
    return bool(bits.all() and stream.tobytes() == numpy_stream.tobytes()
                and np.allclose(h, decoder_nn.rms_norm(numpy_stream, g, 1e-6), rtol=1e-5, atol=1e-30))


AGREES = {Loops: _agrees, DecoderLoops: _decoder_agrees}  # each kind of loops: how it is checked when loaded
