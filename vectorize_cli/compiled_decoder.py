"""A decoder's steps between its products (model/decoder.py) compiled by numba: numba_decoder_loops.py's loops over
decoder_nn.py's formulas, loaded only where a decoder's run chose them (decoder_fused: compiled.for_run's fused
steps), so that no other run pays their load; checked against numpy when loaded (compiled.checked):

    swiglu_(gate_up, d_ff)  silu(gate) * up in place of the up half, one pass: decoder_nn.silu_times's bits,
                            numpy's swiglu_ within float32 rounding (SWIGLU_ULPS)
    add_rms_norm_(y, r, g, eps)
                            y <- y + r in place (numpy's bits), h <- RMSNorm(y) g new, one loop a row: numpy's
                            rms_norm within float32 rounding (RMS_NORM_ULPS)
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vectorize_cli import compiled
from vectorize_cli.backend import Backend
from vectorize_cli.loop_layouts import check_rows, overlap
from vectorize_cli.model import nn

# the decoder's compiled steps from float64's, at most, each output: SWIGLU_ULPS ulps of silu(gate) * up (its
# exp's argument -|gate| is exact; plus |gate * up| times float32's smallest normal: exp(gate) below it is
# flushed, from gate = -87.68, numpy's from -88.7), RMS_NORM_ULPS ulps of RMSNorm(x) g, each plus float32's
# smallest normal; numpy's passes within the same (measured: at most 4 ulps, either; tests/test_fused.py)
SWIGLU_ULPS = 6
RMS_NORM_ULPS = 6
DECODER_NOTE = ("SwiGLU and residual + RMSNorm compiled by numba (compiled_decoder.py): numpy's within float32 "
                "rounding")


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
        check_rows(y, g)
        if r is not None and (r.shape != y.shape or r.dtype != np.float32 or not r.flags.c_contiguous
                              or overlap(y, r)):
            raise TypeError(f"add_rms_norm_ takes a residual like y, {y.shape} contiguous float32 apart from it, "
                            f"not {r.dtype} {r.shape}")
        h = np.empty_like(y)  # (..., d)
        self.add_rms_norm(y.reshape(-1), np.empty(0, np.float32) if r is None else r.reshape(-1), h.reshape(-1),
                          g, np.float32(eps))
        return y, h


def decoder_fused(backend: Backend) -> DecoderLoops | None:
    """A decoder's loops of the steps between its products, as the backend's run chose (compiled.for_run's fused):
    swiglu_ and add_rms_norm_, or None for numpy's passes (decoder_nn.py). Loaded here, at a decoder's first
    compiled step, once a process: no other run loads them."""
    return compiled.load_once("decoder", _checked) if backend.fused == "compiled" else None


def _checked() -> DecoderLoops:
    from vectorize_cli import numba_decoder_loops

    return compiled.checked(numba_decoder_loops.DECODER_LOOPS, DecoderLoops, decoder_agrees)


def decoder_agrees(found: DecoderLoops) -> bool:
    """SwiGLU on checked_on()'s values (gate) and their reverse (up), in rows: decoder_nn.silu_times's bits as
    numpy computes it (NaN where NaN); residual + RMSNorm in rows of 64: the stream numpy's bits, the norm
    within 1e-5 of numpy's rms_norm."""
    from vectorize_cli.model import decoder_nn

    x = compiled.checked_on()
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
