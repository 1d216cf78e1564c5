"""The fused steps between the model's products (compiled.py, numba_loops.py): bias + GELU and bias + residual
+ LayerNorm give numpy's bits; explicit attention's scale, mask and softmax in one loop a row is within
compiled.SOFTMAX_ULPS ulps of float64 (times the rounding of its exp's argument), as numpy's own is, and the
same bits whatever a sentence's batch pads it to; the whole model stays sentence-transformers' to a cosine of
0.9999999, the same bits run after run (in other batches within 1e-6: BLAS's products round by shape)."""

import numpy as np
import pytest

from conftest import SAMPLES
from test_model import lines

from vectorize_cli.attention.kernels import hide_, softmax_
from vectorize_cli.backend import Backend
from vectorize_cli.config import ModelConfig
from vectorize_cli.model import nn

ALWAYS = Backend("numpy", "cpu", "float32", compiled="always")
TINY = np.finfo(np.float32).tiny  # float32's smallest normal: below it an absolute floor


@pytest.fixture
def loops():
    pytest.importorskip("numba")
    from vectorize_cli import compiled

    found = compiled.loops(ALWAYS, worth_loading=True)
    assert found is not None, "numba is installed but the loops did not load (see stderr)"
    return found


def magnitudes(rng, shape) -> np.ndarray:
    """float32 normals, each row scaled by 10^-6 .. 10^4: small and large inputs in one array."""
    scale = 10.0 ** rng.uniform(-6, 4, (*shape[:-1], 1))
    return (rng.standard_normal(shape) * scale).astype(np.float32)


@pytest.mark.parametrize("d", [384, 1536, 768, 100, 7, 129])
def test_bias_gelu_and_add_layer_norm_are_numpys_bits(loops, rng, d):
    """One loop after the product gives what dense, +=, gelu_ and layer_norm_ give, bit for bit: numpy's
    operations in numpy's order (its pairwise row sums, its float32 power)."""
    x, r = magnitudes(rng, (257, d)), magnitudes(rng, (257, d))
    b, g, beta = (rng.standard_normal(d).astype(np.float32) for _ in range(3))
    assert loops.bias_gelu_(x.copy(), b).tobytes() == nn.gelu_(x + b).tobytes()
    numpy_path = x + b
    numpy_path += r
    ours = loops.add_layer_norm_(x.copy(), b, r, g, beta, 1e-12)
    assert ours.tobytes() == nn.layer_norm_(numpy_path, g, beta, 1e-12).tobytes()
    # and LayerNorm of float64 to float32 rounding: a few ulps of the largest output of each row
    h = x.astype(np.float64) + b + r
    h -= h.mean(-1, keepdims=True)
    ref = h / np.sqrt((h * h).mean(-1, keepdims=True) + 1e-12) * g + beta
    assert (np.abs(ours - ref) <= 64 * np.spacing(np.abs(ref).max(-1, keepdims=True).astype(np.float32))).all()


def test_dense_steps_take_the_loops_or_numpys_passes_alike(loops, rng):
    """nn.dense_gelu and nn.dense_add_norm, the model's calls: the same bits with the loops as without."""
    x, w1, w2 = magnitudes(rng, (64, 48)), magnitudes(rng, (48, 96)), magnitudes(rng, (96, 48))
    b1, b2, g, beta = (rng.standard_normal(n).astype(np.float32) for n in (96, 48, 48, 48))
    for with_loops in (None, loops):
        h = nn.dense_gelu(x, w1, b1, with_loops)
        y = nn.dense_add_norm(h, w2, b2, x, g, beta, 1e-12, with_loops)
        if with_loops is None:
            numpy_h, numpy_y = h, y
    assert h.tobytes() == numpy_h.tobytes() and y.tobytes() == numpy_y.tobytes()


