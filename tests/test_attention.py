"""Each attention variant against independent references: torch (F.scaled_dot_product_attention,
nn.MultiheadAttention loaded with the same weights) and float64 loops, on fixed and fresh random inputs."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from reference import attention64, forward64
from vectorize_cli.attention.variants import VARIANTS
from vectorize_cli.attention.kernels import explicit_attention, flash_attention, softmax_
from vectorize_cli.config import Config
from vectorize_cli.pipelines.toy import attend

LENGTHS = [1, 2, 7, 63, 64, 65, 130]


@pytest.fixture(params=["numpy exp", "compiled exp"])
def exp_path(request, monkeypatch):
    """numpy flash's exp step: numpy's exp (None), or the compiled exp_le0 loop (compiled.py, where numba is
    installed), as dispatch.tiled passes it with VECTORIZE_COMPILED=1 (flash runs it for long inputs): both
    must give these tests' numbers. The compiled one is checked to have run."""
    if request.param == "numpy exp":
        yield None
        return
    pytest.importorskip("numba")
    from vectorize_cli import compiled
    from vectorize_cli.backend import resolve

    monkeypatch.setenv("VECTORIZE_COMPILED", "1")  # whatever the size (the tests' inputs are small)
    exp = compiled.flash_exp(resolve("numpy", "cpu", "float32"), np.float32, scores=1)
    calls = []
    yield lambda *a: calls.append(1) or exp(*a)
    assert calls, "the compiled exp never ran"


def _qkv(rng, H, T, hs, scale=1.0):
    return [(rng.standard_normal((H, T, hs)) * scale).astype(np.float32) for _ in range(3)]


