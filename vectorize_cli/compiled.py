"""nn.py's formulas compiled into loops over arrays (numba_loops.py), each checking its arrays first
(loop_layouts.py), and the one place that decides when they run:

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

and a decoder's SwiGLU and residual + RMSNorm (compiled_decoder.py, loaded only by a decoder's run).

When: never without numba (the `model` extra) or on another backend than numpy float32; otherwise as the
backend says (Backend.compiled, VECTORIZE_COMPILED read once by backend.resolve): never, always, or auto, by
the input's size alone: a model's steps between its products for a run of COMPILE_AT tokens or more
(for_run: Backend.fused, numpy's bits either way for BERT's steps, within ulps for a decoder's; Backend.softmax,
from COMPILE_AT_SOFTMAX, its bits within ulps; so the choice is the run's and never a batch's), flash's exp for
a call of COMPILE_AT_SCORES scores or more (flash_exp: its bits differ from numpy's exp in the last place, so the
same input must take the same exp in every process, whatever ran before).

Loading them (importing numba and setting up its CPU target, without the scipy.linalg its BLAS check would
import: numba_import.py; then each loop from numba's cache, a few ms) costs a process about 0.35 s, compiling them
once per machine about 2.3 s (benchmarks/README.md, "Start-up and shutdown of the model path": 1.5 s, before
LayerNorm's sums, "LayerNorm's loop": 1.5x that since). Where a command
knows its input's size before reading it (`run -F npy` on a file), prefetch() starts that load on a thread of
its own while the weights are read and the texts tokenized; for_run still decides by the tokens counted. The
decoder's two live in modules of their own (compiled_decoder.py, numba_decoder_loops.py); a failure is said once,
on stderr, and numpy runs. numba's cache does not know nn.py's source, so the loops are checked against numpy's
formulas (checked_on()) first, and a stale cache is compiled again (numba's public `recompile`).
"""

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from numpy.lib.stride_tricks import as_strided

from vectorize_cli import collector
from vectorize_cli.backend import Backend
from vectorize_cli.errors import tell
from vectorize_cli.loop_layouts import bias_rows, check_rows, mask_rows, overlap, row_stride
from vectorize_cli.model import nn
from vectorize_cli.numba_import import without_scipy_blas

# tokens of a run (model/bert.forward's batches together) from which GELU runs compiled, and scores (heads x
# queries x keys) of one flash call from which its exp does: where loading them (about 0.7 s from numba's
# cache) is won back on 2 cores, GELU saving about 30 us a token, the exp about 1 ns a score
# (benchmarks/README.md, "Start-up with numba's cache")
COMPILE_AT = 1 << 15
COMPILE_AT_SOFTMAX = COMPILE_AT  # the same load to win back; a name of its own: its bits are not numpy's
# an input's bytes per token, to guess a run's tokens before it is read (prefetch): English runs 4-5 bytes a
# WordPiece token (4.7 in sample_inputs/sentences-10k.txt); more here, so that a guess errs low
BYTES_A_TOKEN = 6
COMPILE_AT_SCORES = 1 << 30
# in a model's Ran notes where they ran
FUSED_NOTE = "bias + GELU and bias + residual + LayerNorm compiled by numba (compiled.py): numpy's bits"
# the compiled softmax's weights from float64's, at most: SOFTMAX_ULPS ulps times (1 + |s_j - max s|), the
# rounding of the exp's argument (plus |s_j| + |max s| where a bias is added: the sum's rounding), numpy's own
# weights within the same (tests/test_fused.py)
SOFTMAX_ULPS = 12
SOFTMAX_NOTE = "attention's masked softmax compiled by numba (compiled.py): numpy's within float32 rounding"


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
        check_rows(y, b)
        self.bias_gelu(y.reshape(-1), b)
        return y

    def add_layer_norm_(self, y: np.ndarray, b: np.ndarray, r: np.ndarray, g: np.ndarray, beta: np.ndarray,
                        eps: float) -> np.ndarray:
        """LayerNorm(y + b + r) with gain g and bias beta, in place: y and r (..., d) contiguous float32 of one
        shape, b, g, beta (d,) float32, all apart from y. numpy's float32 power takes var^-1/2 between the
        loops' two passes (numba's would be libm's, other bits)."""
        check_rows(y, b, g, beta)
        if r.shape != y.shape or r.dtype != np.float32 or not r.flags.c_contiguous or overlap(y, r):
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
            mask, per = mask_rows(s.shape, np.asarray(hidden, dtype=np.bool_))
        add = np.empty(0, np.float32) if bias is None else bias_rows(s, bias)
        self.softmax(s.reshape(-1), mask, add, np.float32(scale), cols, per, s.shape[-2] if causal else 0)
        return s

    def exp_shift_(self, s: np.ndarray, m: np.ndarray, total: np.ndarray | None = None) -> np.ndarray:
        """s <- exp_le0(s - m) in place, and total <- sum_j s_j of each row where given: s (..., n) float32,
        its rows evenly spaced (a contiguous array, or the first n columns of one), m and total (..., 1)
        contiguous float32, one value per row of s, each in memory of its own."""
        stride = row_stride(s) if s.size else 0  # an empty s: nothing of it is read or written
        sums = np.empty(m.shape, np.float32) if total is None else total  # the loop always writes them
        if stride is None or any(a.dtype != np.float32 or not a.flags.c_contiguous or a.shape != (*s.shape[:-1], 1)
                                 for a in (m, sums)) or not sums.flags.writeable or overlap(s, m, sums):
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


