"""Attention rollout and the head aggregates against float64 loops written here, independently."""

import numpy as np
import pytest

from vectorize_cli.attention.rollout import head_max, head_mean, rollout, rollouts


def softmax_rows(rng, H, T, scale=3.0):
    s = rng.normal(size=(H, T, T)) * scale
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def rollout_loop(layers):
    """Abnar & Zuidema 2020, element by element in float64: A' = 0.5 mean_h A + 0.5 I, rows renormalised;
    R_1 = A'_1, R_l = A'_l R_(l-1)."""
    T = layers[0].shape[-1]
    R = None
    for att in layers:
        H = att.shape[0]
        A = [[0.5 * sum(float(att[h, i, j]) for h in range(H)) / H + (0.5 if i == j else 0.0) for j in range(T)]
             for i in range(T)]
        A = [[a / sum(row) for a in row] for row in A]
        if R is None:
            R = A
        else:
            R = [[sum(A[i][m] * R[m][j] for m in range(T)) for j in range(T)] for i in range(T)]
    return np.array(R)


@pytest.mark.parametrize("L,H,T", [(1, 1, 1), (1, 3, 5), (2, 2, 4), (6, 12, 7), (4, 3, 16)])
def test_rollout_matches_an_independent_float64_loop(rng, L, H, T):
    layers = [softmax_rows(rng, H, T) for _ in range(L)]
    got = rollout(layers)
    assert got.dtype == np.float32 and got.shape == (T, T)
    np.testing.assert_allclose(got, rollout_loop(layers), rtol=0, atol=2e-7)


def test_rollouts_through_each_layer(rng):
    layers = [softmax_rows(rng, 3, 6) for _ in range(4)]
    for l, r in enumerate(rollouts(layers)):
        np.testing.assert_allclose(r, rollout_loop(layers[: l + 1]), atol=2e-7)


def test_rollout_order_is_first_layer_first(rng):
    a, b = softmax_rows(rng, 2, 6), softmax_rows(rng, 2, 6)
    ab = rollout([a, b])
    np.testing.assert_allclose(ab, rollout_loop([a, b]), atol=2e-7)
    assert not np.allclose(ab, rollout([b, a]), atol=1e-4)  # the order matters, and is the paper's


def test_rollout_properties(rng):
    layers = [softmax_rows(rng, 4, 9, scale=10) for _ in range(5)]
    r = rollout(layers).astype(np.float64)
    assert (r >= 0).all()
    np.testing.assert_allclose(r.sum(axis=-1), 1.0, atol=1e-6)
    eye = np.broadcast_to(np.eye(9, dtype=np.float32), (3, 9, 9))
    np.testing.assert_array_equal(rollout([eye, eye]), np.eye(9, dtype=np.float32))  # attention to self only
    uniform = np.full((2, 4, 4), 0.25, dtype=np.float32)  # one layer: 0.5/4 everywhere + 0.5 on the diagonal
    np.testing.assert_allclose(rollout([uniform]), 0.125 + 0.5 * np.eye(4), atol=1e-7)


def test_rollout_of_nothing_is_an_error():
    with pytest.raises(ValueError):
        rollout([])


def test_head_mean_and_max(rng):
    w = softmax_rows(rng, 5, 6)
    mean = np.array([[sum(float(w[h, i, j]) for h in range(5)) / 5 for j in range(6)] for i in range(6)])
    np.testing.assert_allclose(head_mean(w), mean, atol=1e-7)
    np.testing.assert_allclose(head_mean(w).sum(axis=-1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(head_max(w), np.array([[max(w[h, i, j] for h in range(5)) for j in range(6)]
                                                         for i in range(6)]))


def test_rollout_of_minilm(minilm):
    from vectorize_cli.pipelines.bert import trace as model_trace

    layers = [b.weights for b in model_trace(minilm, "Attention flows from layer to layer.").blocks]
    np.testing.assert_allclose(rollout(layers), rollout_loop(layers), atol=2e-7)


def test_rollout_and_token_tables(rng):
    """The terminal tables show the rollout and one token's weights, number for number."""
    from rich.console import Console

    from vectorize_cli.views.matrix import Renderer
    from vectorize_cli.trace import Block, Trace
    from vectorize_cli.views.attention_tables import rollout_table, token_tables

    T, H, L = 5, 3, 2
    layers = [softmax_rows(rng, H, T) for _ in range(L)]
    trace = Trace("t", [f"tok{i}" for i in range(T)], [], [Block("multi-head", w, np.zeros((T, 4)), layer=l + 1)
                                                           for l, w in enumerate(layers)], True)
    console = Console(record=True, width=200, color_system=None)
    r = Renderer(console, precision=4)
    console.print(rollout_table(r, trace))
    text = console.export_text()
    expect = rollout_loop(layers)
    for i in range(T):
        row = next(line.split() for line in text.splitlines() if line.split()[:2] == [str(i), f"tok{i}"])
        assert [float(x) for x in row[2:]] == pytest.approx(expect[i], abs=6e-5)
    q = int(rng.integers(T))
    for table in token_tables(r, trace, q):
        console.print(table)
    text = console.export_text()
    for l in range(L):
        assert f"layer {l + 1}: the weights of token {q} (tok{q})" in text
    rows = [line.split() for line in text.splitlines() if line.startswith("head ") and line.split()[1].isdigit()]
    got = np.array([[float(x) for x in row[2:]] for row in rows]).reshape(L, H, T)
    np.testing.assert_allclose(got, np.stack(layers)[:, :, q, :], atol=6e-5)


def test_the_model_schema_takes_the_rollout(minilm):
    import json
    from pathlib import Path

    jsonschema = pytest.importorskip("jsonschema")
    from vectorize_cli.pipelines.bert import trace
    from vectorize_cli.views.json import dumps, model_record

    t = trace(minilm, "The cat sat on the mat.")
    rec = model_record(t)
    rec["rollout"] = rollout([b.weights for b in t.blocks])
    schema = json.loads((Path(__file__).resolve().parents[1] / "docs" / "model-json-schema.json").read_text())
    back = json.loads(dumps(rec))
    jsonschema.validate(back, schema)
    np.testing.assert_allclose(back["rollout"], rollout_loop([b.weights for b in t.blocks]), atol=2e-7)
    back["rollout"] = "no"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(back, schema)


@pytest.mark.parametrize("dtype", [np.float16, "bfloat16"])
def test_rollout_of_half_precision_weights_renormalises_every_row(rng, dtype):
    """Weights a half-precision model gives: softmax rows rounded to float16 / bfloat16 sum to 1 only within their
    rounding (about 1e-3, 1e-2). The rollout renormalises each layer's rows, so its own rows still sum to 1 and it
    matches the float64 loop; without the renormalisation the error grows with every layer."""
    layers = [softmax_rows(rng, 12, 16) for _ in range(6)]
    if dtype == "bfloat16":
        torch = pytest.importorskip("torch")
        layers = [torch.from_numpy(w).to(torch.bfloat16).float().numpy() for w in layers]  # bfloat16's values
    else:
        layers = [w.astype(dtype) for w in layers]
    assert max(float(np.abs(w.astype(np.float64).mean(axis=0).sum(axis=-1) - 1).max()) for w in layers) > 1e-5
    r = rollout(layers)
    np.testing.assert_allclose(r.astype(np.float64).sum(axis=-1), 1.0, rtol=0, atol=1e-6)
    np.testing.assert_allclose(r, rollout_loop(layers), rtol=0, atol=2e-7)