@pytest.mark.parametrize("T", LENGTHS)
@pytest.mark.parametrize("causal", [False, True])
def test_explicit_kernel_matches_torch_sdpa(rng, T, causal):
    q, k, v = _qkv(rng, 3, T, 16)
    y, att = explicit_attention(q, k, v, causal)
    ref = F.scaled_dot_product_attention(*(torch.from_numpy(a) for a in (q, k, v)), is_causal=causal)
    np.testing.assert_allclose(y, ref.numpy(), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(att.sum(-1), 1.0, atol=1e-5)


@pytest.mark.parametrize("T", LENGTHS + [200])
@pytest.mark.parametrize("block_size", [1, 4, 64])
@pytest.mark.parametrize("causal", [False, True])
def test_flash_kernel_matches_explicit_and_float64(rng, T, block_size, causal, exp_path):
    q, k, v = _qkv(rng, 2, T, 8)
    y_flash, att = flash_attention(q, k, v, causal, block_size, exp_step=exp_path)
    y_explicit, _ = explicit_attention(q, k, v, causal)
    assert att is None  # never materialised
    np.testing.assert_allclose(y_flash, y_explicit, atol=1e-5, rtol=1e-5)
    y64 = np.stack([attention64(q[h], k[h], v[h], causal)[0] for h in range(2)])
    np.testing.assert_allclose(y_flash, y64, atol=1e-5, rtol=1e-5)


def test_flash_matches_torch_sdpa_on_a_long_causal_sequence(rng, exp_path):
    q, k, v = _qkv(rng, 4, 1000, 32)
    y, _ = flash_attention(q, k, v, True, 128, exp_step=exp_path)
    ref = F.scaled_dot_product_attention(*(torch.from_numpy(a) for a in (q, k, v)), is_causal=True)
    np.testing.assert_allclose(y, ref.numpy(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("scale", [1e4, 1e2, 1e-8])
def test_explicit_kernel_is_stable_for_huge_and_tiny_inputs(rng, scale):
    check_stable(explicit_attention, rng, scale)


@pytest.mark.parametrize("scale", [1e4, 1e2, 1e-8])
def test_flash_kernel_is_stable_for_huge_and_tiny_inputs(rng, scale, exp_path):
    check_stable(flash_attention, rng, scale, exp_path)


def check_stable(kernel, rng, scale, exp_step=None):
    q, k, v = _qkv(rng, 2, 33, 8, scale)
    for causal in (False, True):
        y, _ = kernel(q, k, v, causal, 8, exp_step=exp_step) if kernel is flash_attention else kernel(q, k, v, causal)
        assert np.isfinite(y).all()
        ref = F.scaled_dot_product_attention(*(torch.from_numpy(a).double() for a in (q, k, v)), is_causal=causal)
        # float32 scores carry an absolute error of about eps * sum_i |q_i k_i| / sqrt(hs); near-tied scores pass it
        # on to the weights, and the weights to the output in units of |v|. That, with margin, is the tolerance.
        score_error = np.finfo(np.float32).eps * (np.abs(q) @ np.abs(k).swapaxes(-1, -2)).max() / np.sqrt(8)
        atol = 1e-5 * scale + 4 * score_error * np.abs(v).max()
        np.testing.assert_allclose(y, ref.numpy(), rtol=1e-4, atol=atol)


def test_softmax_is_stable_and_masks_exactly():
    s = np.array([[1e4, -1e4, 0.0, -np.inf], [1e30, 1e30, -1e30, 0.0]], dtype=np.float32)
    p = softmax_(s)
    assert p is s  # in place
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(-1), 1.0)
    assert p[0, 3] == 0.0 and p[0, 0] == 1.0
    np.testing.assert_allclose(p[1], [0.5, 0.5, 0.0, 0.0])
    np.testing.assert_allclose(softmax_(np.array([1.0, 2.0, 3.0])), np.exp([1, 2, 3]) / np.exp([1, 2, 3]).sum())


def _encoded(rng, T, d, scale=1.0):
    return (rng.standard_normal((T, d)) * scale).astype(np.float32)


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("T", [1, 2, 9])
def test_every_variant_matches_its_float64_reference(rng, variant, causal, T):
    config = Config(dim=12, heads=3, attention=(variant,), causal=causal, block_size=4, seed=int(rng.integers(1000)))
    x = _encoded(rng, T, 12)
    a = attend(variant, x, config)
    y64, att64 = forward64(variant, x, a.params, config.heads, causal)
    np.testing.assert_allclose(a.output, y64, atol=2e-5, rtol=1e-4)
    if a.weights is not None:
        np.testing.assert_allclose(a.weights, att64, atol=1e-6)
        if causal:
            assert (np.triu(a.weights, k=1) == 0).all()


def test_multi_head_matches_torch_multihead_attention_with_the_same_weights(rng):
    d, H, T = 16, 4, 11
    for causal in (False, True):
        config = Config(dim=d, heads=H, causal=causal)
        x = _encoded(rng, T, d)
        a = attend("multi-head", x, config)
        p = a.params
        mha = torch.nn.MultiheadAttention(d, H, bias=False, batch_first=True)
        with torch.no_grad():  # torch stores W as (out, in): ours transposed
            mha.in_proj_weight.copy_(torch.from_numpy(np.concatenate([p["w_q"].T, p["w_k"].T, p["w_v"].T])))
            mha.out_proj.weight.copy_(torch.from_numpy(p["w_o"].T))
        xt = torch.from_numpy(x)[None]
        mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1) if causal else None
        y, att = mha(xt, xt, xt, attn_mask=mask, need_weights=True, average_attn_weights=False)
        np.testing.assert_allclose(a.output, y[0].detach().numpy(), atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(a.weights, att[0].detach().numpy(), atol=1e-6)


@pytest.mark.parametrize("variant", ["scaled-dot", "self"])
def test_single_head_variants_match_torch_sdpa(rng, variant):
    x = _encoded(rng, 10, 8)
    config = Config(dim=8, heads=2)
    a = attend(variant, x, config)
    p = {k: torch.from_numpy(v) for k, v in a.params.items()}
    xt = torch.from_numpy(x)
    q, k, v = (xt @ p["w_q"], xt @ p["w_k"], xt @ p["w_v"]) if p else (xt, xt, xt)
    ref = F.scaled_dot_product_attention(q[None], k[None], v[None])[0]
    np.testing.assert_allclose(a.output, ref.numpy(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("concat", [False, True])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("T", [1, 2, 7, 63, 64, 65, 200])
def test_flash_equals_multi_head_with_the_same_parameters(rng, concat, causal, T):
    config = Config(dim=16, heads=4, head_dim=5, concat=concat, causal=causal, block_size=64)
    x = _encoded(rng, T, 16)
    mh, fl = attend("multi-head", x, config), attend("flash", x, config)
    assert mh.params is fl.params
    assert fl.weights is None
    np.testing.assert_allclose(fl.output, mh.output, atol=1e-5, rtol=1e-5)
    assert fl.output.shape == (T, 20 if concat else 16)


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("scale", [1e4, 1e-8])
def test_no_nan_or_inf_for_huge_or_tiny_inputs(rng, variant, scale):
    x = _encoded(rng, 17, 8, scale)
    for causal in (False, True):
        a = attend(variant, x, Config(dim=8, heads=2, causal=causal, block_size=4))
        assert np.isfinite(a.output).all() and np.isfinite(a.sentence_vector).all()
        if a.weights is not None:
            assert np.isfinite(a.weights).all()
        if variant == "flash":  # and flash still agrees with multi-head there
            mh = attend("multi-head", x, Config(dim=8, heads=2, causal=causal))
            np.testing.assert_allclose(a.output, mh.output, rtol=1e-4, atol=1e-5 * scale)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_causal_output_of_a_token_ignores_later_tokens(rng, variant):
    config = Config(dim=8, heads=2, causal=True, block_size=3)
    x = _encoded(rng, 9, 8)
    changed = x.copy()
    changed[5:] = _encoded(rng, 4, 8)
    a, b = attend(variant, x, config), attend(variant, changed, config)
    np.testing.assert_allclose(a.output[:5], b.output[:5], atol=1e-6)
    assert np.abs(a.output[5:] - b.output[5:]).max() > 1e-3  # and the later ones do change


def test_parameters_are_deterministic_and_seeded():
    c0, c1 = Config(dim=8, heads=2, seed=0), Config(dim=8, heads=2, seed=1)
    p0 = VARIANTS["multi-head"].params(c0)
    p0_again = VARIANTS["multi-head"].params(Config(dim=8, heads=2, seed=0, pool="max"))
    p1 = VARIANTS["multi-head"].params(c1)
    for name in p0:
        np.testing.assert_array_equal(p0[name], p0_again[name])
        assert not np.allclose(p0[name], p1[name])
    assert p0["w_q"].shape == (8, 8) and p0["w_o"].shape == (8, 8)
    assert "w_o" not in VARIANTS["multi-head"].params(Config(dim=8, heads=2, concat=True))


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("T, block_size", [(1100, 256), (600, 64), (300, 8)])
def test_flash_tiles_of_one_head_and_of_head_groups_match_float64(rng, T, block_size, causal, exp_path):
    """Long texts run one head per task (2-D products), short ones groups of heads (kernels.flash_tiles);
    both, with a key mask and partial last tiles, against a float64 softmax computed here."""
    from vectorize_cli.attention.kernels import flash_tiles

    H, hs = 3, 16
    q, k, v = _qkv(rng, H, T, hs)
    hidden = rng.random(T) < 0.2
    hidden[0] = False  # every query keeps a key to see
    g, _, _ = flash_tiles(H, T, T, block_size)
    assert (g == 1) == (T == 1100)  # both paths are exercised
    y, _ = flash_attention(q, k, v, causal, block_size, key_mask=np.broadcast_to(hidden, (H, 1, T)), exp_step=exp_path)
    s = q.astype(np.float64) @ k.astype(np.float64).swapaxes(-1, -2) / np.sqrt(hs)  # (H, T, T)
    s[..., hidden] = -np.inf
    if causal:
        s[:, np.triu(np.ones((T, T), dtype=bool), 1)] = -np.inf
    w = np.exp(s - s.max(-1, keepdims=True))
    ref = (w / w.sum(-1, keepdims=True)) @ v.astype(np.float64)
    np.testing.assert_allclose(y, ref, atol=2e-6, rtol=1e-5)


def test_flash_takes_its_exp_by_the_input_size_alone(rng, monkeypatch):
    """The same input, the same bits in every process: below COMPILE_AT_SCORES flash runs numpy's exp even
    where an earlier call loaded the compiled one, from it the compiled one (VECTORIZE_COMPILED=0 / 1 force
    either, read once when the backend is resolved). The two differ in the last bits, so a path taken by
    history would change outputs."""
    pytest.importorskip("numba")
    from vectorize_cli import compiled
    from vectorize_cli.attention.dispatch import tiled
    from vectorize_cli.backend import resolve

    q, k, v = _qkv(rng, 2, 200, 16)
    monkeypatch.delenv("VECTORIZE_COMPILED", raising=False)
    auto = resolve("numpy", "cpu", "float32")
    assert compiled.loops(auto, worth_loading=True) is not None  # loaded in this process
    small = tiled(q, k, v, backend=auto)
    monkeypatch.setenv("VECTORIZE_COMPILED", "0")
    never = resolve("numpy", "cpu", "float32")
    numpy_exp = flash_attention(q, k, v)[0]
    monkeypatch.setenv("VECTORIZE_COMPILED", "1")
    always = resolve("numpy", "cpu", "float32")
    compiled_exp = tiled(q, k, v, backend=always).y
    monkeypatch.setenv("VECTORIZE_COMPILED", "0")  # read once, by resolve: the backends keep what they were told
    assert tiled(q, k, v, backend=always).op == "tiled-online-softmax+compiled-exp"
    monkeypatch.delenv("VECTORIZE_COMPILED")
    monkeypatch.setattr(compiled, "COMPILE_AT_SCORES", 2 * 200 * 200)  # this input is now big enough
    big = tiled(q, k, v, backend=auto)
    batched = tiled(q[None], k[None], v[None], backend=auto)  # (B, H, T, hs): the same scores, the same exp
    assert tiled(q, k, v, backend=never).op == "tiled-online-softmax"
    assert np.array_equal(small.y, numpy_exp) and np.array_equal(big.y, compiled_exp)
    assert np.array_equal(batched.y[0], compiled_exp)
    assert small.op == "tiled-online-softmax"  # the record says which exp ran
    assert big.op == batched.op == "tiled-online-softmax+compiled-exp"
    assert not np.array_equal(numpy_exp, compiled_exp)  # the two exps: close, not the same bits
    np.testing.assert_allclose(compiled_exp, numpy_exp, atol=1e-5, rtol=1e-5)  # float32 rounding, as above


def test_explicit_writes_a_batchs_y_with_the_heads_side_by_side(rng):
    """dispatch.explicit on a batch (B, H, T, hs) of strided heads (views of a qkv product, as a model's): y is a
    view of a (B, T, H, hs) array, so the next product's (B*T, H*hs) is a view too (no copy), and its numbers are
    att @ v's, bit for bit, and float64 attention's within float32 rounding."""
    from vectorize_cli.attention.dispatch import explicit

    B, H, T, hs = 3, 4, int(rng.integers(2, 40)), 8
    qkv = rng.standard_normal((B * T, 3 * H * hs), dtype=np.float32)
    q, k, v = (qkv[:, i * H * hs : (i + 1) * H * hs].reshape(B, T, H, hs).swapaxes(1, 2) for i in range(3))
    pad = np.arange(T)[None, :] >= np.array([T, T - 1, 1])[:, None]  # (B, T): padding of different lengths
    ran = explicit(q, k, v, key_mask=pad[:, None, None, :])
    heads = ran.y.swapaxes(1, 2).reshape(B * T, H * hs)
    assert ran.y.shape == (B, H, T, hs) and np.shares_memory(heads, ran.y)
    assert np.array_equal(ran.y, ran.att @ v)
    for b in range(B):
        n = T - int(pad[b].sum())  # the keys it may see: its own tokens
        for h in range(H):
            ref, _ = attention64(q[b, h], k[b, h, :n], v[b, h, :n], False)
            np.testing.assert_allclose(ran.y[b, h], ref, rtol=1e-5, atol=1e-6)
