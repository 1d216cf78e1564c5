"""The JSON contract: records validate against docs/json-schema.json, and every output can be
recomputed from the record alone (encoded + params) with an independent float64 implementation."""

import json

import jsonschema
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ROOT
from reference import POOL64, forward64
from vectorize_cli.attention.variants import VARIANTS as REGISTRY
from vectorize_cli.config import Config
from vectorize_cli.pipelines.toy import trace as run
from vectorize_cli.views.json import SCHEMA_VERSION, dumps, toy_record as record

SCHEMA = json.loads((ROOT / "docs" / "json-schema.json").read_text())
VARIANTS = list(REGISTRY)


def _roundtrip(result) -> dict:
    return json.loads(dumps(record(result)))


def test_schema_version_is_documented():
    assert SCHEMA["properties"]["schema_version"]["const"] == SCHEMA_VERSION
    readme = (ROOT / "README.md").read_text()
    assert f'"schema_version": {SCHEMA_VERSION}' in readme


def _check_recomputable(rec: dict) -> None:
    c = rec["config"]
    encoded = np.array(rec["encoded"], dtype=np.float64)
    np.testing.assert_allclose(encoded, np.add(rec["embedding"], rec["positional"]), atol=1e-6)
    assert len(rec["tokens"]) == encoded.shape[0]
    for a in rec["attention"]:
        y64, att64 = forward64(a["variant"], encoded, a["params"], c["heads"], c["causal"])
        np.testing.assert_allclose(a["output"], y64, atol=5e-5, rtol=1e-4)
        if a["weights"] is not None:
            np.testing.assert_allclose(a["weights"], att64, atol=1e-6)
        pooled = POOL64[c["pool"]](np.array(a["output"], dtype=np.float64))
        if pooled is None:
            assert a["sentence_vector"] is None
        else:
            np.testing.assert_allclose(a["sentence_vector"], pooled, atol=1e-5)


@pytest.mark.parametrize("concat", [False, True])
@pytest.mark.parametrize("causal", [False, True])
def test_every_variant_recomputes_from_its_record(causal, concat):
    config = Config(dim=12, heads=3, attention=tuple(VARIANTS), causal=causal, concat=concat, pool="max")
    rec = _roundtrip(run("The cat sat on the mat, didn't it?", config))
    jsonschema.validate(rec, SCHEMA)
    assert [a["variant"] for a in rec["attention"]] == VARIANTS
    assert len(rec["comparison"]) == len(VARIANTS) * (len(VARIANTS) - 1) // 2
    _check_recomputable(rec)


def test_params_layout_is_documented_shape():
    rec = _roundtrip(run("one two three", Config(dim=6, heads=2, head_dim=4, attention=tuple(VARIANTS))))
    shapes = {a["variant"]: {k: np.shape(v) for k, v in a["params"].items()} for a in rec["attention"]}
    assert shapes["additive"] == {"w_q": (6, 6), "w_k": (6, 6), "v": (6,)}
    assert shapes["scaled-dot"] == {}
    assert shapes["self"] == {"w_q": (6, 6), "w_k": (6, 6), "w_v": (6, 6)}
    assert shapes["multi-head"] == shapes["flash"] == {"w_q": (6, 8), "w_k": (6, 8), "w_v": (6, 8), "w_o": (8, 6)}
    weights = {a["variant"]: None if a["weights"] is None else np.shape(a["weights"]) for a in rec["attention"]}
    assert weights == {"additive": (1, 3, 3), "scaled-dot": (1, 3, 3), "self": (1, 3, 3),
                       "multi-head": (2, 3, 3), "flash": None}


def test_float32_values_round_trip_exactly():
    result = run("exact numbers please", Config(attention=("multi-head",)))
    rec = _roundtrip(result)
    np.testing.assert_array_equal(np.array(rec["encoded"], dtype=np.float32), result.stage("encoded"))
    np.testing.assert_array_equal(np.array(rec["attention"][0]["output"], dtype=np.float32), result.blocks[0].output)


def test_same_input_gives_byte_identical_json():
    config = Config(attention=("additive", "flash"), positional="learned")
    assert dumps(record(run("déjà vu, again", config))) == dumps(record(run("déjà vu, again", config)))


@settings(max_examples=25, deadline=None)
@given(
    text=st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40).filter(
        lambda t: any(c.isalnum() for c in t)),
    variant=st.sampled_from(VARIANTS),
    dim=st.integers(1, 9),
    heads=st.integers(1, 3),
    head_dim=st.integers(1, 5),
    causal=st.booleans(),
    concat=st.booleans(),
    pool=st.sampled_from(list(POOL64)),
    positional=st.sampled_from(["sinusoidal", "learned", "linear", "none"]),
    tokenizer=st.sampled_from(["word", "whitespace", "char"]),
    seed=st.integers(-2**31, 2**31),
)
def test_random_text_and_options_give_valid_recomputable_records(text, variant, dim, heads, head_dim, causal,
                                                                   concat, pool, positional, tokenizer, seed):
    config = Config(dim=dim, heads=heads, head_dim=head_dim, attention=(variant,), causal=causal, concat=concat,
                    pool=pool, positional=positional, tokenizer=tokenizer, seed=seed, block_size=3)
    rec = _roundtrip(run(text, config))
    jsonschema.validate(rec, SCHEMA)
    _check_recomputable(rec)


def test_omit_leaves_big_fields_out_and_says_so():
    result = run("leave the weights out", Config(attention=("multi-head", "flash")))
    rec = json.loads(dumps(record(result, ("params", "weights", "embedding"))))
    jsonschema.validate(rec, SCHEMA)
    assert rec["omitted"] == ["params", "weights", "embedding"]
    assert "embedding" not in rec and "encoded" in rec
    assert all("params" not in a and "weights" not in a and "output" in a for a in rec["attention"])
    assert "omitted" not in json.loads(dumps(record(result)))