def _wanted(backend: Backend, worth_loading: bool) -> bool:
    """Whether a call on this backend whose size makes the loops worth_loading takes them where they can be
    had: on numpy float32, unless backend.compiled is never (or auto and not worth_loading)."""
    return backend.name == "numpy" and backend.dtype == "float32" and (
        backend.compiled == "always" or (backend.compiled == "auto" and worth_loading))


def loops(backend: Backend, worth_loading: bool) -> Loops | None:
    """The compiled loops for a call on this backend whose size makes them worth_loading, or None for numpy to
    run the formulas: None on another backend than numpy float32, where backend.compiled is never (or auto
    and not worth_loading), and where they cannot be had (no numba; a failure, said once)."""
    return _load() if _wanted(backend, worth_loading) else None


def prefetch(backend: Backend, tokens: int) -> None:
    """Start loading the loops now, on a thread of their own, where a run of about this many tokens would take
    them (for_run): a guess made before the input is read (its size in bytes / BYTES_A_TOKEN), so that
    their load (about 0.3 s) runs on the other core while the model is read and the texts tokenized. for_run
    still decides by the tokens counted, so a wrong guess changes no result; it costs the load's CPU time, and
    a process that ends first waits for the thread (not a daemon: an import is never cut off midway)."""
    if _wanted(backend, tokens >= min(COMPILE_AT, COMPILE_AT_SOFTMAX)) and "loops" not in _loaded:
        threading.Thread(target=_load, name="vectorize-compiled-load").start()


def for_run(backend: Backend, tokens: int) -> Backend:
    """The backend of a run of this many tokens with its loops chosen: Backend.fused (bias + GELU, bias +
    residual + LayerNorm) compiled from COMPILE_AT tokens, Backend.softmax from COMPILE_AT_SOFTMAX, where they
    can be had (or as backend.compiled says), else numpy's passes. BERT's fused steps give numpy's bits either
    way (tested), so their choice is by what pays; a decoder's (compiled_decoder.decoder_fused) and
    the softmax's bits differ within ulps: chosen once for the run, never a batch."""
    fused = loops(backend, tokens >= COMPILE_AT) is not None
    softmax = loops(backend, tokens >= COMPILE_AT_SOFTMAX) is not None
    return replace(backend, fused="compiled" if fused else "numpy", softmax="compiled" if softmax else "numpy")


def fused(backend: Backend) -> Loops | None:
    """The loops of the steps between a model's products, as the backend's run chose (for_run): bias_gelu_,
    add_layer_norm_ (and gelu_), or None for numpy's passes (nn.py)."""
    return _load() if backend.fused == "compiled" else None


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
            # numba's BLAS check would import scipy.linalg: 0.27 s (numba_import.py); its 94,000 lasting objects
            # made without the collector walking them (collector.py)
            with without_scipy_blas(), collector.paused():
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


def load_once(key: str, make: Callable):
    """make() once a process (under the lock, after the loops: None where they cannot be had), what it gave kept
    under key; None where it raised (said once, on stderr): another module's loops (compiled_decoder.py)."""
    if _load() is None:
        return None
    with _lock:
        if key not in _loaded:
            _loaded[key] = None
            try:
                with collector.paused():  # another module's loops from numba's cache: lasting objects too
                    _loaded[key] = make()
            except Exception as e:
                return _failed(e)
        return _loaded[key]


def _failed(e: Exception) -> None:
    tell("warning", f"the compiled kernels could not be built ({type(e).__name__}: {e}); numpy computes their "
                    "formulas instead, more slowly")


def checked(dispatchers: tuple, kind: type = Loops, agrees: Callable | None = None):
    """The loops (a Loops, or the kind given), run on checked_on() against numpy's formulas by agrees (_agrees's
    by default: GELU, bias + GELU, LayerNorm: the same bits; exp: within one ulp; softmax: within 1e-5; a
    decoder's: compiled_decoder.decoder_agrees), where numba's cache cannot tell: it knows a loop module's
    source, not nn.py's. A mismatch is a stale cache: compiled again (each dispatcher's recompile()), then
    checked again; a second mismatch raises RuntimeError."""
    for attempt in range(2):
        found = kind(*dispatchers)
        if (agrees or _agrees)(found):
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
