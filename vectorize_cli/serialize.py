"""JSON records: the contract documented in README.md ("JSON output"), versioned by SCHEMA_VERSION.

Numbers are written straight from the numpy arrays: float32 values in their shortest form that
reads back to the same float32, so anyone can recompute every output from the record. orjson
writes them (about 100x faster than a Python loop can); plainjson.py writes the same bytes with
the standard library, when orjson is missing or VECTORIZE_JSON=plain asks for it.
"""

import os

import numpy as np

try:
    import orjson
except ImportError:  # the plain writer gives the same bytes, slower
    orjson = None

from vectorize_cli.compare import differences
from vectorize_cli.result import AttentionResult, Result

SCHEMA_VERSION = 2  # bump on any change a consumer could notice; document it in README.md


def attention_record(a: AttentionResult) -> dict:
    return {
        "variant": a.variant,
        "weights": a.weights,  # (H, T, T) or None
        "output": a.output,  # (T, d_out)
        "params": a.params,
        "sentence_vector": a.sentence_vector,
        "backend": a.backend,
        "device": a.device,
        "dtype": a.dtype,
        "kernel": a.kernel,
        "notes": list(a.notes),
        "explicit_max_abs_delta": a.explicit_max_abs_delta,
        "reference_max_abs_delta": a.reference_max_abs_delta,
    }


def record(result: Result, omit: tuple[str, ...] = ()) -> dict:
    """One sentence's record (see README.md for every field); `omit` leaves big fields out and says so."""
    rec = {
        "schema_version": SCHEMA_VERSION,
        "text": result.text,
        "config": result.config.to_dict(),
        "tokens": result.tokens,
        "embedding": result.embedding,
        "positional": result.positional,
        "encoded": result.encoded,
        "attention": [attention_record(a) for a in result.attention],
    }
    if len(result.attention) > 1:
        rec["comparison"] = differences(result.attention)
    if omit:
        for name in omit:
            rec.pop(name, None)
            for a in rec["attention"]:
                a.pop(name, None)
        rec["omitted"] = list(omit)
    return rec


def _default(obj):
    if isinstance(obj, np.ndarray):  # non-contiguous views orjson does not take directly
        return np.ascontiguousarray(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def dumps(obj, pretty: bool = False) -> bytes:
    """JSON bytes, one line unless pretty (2-space indent), always ending in a newline."""
    if orjson is None or os.environ.get("VECTORIZE_JSON") == "plain":
        from vectorize_cli import plainjson

        return plainjson.dumps(obj, pretty)
    option = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE
    if pretty:
        option |= orjson.OPT_INDENT_2
    return orjson.dumps(obj, default=_default, option=option)
