"""The plain (standard library) JSON writer gives exactly the bytes orjson gives, so the fast path
changes nothing but the speed."""

import json

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import plainjson
from vectorize_cli import example
from vectorize_cli.config import Config
from vectorize_cli.pipelines.toy import trace as run
from vectorize_cli.views.json import dumps, toy_record as record


def fast(obj, pretty=False) -> bytes:
    return dumps(obj, pretty)


@pytest.mark.parametrize("pretty", [False, True])
def test_records_are_byte_identical(pretty):
    variants = ("additive", "scaled-dot", "self", "multi-head", "flash")
    for config in (Config(attention=variants), Config(attention=variants, causal=True, concat=True, pool="none")):
        rec = record(run('Hello, "wörld" \\ \x01\t 😀 我和同桌 It\'s 1e-9!', config))
        assert plainjson.dumps(rec, pretty) == fast(rec, pretty)
    ex = example.record(example.build())
    assert plainjson.dumps(ex, pretty) == fast(ex, pretty)


finite32 = hnp.arrays(np.float32, hnp.array_shapes(max_dims=3, max_side=5),
                      elements=st.floats(width=32, allow_nan=False, allow_infinity=False))
finite64 = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(a32=finite32, f64=st.lists(finite64, max_size=8), text=st.text(), n=st.integers(-2**63, 2**63 - 1),
       pretty=st.booleans())
def test_random_values_are_byte_identical(a32, f64, text, n, pretty):
    obj = {"a32": a32, "f64": f64, "f64_array": np.array(f64, dtype=np.float64), "text": text, "n": n,
           "scalar32": a32.reshape(-1)[0] if a32.size else None, "flags": [True, False, None], "empty": {}}
    assert plainjson.dumps(obj, pretty) == fast(obj, pretty)


def test_every_float32_layout():
    """Around each switch between positional and scientific notation, both signs, zero and subnormals."""
    values = [0.0, -0.0, 1e-45, -3.4028235e38, 1.0, 0.1]
    for e in range(-46, 39):
        for m in (1.0, 9.999999, 1.2345678, 5.0):
            values += [m * 10.0**e, -m * 10.0**e]
    with np.errstate(over="ignore"):
        a = np.array(values, dtype=np.float32)
    a = a[np.isfinite(a)]
    assert plainjson.dumps(a) == orjson.dumps(a, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE)
    back = np.array(json.loads(plainjson.dumps(a)), dtype=np.float32)  # and it reads back to the same float32s
    np.testing.assert_array_equal(back, a)
    assert (np.signbit(back) == np.signbit(a)).all()
