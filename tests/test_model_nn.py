"""The model's pointwise math (erf, GELU, LayerNorm) against math.erf and torch (the compiled loops:
test_compiled.py), pooling a padded batch against pooling each sentence alone, and the kernels'
key mask: masking keys is the same as leaving them out."""

import math

import numpy as np
import pytest

from vectorize_cli.attention.kernels import explicit_attention, flash_attention
from vectorize_cli.model.nn import CHUNK, erf_, gelu_, layer_norm_
from vectorize_cli.pooling import POOLING, l2_normalize

GRID = np.concatenate([np.linspace(-8, 8, 200_001), [0.0, -0.0, 1e-30, -1e-30, 5e-8, 1e3, -1e3]])


def test_erf_is_within_its_bound_of_math_erf():
    x32 = GRID.astype(np.float32)
    exact32 = np.array([math.erf(x) for x in x32.astype(np.float64)])
    err = np.abs(erf_(x32.copy()).astype(np.float64) - exact32)
    assert err.max() <= 7e-7  # A&S 7.1.26's 1.5e-7, float32 rounding on top
    assert erf_(x32.copy()).dtype == np.float32
    with pytest.raises(TypeError, match="float32"):  # written for the model's dtype: no silent float64 path
        erf_(GRID.copy())


def exact_gelu(x: np.ndarray) -> np.ndarray:
    """GELU in float64 with math.erf: the reference no formula of ours is in."""
    x = np.asarray(x, dtype=np.float64)
    return x * 0.5 * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


# values where each step of the formula changes regime: zeros, tiny and subnormal inputs, the clamp of
# |x| / sqrt 2 at 4, where exp's k changes (-z^2 / ln 2 - 1/2 an integer), saturation, inf and NaN
EDGES = np.array([0.0, -0.0, 1e-30, -1e-30, 1e-45, -1e-45, 4 * math.sqrt(2), -4 * math.sqrt(2),
                  *[s * math.sqrt(2 * math.log(2) * (k + 0.5)) for k in range(0, 23) for s in (1, -1)],
                  5.0, -5.0, 6.0, -6.0, 10.0, -10.0, 100.0, -100.0, 3e38, -3e38, np.inf, -np.inf, np.nan],
                 dtype=np.float32)


def gelu_inputs(rng) -> np.ndarray:
    """(B*T, d_ff)-like float32: several CHUNKs of N(0, 3), some wider values, and EDGES with their neighbours."""
    x = rng.normal(0, 3, size=3 * CHUNK + 1001).astype(np.float32)
    x[:5000] = rng.uniform(-12, 12, size=5000)
    edges = np.concatenate([EDGES, np.nextafter(EDGES, np.float32(np.inf)), np.nextafter(EDGES, np.float32(-np.inf))])
    x[5000 : 5000 + edges.size] = edges
    return x


def test_erf_is_odd_bounded_and_handles_edges():
    x = np.linspace(0, 6, 10_001, dtype=np.float32)
    np.testing.assert_array_equal(erf_(-x), -erf_(x.copy()))
    y = erf_(np.array([np.inf, -np.inf, np.nan, 0.0], dtype=np.float32))
    assert y[0] == 1 and y[1] == -1 and np.isnan(y[2]) and y[3] == 0
    big = np.random.default_rng(0).normal(0, 3, size=3 * CHUNK + 17).astype(np.float32)  # several chunks
    np.testing.assert_array_equal(erf_(big.copy()), np.concatenate([erf_(big[:CHUNK].copy()), erf_(big[CHUNK:].copy())]))
    assert np.abs(erf_(big.copy()) - np.array([math.erf(v) for v in big.astype(np.float64)])).max() <= 7e-7