def softmax64(s: np.ndarray, hidden, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """float64 weights of float32 scores, and |s_j - max s| (how far the exp's argument is rounded)."""
    s64 = s.astype(np.float64) * np.float32(scale)
    if hidden is not None:
        s64 = np.where(np.broadcast_to(hidden, s.shape), -np.inf, s64)
    shift = s64 - s64.max(-1, keepdims=True)
    e = np.exp(shift)
    return e / e.sum(-1, keepdims=True), np.abs(np.nan_to_num(shift, neginf=0.0))


def assert_softmax_bound(w: np.ndarray, s: np.ndarray, hidden, scale: float) -> None:
    from vectorize_cli.compiled import SOFTMAX_ULPS

    ref, arg = softmax64(s, hidden, scale)
    ulps = np.spacing(np.maximum(ref, TINY).astype(np.float32))
    bound = SOFTMAX_ULPS * (1 + arg) * ulps + TINY
    assert (np.abs(w - ref) <= bound).all(), (np.abs(w - ref) / bound).max()


@pytest.mark.parametrize("T", [1, 5, 20, 64, 300])
def test_compiled_softmax_is_float64s_within_its_bound_as_numpys_is(loops, rng, T):
    """Scores from 10^-6 to 10^4 (weights from uniform to one-hot, through float32's underflow), padding
    masks (B, 1, 1, T) as the model's, a mask written out in full, and none."""
    s = magnitudes(rng, (3, 4, T, T))
    mask = rng.random((3, 1, 1, T)) < 0.3
    mask[..., 0] = False  # [CLS] is always seen
    full = np.ascontiguousarray(np.broadcast_to(mask, s.shape))
    for hidden in (mask, full, None, mask[0, 0]):
        ours = loops.softmax_(s.copy(), hidden, 0.125)
        numpy_path = softmax_(s * np.float32(0.125) if hidden is None else hide_(s * np.float32(0.125), hidden))
        assert_softmax_bound(ours, s, hidden, 0.125)
        assert_softmax_bound(numpy_path, s, hidden, 0.125)  # the bound is numpy's own too
        assert hidden is None or (ours[np.broadcast_to(hidden, s.shape)] == 0).all()


def test_compiled_softmax_edges_are_numpys(loops):
    """Every key hidden: NaN, as numpy's -inf - (-inf); a NaN score: NaN; scores of float32's range: finite."""
    s = np.array([[[1.0, 2.0, 3.0], [3e38, -3e38, 0.0], [np.nan, 0.0, 1.0]]], np.float32)
    hidden = np.array([[[True, True, True]]])
    with np.errstate(invalid="ignore"):
        assert np.isnan(loops.softmax_(s.copy(), hidden, 1.0)).all()
        assert np.isnan(softmax_(hide_(s.copy(), hidden))).all()
        ours = loops.softmax_(s.copy(), None, 1.0)
    assert np.isfinite(ours[0, :2]).all() and np.array_equal(ours[0, 1], [1.0, 0.0, 0.0])
    assert np.isnan(ours[0, 2]).all()  # numpy's max is NaN there, and so is every weight
    with np.errstate(invalid="ignore"):
        inf = loops.softmax_(np.array([[1.0, np.inf, 0.0]], np.float32), None, 1.0)
        assert np.isnan(inf).all() and np.isnan(softmax_(np.array([[1.0, np.inf, 0.0]], np.float32))).all()
    hidden_nan = loops.softmax_(np.array([[1.0, np.nan, 0.0]], np.float32), np.array([False, True, False]), 1.0)
    assert np.isfinite(hidden_nan).all()  # a hidden key's score is never read, as numpy overwrites it
    assert loops.softmax_(np.empty((2, 0, 3), np.float32), None, 1.0).shape == (2, 0, 3)


def test_compiled_softmax_is_the_same_bits_in_any_batch(loops, rng):
    """A sentence's rows padded to its batch's longest: its weights do not depend on how long that is (the
    row sums only its own keys), nor on the sentences beside it."""
    n = int(rng.integers(3, 40))
    alone = magnitudes(rng, (1, 2, n, n)) * np.float32(100)
    ours = loops.softmax_(alone.copy(), np.zeros((1, 1, 1, n), bool), 0.125)
    for T in (n + 1, n + 7, n + 64):
        batch = magnitudes(rng, (3, 2, T, T))
        batch[1, :, :n, :n] = alone[0]
        hidden = np.zeros((3, 1, 1, T), bool)
        hidden[1, ..., n:] = True
        padded = loops.softmax_(batch, hidden, 0.125)
        assert padded[1, :, :n, :n].tobytes() == ours[0].tobytes(), T
        assert (padded[1, :, :n, n:] == 0).all()


def test_compiled_softmax_refuses_what_it_would_misread(loops):
    with pytest.raises(TypeError):
        loops.softmax_(np.ones((4, 4)), None, 1.0)  # float64
    with pytest.raises(TypeError):
        loops.softmax_(np.ones((4, 8), np.float32)[:, ::2], None, 1.0)  # not contiguous
    with pytest.raises(TypeError):
        loops.bias_gelu_(np.ones((4, 4), np.float32), np.ones(3, np.float32))  # a bias of another width
    y = np.ones((4, 4), np.float32)
    with pytest.raises(TypeError):
        loops.add_layer_norm_(y, y[0], np.ones((4, 4), np.float32), *np.ones((2, 4), np.float32), 1e-12)  # b in y
    with pytest.raises(TypeError):
        loops.add_layer_norm_(y, *np.ones((1, 4), np.float32), y, *np.ones((2, 4), np.float32), 1e-12)  # r is y


@pytest.fixture
def every_loop(monkeypatch):
    """Every compiled step, whatever the run's size (VECTORIZE_COMPILED=1)."""
    pytest.importorskip("numba")
    monkeypatch.setenv("VECTORIZE_COMPILED", "1")


def test_the_model_with_every_step_compiled_is_sentence_transformers(minilm, reference, every_loop):
    """cos >= 0.9999999 and max |delta| <= 1e-6 (unit vectors) against sentence-transformers, on the sample
    files and 1,000 of the 10,000 sample sentences; the same bits run after run."""
    from vectorize_cli.pipelines.bert import encode

    texts = [t for name in ("english.txt", "chinese.txt", "long.txt", "punctuation.txt") for t in lines(name)]
    texts += (SAMPLES / "sentences-10k.txt").read_text(encoding="utf-8").splitlines()[:1000]
    ours, _ = encode(minilm, texts, ModelConfig(batch_size=32))
    ref = reference.encode(texts, batch_size=32)
    cos = (ours.astype(np.float64) * ref).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(ref, axis=1)
    assert cos.min() >= 0.9999999 and np.abs(ours - ref).max() <= 1e-6, (cos.min(), np.abs(ours - ref).max())
    again, _ = encode(minilm, texts, ModelConfig(batch_size=32))
    assert again.tobytes() == ours.tobytes()  # run after run, whichever thread ran which batch
    # other batches (ties in length sorted the other way): within 1e-6, as numpy's passes (BLAS's products of
    # other shapes round otherwise; the loops alone are the same bits in any batch, tested above)
    other, _ = encode(minilm, texts[::-1], ModelConfig(batch_size=32))
    assert np.abs(other[::-1] - ours).max() <= 1e-6
