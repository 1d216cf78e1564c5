"""The fused steps between the model's products (compiled.py, numba_loops.py): bias + GELU and bias + residual
+ LayerNorm give numpy's bits; explicit attention's scale, mask and softmax in one loop a row is within
compiled.SOFTMAX_ULPS ulps of float64 (times the rounding of its exp's argument), as numpy's own is, and the
same bits whatever a sentence's batch pads it to; the whole model stays sentence-transformers' to a cosine of
0.9999999, the same bits run after run (in other batches within 1e-6: BLAS's products round by shape)."""

import numpy as np
import pytest

from conftest import SAMPLES
from test_compiled import ALWAYS, kernels  # noqa: F401  (kernels: the fixture, used by name)
from test_model import lines

from vectorize_cli.attention.kernels import hide_, softmax_
from vectorize_cli.config import ModelConfig
from vectorize_cli.model import nn

TINY = np.finfo(np.float32).tiny  # float32's smallest normal: below it an absolute floor


@pytest.fixture
def loops(kernels):
    """test_compiled's kernels: the compiled loops (compiled.Loops)."""
    return kernels


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



def test_add_layer_norm_is_numpys_bits_for_every_split_of_a_row(loops, rng):
    """LayerNorm's loop sums each part of numpy's pairwise tree in place (8 running sums as one vector, the rest one
    by one): numpy's bits for row lengths of every shape of that tree (below 8, a part's tail, a half of 128 beside
    a longer one split again: 257, 1031), and random ones; a NaN or an inf in a row as numpy's passes give it."""
    lengths = [*range(1, 10), 16, 127, 128, 129, 256, 257, 263, 264, 1024, 1031, *rng.integers(1, 2100, 12)]
    for d in map(int, lengths):
        x, r = magnitudes(rng, (6, d)), magnitudes(rng, (6, d))
        x[1, d // 2], r[2, 0], x[3, -1], r[3, 0] = np.nan, np.inf, -np.inf, np.inf  # NaN, inf, inf - inf
        b, g, beta = (rng.standard_normal(d).astype(np.float32) for _ in range(3))
        numpy_path = x + b
        numpy_path += r
        with np.errstate(invalid="ignore"):
            expected = nn.layer_norm_(numpy_path, g, beta, 1e-12)
            ours = loops.add_layer_norm_(x.copy(), b, r, g, beta, 1e-12)
        assert ours.tobytes() == expected.tobytes(), f"d = {d}"

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


def softmax64(s: np.ndarray, hidden, scale: float, causal: bool = False,
              bias=None) -> tuple[np.ndarray, np.ndarray]:
    """float64 weights of float32 scores (plus the bias, the causal mask where asked), and |s_j - max s| (how far
    the exp's argument is rounded; with a bias, plus |s_j| + |max s|: the sum's own rounding)."""
    s64 = s.astype(np.float64) * np.float32(scale)
    if bias is not None:
        s64 = s64 + bias
    if hidden is not None:
        s64 = np.where(np.broadcast_to(hidden, s.shape), -np.inf, s64)
    if causal:  # key j > query i hidden
        s64 = np.where(np.arange(s.shape[-1])[None, :] > np.arange(s.shape[-2])[:, None], -np.inf, s64)
    shift = s64 - s64.max(-1, keepdims=True)
    e = np.exp(shift)
    arg = np.abs(np.nan_to_num(shift, neginf=0.0))
    if bias is not None:  # the sum s * scale + B is rounded too (numpy's s += B as well): its terms' size counts
        arg += np.nan_to_num(np.abs(s64) + np.abs(s64.max(-1, keepdims=True)), posinf=0.0)
    return e / e.sum(-1, keepdims=True), arg


def assert_softmax_bound(w: np.ndarray, s: np.ndarray, hidden, scale: float, causal: bool = False,
                         bias=None) -> None:
    from vectorize_cli.compiled import SOFTMAX_ULPS

    ref, arg = softmax64(s, hidden, scale, causal, bias)
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


def numpy_softmax(s, hidden, scale, causal=False, bias=None):
    """explicit_attention's numpy passes on a copy of s: scale, bias, causal mask, padding mask, softmax."""
    from vectorize_cli.attention.kernels import mask_future_

    s = s * np.float32(scale)
    if bias is not None:
        s += bias
    if causal:
        mask_future_(s)
    return softmax_(s if hidden is None else hide_(s, hidden))


@pytest.mark.parametrize("T", [1, 6, 33, 130])
def test_compiled_softmax_with_a_causal_mask_and_a_bias_is_float64s_within_its_bound(loops, rng, T):
    """A decoder's causal rows (query i sees keys 0 .. i, with and without padding) and MPNet's bias (H, T, T),
    the same for every sentence, each against float64 within SOFTMAX_ULPS, as numpy's passes are; hidden keys
    and future keys weigh exactly 0."""
    B, H = 3, 4
    s = magnitudes(rng, (B, H, T, T))
    bias = (rng.standard_normal((H, T, T)) * rng.choice([0.1, 3, 30])).astype(np.float32)
    mask = rng.random((B, 1, 1, T)) < 0.3
    mask[..., 0] = False  # a sentence's first token is always seen
    future = np.arange(T)[None, :] > np.arange(T)[:, None]  # (T, T)
    for hidden, causal, b in ((None, True, None), (mask, True, None), (mask, False, bias), (None, False, bias),
                              (mask, True, bias), (None, True, bias[None]), (mask, False, bias[0])):
        ours = loops.softmax_(s.copy(), hidden, 0.125, causal, b)
        assert_softmax_bound(ours, s, hidden, 0.125, causal, b)
        assert_softmax_bound(numpy_softmax(s, hidden, 0.125, causal, b), s, hidden, 0.125, causal, b)
        assert not causal or (ours[..., future] == 0).all()
        assert hidden is None or (ours[np.broadcast_to(hidden, s.shape)] == 0).all()
    one = loops.softmax_(s[0].copy(), None, 0.125, True, bias)  # (H, T, T): one sentence, as a trace runs it
    assert_softmax_bound(one, s[0], None, 0.125, True, bias)


def test_compiled_causal_softmax_edges_are_numpys(loops):
    """Causal rows whose seen keys are all hidden: NaN, as numpy's; a NaN score in a future key is never read;
    a bias that does not broadcast, or is not float32, is refused as numpy's += would or before any write."""
    s = np.zeros((1, 3, 3), np.float32)
    hidden = np.array([True, True, False])  # rows 0 and 1 see hidden keys only
    with np.errstate(invalid="ignore"):
        ours = loops.softmax_(s.copy(), hidden, 1.0, True)
        want = numpy_softmax(s, hidden, 1.0, True)
    assert np.isnan(ours[0, :2]).all() and np.isnan(want[0, :2]).all()
    assert ours[0, 2].tolist() == want[0, 2].tolist() == [0.0, 0.0, 1.0]
    future_nan = np.array([[0.0, np.nan], [1.0, 2.0]], np.float32)
    assert loops.softmax_(future_nan, None, 1.0, True).tolist()[0] == [1.0, 0.0]
    with pytest.raises(ValueError):
        loops.softmax_(np.zeros((2, 3, 3), np.float32), None, 1.0, False, np.zeros((3, 4, 4), np.float32))
    with pytest.raises(TypeError):
        loops.softmax_(np.zeros((3, 3), np.float32), None, 1.0, False, np.zeros((3, 3)))  # float64


def test_compiled_causal_and_biased_softmax_is_the_same_bits_in_any_batch(loops, rng):
    """A sentence of n tokens in batches padded to T > n: the decoder's rows (causal, right padding, no key mask)
    and MPNet's (its padding masked, the bias computed for T, B[h, i, j] a function of j - i) are the same bits
    as the sentence alone."""
    from vectorize_cli.model.relative_bias import relative_position_bias

    n, H = int(rng.integers(3, 40)), 2
    table = rng.standard_normal((H, 32)).astype(np.float32)
    alone = magnitudes(rng, (1, H, n, n)) * np.float32(100)
    causal = loops.softmax_(alone.copy(), None, 0.125, True)
    biased = loops.softmax_(alone.copy(), np.zeros((1, 1, 1, n), bool), 0.125, False, relative_position_bias(table, n))
    for T in (n + 1, n + 7, n + 64):
        batch = magnitudes(rng, (3, H, T, T))
        batch[1, :, :n, :n] = alone[0]
        hidden = np.zeros((3, 1, 1, T), bool)
        hidden[1, ..., n:] = True
        assert loops.softmax_(batch.copy(), None, 0.125, True)[1, :, :n, :n].tobytes() == causal[0].tobytes(), T
        padded = loops.softmax_(batch, hidden, 0.125, False, relative_position_bias(table, T))
        assert padded[1, :, :n, :n].tobytes() == biased[0].tobytes(), T


@pytest.fixture
def decoder_loops():
    pytest.importorskip("numba")
    from vectorize_cli import compiled, compiled_decoder

    found = compiled_decoder.decoder_fused(compiled.for_run(ALWAYS, 1))
    assert found is not None, "numba is installed but the decoder's loops did not load (see stderr)"
    return found


# gate values where SiLU changes regime: 0, tiny, exp_le0's floor (-87.68, numpy's exp(-x) overflowing from
# -88.73), beyond, and the non-finite ones
SILU_EDGES = np.array([0.0, -0.0, 1e-45, -1e-45, 1e-30, -1e-30, 1.0, -1.0, 20.0, -20.0, 87.0, -87.0, -87.5, -87.7,
                       -88.0, -88.8, -100.0, -1e4, 1e4, 3e38, -3e38, np.inf, -np.inf, np.nan], np.float32)


def silu_times64(gate: np.ndarray, up: np.ndarray) -> np.ndarray:
    """silu(gate) * up in float64, from float32 inputs (no overflow: 1 + exp(-gate) in float64 is finite here)."""
    g = gate.astype(np.float64)
    return g * up / (1 + np.exp(-g))


def assert_silu_bound(got: np.ndarray, gate: np.ndarray, up: np.ndarray) -> None:
    from vectorize_cli.compiled_decoder import SWIGLU_ULPS

    ref = silu_times64(gate, up)
    # exp(gate) below float32's normals is flushed (exp_le0: 0 from -87.68; numpy's 1 + exp(-gate): inf from -88.7)
    bound = SWIGLU_ULPS * np.spacing(np.abs(ref).astype(np.float32)) + (1 + np.abs(gate * up.astype(np.float64))) * TINY
    assert (np.abs(got - ref) <= bound).all(), (np.abs(got - ref) / bound).max()


@pytest.mark.parametrize("d_ff", [3072, 37, 1, 128, 200])
def test_compiled_swiglu_is_its_formulas_bits_and_float64s_within_its_bound(decoder_loops, rng, d_ff):
    """silu(gate) * up in place of up, one pass: decoder_nn.silu_times's bits as numpy runs it on arrays, within
    SWIGLU_ULPS ulps of float64 (plus |gate * up| times float32's smallest normal, where exp(gate) is below it and
    flushed), as numpy's swiglu_ (np.exp) is; gates from
    10^-6 to 10^4 and SiLU's edges; each row the same bits alone as in its batch."""
    from vectorize_cli.model.decoder_nn import silu_times, swiglu_

    gate_up = magnitudes(rng, (67, 2 * d_ff))
    flat = gate_up[:, :d_ff].reshape(-1)
    edges = SILU_EDGES[np.isfinite(SILU_EDGES) & (np.abs(SILU_EDGES) < 1e5)]  # up finite: no product overflows
    flat[rng.choice(flat.size, min(flat.size, edges.size), replace=False)] = edges[: flat.size]
    gate, up = gate_up[:, :d_ff].copy(), gate_up[:, d_ff:].copy()
    buf = gate_up.copy()
    ours = decoder_loops.swiglu_(buf, d_ff)
    assert np.shares_memory(ours, buf[:, d_ff:]) and ours.shape == up.shape  # the up half, as numpy's swiglu_
    assert ours.tobytes() == silu_times(gate, up).tobytes()
    assert_silu_bound(ours, gate, up)
    with np.errstate(over="ignore"):
        assert_silu_bound(swiglu_(gate_up.copy(), d_ff), gate, up)  # the bound is numpy's own too
    row = int(rng.integers(0, 67))
    assert decoder_loops.swiglu_(gate_up[row : row + 1].copy(), d_ff).tobytes() == ours[row : row + 1].tobytes()


def test_compiled_swiglu_edges_are_numpys(decoder_loops):
    """NaN in, NaN out; gate = +inf: up * inf; gate = -inf: NaN; every NaN and inf of numpy's swiglu_ is ours, but
    for an infinite up times a gate below exp_le0's floor (-87.68: exactly 0 there, where numpy's exp(-gate) is
    finite): NaN, not numpy's -inf * sign; the finite outputs within SWIGLU_ULPS of float64; signed zeros."""
    from vectorize_cli.model.decoder_nn import swiglu_

    gate = np.repeat(SILU_EDGES, 4)
    up = np.tile(np.array([1.0, -2.0, np.inf, np.nan], np.float32), SILU_EDGES.size)
    with np.errstate(all="ignore"):
        ours = decoder_loops.swiglu_(np.concatenate([gate, up])[None], gate.size)[0]  # one row [gate | up]
        numpy_path = swiglu_(np.concatenate([gate, up])[None], gate.size)[0]
    floor = np.isinf(up) & (gate <= -87.68) & np.isfinite(gate)
    assert np.array_equal(np.isnan(ours), np.isnan(numpy_path) | floor)
    inf = np.isinf(numpy_path) & ~floor
    assert np.array_equal(ours[inf], numpy_path[inf]) and not np.isinf(ours[~inf]).any()
    finite = np.isfinite(numpy_path) & np.isfinite(gate) & np.isfinite(up)
    assert_silu_bound(ours[finite], gate[finite], up[finite])
    assert np.signbit(ours[(gate == 0) & (up == 1)]).tolist() == [False, True]  # 0 * 1, -0 * 1
    with pytest.raises(TypeError):
        decoder_loops.swiglu_(np.zeros((3, 10), np.float32), 4)  # rows of 10, not 2 d_ff


def rms_norm64(x: np.ndarray, g: np.ndarray, eps: float) -> np.ndarray:
    x = x.astype(np.float64)
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * g


def assert_rms_bound(got: np.ndarray, x: np.ndarray, g: np.ndarray, eps: float) -> None:
    from vectorize_cli.compiled_decoder import RMS_NORM_ULPS

    ref = rms_norm64(x, g, eps)
    bound = RMS_NORM_ULPS * np.spacing(np.abs(ref).astype(np.float32)) + TINY
    assert (np.abs(got - ref) <= bound).all(), (np.abs(got - ref) / bound).max()


@pytest.mark.parametrize("d", [1024, 48, 64, 7, 129, 3000])
def test_compiled_add_rms_norm_adds_numpys_bits_and_norms_within_its_bound(decoder_loops, rng, d):
    """x = y + r in place of y (numpy's bits), h = RMSNorm(x) g within RMS_NORM_ULPS ulps of float64 (plus float32's
    smallest normal), as numpy's rms_norm (np.vecdot, BLAS's order) is; r None: y left as it is; rows of 10^-6
    .. 10^4; a row alone the same bits as in its batch; the residual r is not written."""
    from vectorize_cli.model.decoder_nn import rms_norm

    y, r = magnitudes(rng, (131, d)), magnitudes(rng, (131, d))
    g = (1 + 0.2 * rng.standard_normal(d)).astype(np.float32)
    r_before = r.copy()
    x, h = decoder_loops.add_rms_norm_(y.copy(), r, g, 1e-6)
    numpy_x = y + r
    assert x.tobytes() == numpy_x.tobytes() and r.tobytes() == r_before.tobytes()
    assert_rms_bound(h, numpy_x, g, 1e-6)
    assert_rms_bound(rms_norm(numpy_x, g, 1e-6), numpy_x, g, 1e-6)  # the bound is numpy's own too
    same, alone = y.copy(), decoder_loops.add_rms_norm_(y.copy(), None, g, 1e-6)[1]
    assert decoder_loops.add_rms_norm_(same, None, g, 1e-6)[0].tobytes() == y.tobytes()  # no r: y untouched
    assert_rms_bound(alone, y, g, 1e-6)
    row = int(rng.integers(0, 131))
    assert decoder_loops.add_rms_norm_(y[row : row + 1].copy(), r[row : row + 1], g, 1e-6)[1].tobytes() == \
        h[row : row + 1].tobytes()


def test_compiled_rms_norm_is_numpys_formula_in_numpys_pairwise_order(decoder_loops, rng):
    """The loop's h is, bit for bit, RMSNorm's formula as numpy computes it with its own pairwise row sum:
    x = y + r, h = x (1 / sqrt(sum(x * x) / d + eps)) g, every step float32 (numba_pairwise.squared_sum: the add
    and the sum of squares in one pass, 8 lanes a vector): row lengths across the leaves' edges (below 8, a block
    of 128 and the halves' cuts above it) and random ones, rows with a NaN, an inf, squares past float32's range."""
    lengths = [*range(1, 18), 127, 128, 129, 135, 255, 256, 257, 263, 1024, 1031, *rng.integers(1, 5000, 6)]
    for d in map(int, lengths):
        y, r = magnitudes(rng, (6, d)), magnitudes(rng, (6, d))
        y[1, rng.integers(d)], y[2, rng.integers(d)], y[3] = np.nan, np.inf, 3e19
        g = (1 + 0.2 * rng.standard_normal(d)).astype(np.float32)
        for res in (r, None):
            with np.errstate(invalid="ignore", over="ignore"):
                x, h = decoder_loops.add_rms_norm_(y.copy(), res, g, 1e-6)
                want_x = y if res is None else y + res
                inv = np.float32(1) / np.sqrt((want_x * want_x).sum(-1, keepdims=True) / np.float32(d)
                                              + np.float32(1e-6))
            assert x.tobytes() == want_x.tobytes(), d
            assert h.tobytes() == (want_x * inv * g).tobytes(), (d, res is None)


def test_compiled_add_rms_norm_edges_are_numpys(decoder_loops):
    """A NaN in a row: the row NaN; an inf: NaN there and 0 beside it (1 / sqrt(inf) = 0), as numpy's; a row of
    zeros: 0; squares below float32's range (eps alone): as numpy's to rounding; layouts it would misread:
    TypeError."""
    from vectorize_cli.model.decoder_nn import rms_norm

    y = np.array([[1.0, np.nan, 2.0, 3.0], [1.0, np.inf, -2.0, 3.0], [0.0, 0.0, 0.0, 0.0], [1e-30, -1e-30, 0, 3e-38]],
                 np.float32)
    g = np.array([1.0, -2.0, 0.5, 3.0], np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        _, h = decoder_loops.add_rms_norm_(y.copy(), None, g, 1e-6)
        want = rms_norm(y, g, 1e-6)
    assert np.array_equal(np.isnan(h), np.isnan(want)) and np.array_equal(h[2], want[2])
    np.testing.assert_allclose(h, want, rtol=2e-6, atol=0)  # NaN where numpy's is; 1/sqrt is not numpy's power
    with pytest.raises(TypeError):
        decoder_loops.add_rms_norm_(y, y, g, 1e-6)  # the residual is y
    with pytest.raises(TypeError):
        decoder_loops.add_rms_norm_(y, np.zeros((4, 4)), g, 1e-6)  # float64
    with pytest.raises(TypeError):
        decoder_loops.add_rms_norm_(y, None, g[:3].copy(), 1e-6)  # a gain of another width


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