@pytest.mark.parametrize("path", ["numpy", "compiled"])
def test_gelu_and_layer_norm_match_torch(path):
    torch = pytest.importorskip("torch")
    loop = None  # numpy's chunks
    if path == "compiled":
        pytest.importorskip("numba")
        from vectorize_cli import compiled
        from vectorize_cli.backend import Backend

        loop = compiled.loops(Backend("numpy", "cpu", "float32", compiled="always"), True).gelu_
    x = np.random.default_rng(1).normal(0, 3, size=(64, 384)).astype(np.float32)
    t = torch.from_numpy(x)
    ref = torch.nn.functional.gelu(t).numpy()
    np.testing.assert_allclose(gelu_(x.copy(), loop), ref, atol=2e-6)
    big = np.random.default_rng(2).normal(0, 3, size=(3 * CHUNK // 1536 + 5, 1536)).astype(np.float32)  # chunks
    inplace = big.copy()
    assert gelu_(inplace, loop) is inplace  # in place: no second (B*T, d_ff) array
    np.testing.assert_allclose(inplace, torch.nn.functional.gelu(torch.from_numpy(big)).numpy(), atol=2e-6)
    g, b = np.linspace(0.5, 2, 384, dtype=np.float32), np.linspace(-1, 1, 384, dtype=np.float32)
    ref = torch.nn.functional.layer_norm(t, (384,), torch.from_numpy(g), torch.from_numpy(b), 1e-12).numpy()
    inplace = x.copy()
    assert layer_norm_(inplace, g, b, 1e-12) is inplace  # in place: no second (B*T, d) array
    np.testing.assert_allclose(inplace, ref, atol=1e-5)



def test_gelu_is_within_its_bound_of_exact_gelu(rng):
    x = gelu_inputs(rng)  # through numpy's chunks (the compiled loop: the same bits, test_compiled.py)
    finite = np.isfinite(x) & (np.abs(x) < 1e30)
    got = gelu_(x.copy())
    assert np.abs(got[finite] - exact_gelu(x[finite])).max() <= 5e-7  # |x| / 2 * 1.5e-7 and float32 steps
    assert np.isnan(got[np.isnan(x)]).all() and got[x == np.inf].tolist() == [np.inf] * int((x == np.inf).sum())
    assert np.isnan(got[x == -np.inf]).all()  # -inf * Phi(-inf) = -inf * 0, as torch gives
    with pytest.raises(TypeError, match="contiguous"):
        gelu_(np.zeros((8, 8), dtype=np.float32)[:, ::2])  # in place on a copy would lose the result


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_on_torch_gelu_and_layer_norm_are_the_numpy_formulas_rounded_once(dtype, rng):
    """On torch tensors nn.py runs torch's kernels: the same numbers as the numpy formulas evaluated in
    float64, up to one rounding of the output to the tensor's dtype (the sums kept in float32)."""
    torch = pytest.importorskip("torch")
    x = rng.normal(0, 3, size=(48, 384)) + rng.normal(0, 2, size=(48, 1))  # rows off-centre: LayerNorm's mean matters
    g, b = rng.uniform(0.5, 2, size=384), rng.uniform(-1, 1, size=384)
    half = getattr(torch, dtype)
    t, tg, tb = (torch.from_numpy(a).to(half) for a in (x, g, b))
    xs, gs, bs = (a.double().numpy() for a in (t, tg, tb))  # the inputs as the tensor holds them
    step = {"float32": 2**-24, "bfloat16": 2**-8, "float16": 2**-11}[dtype]  # half an ulp, relative
    for got, want in ((layer_norm_(t, tg, tb, 1e-12), layer_norm_(xs.copy(), gs, bs, 1e-12)),
                      (gelu_(t.clone()), exact_gelu(xs))):
        assert got.dtype == half and got.shape == t.shape
        err = np.abs(got.double().numpy() - want)
        assert (err <= step * np.abs(want) + 1e-5).all(), err.max()  # 1e-5: float32 arithmetic inside


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("name", ["mean", "max", "first"])
def test_pooling_a_padded_batch_is_pooling_each_sentence_alone(name, backend, rng):
    B, T, d = 9, 13, 24
    n = rng.integers(1, T + 1, size=B)  # real tokens per sentence
    n[0] = T
    real = np.arange(T)[None, :] < n[:, None]  # (B, T)
    y = rng.normal(0, 3, size=(B, T, d)).astype(np.float32)
    y[~real] = rng.normal(0, 1e6, size=((~real).sum(), d))  # padding holds anything: it must not count
    reference = {"mean": lambda s: s.astype(np.float64).mean(0), "max": lambda s: s.max(0), "first": lambda s: s[0]}
    expected = np.stack([reference[name](y[b, : n[b]]) for b in range(B)])  # float64 for the mean
    alone = np.stack([POOLING[name](y[b, : n[b]]) for b in range(B)])  # numpy, one sentence at a time
    np.testing.assert_allclose(alone, expected, rtol=1e-6, atol=1e-6)
    if backend == "numpy":
        batched = POOLING[name](y, real)
    else:
        torch = pytest.importorskip("torch")
        batched = POOLING[name](torch.from_numpy(y), torch.from_numpy(real)).numpy()
    assert batched.dtype == np.float32 and batched.shape == (B, d)
    np.testing.assert_allclose(batched, alone, rtol=1e-6, atol=1e-6)
    unit = l2_normalize(batched)
    np.testing.assert_allclose(unit, expected / np.linalg.norm(expected, axis=1, keepdims=True), atol=1e-6)
    if backend == "torch":
        ref = torch.nn.functional.normalize(torch.from_numpy(batched), dim=-1).numpy()
        np.testing.assert_allclose(l2_normalize(torch.from_numpy(batched)).numpy(), ref, atol=1e-7)


@pytest.mark.parametrize("kernel", [explicit_attention, flash_attention])
def test_masked_keys_are_the_same_as_absent_keys(kernel, rng):
    """Padding a sentence with masked keys changes nothing about its real queries."""
    H, T, pad, hs = 3, 7, 5, 4
    q, k, v = (rng.normal(size=(H, T + pad, hs)).astype(np.float32) for _ in range(3))
    mask = np.zeros((H, 1, T + pad), dtype=bool)
    mask[..., T:] = True
    y_pad, _ = kernel(q, k, v, block_size=3, key_mask=mask)
    y, _ = kernel(q[:, :T], k[:, :T], v[:, :T], block_size=3)
    np.testing.assert_allclose(y_pad[:, :T], y, atol=1e-6)
    _, att = explicit_attention(q, k, v, key_mask=mask)
    assert (att[..., T:] == 0).all()
