"""JSON records of a trace: the contract documented in README.md ("JSON output"), one schema
version per kind of record (schemas in docs/).

Numbers are written straight from the numpy arrays: float32 values in their shortest form that
reads back to the same float32, so anyone can recompute every output from the record. orjson
writes them (about 100x faster than a Python loop can; tests/plainjson.py is the standard-library
oracle the tests hold it to).
"""

import numpy as np
import orjson

from vectorize_cli.compare import differences
from vectorize_cli.errors import UsageError
from vectorize_cli.trace import Block, ModelInfo, Trace

# bump on any change a consumer could notice, and document it in README.md.
SCHEMA_VERSION = 2  # the toy pipeline's record; 2: backend, device, dtype, kernel, notes, deltas
MODEL_SCHEMA_VERSION = 4  # --model's; 2: config.kernel; 3: config.device, config.dtype, config.notes;
# 4: model.n_kv_head, model.causal; relative_position_bias (MPNet), rotary_angles (decoders); token types optional
SIMILARITY_SCHEMA_VERSION = 2  # 2: the model record of schema 4 (n_kv_head, causal)


def block_record(b: Block) -> dict:
    return {
        "variant": b.variant,
        "weights": b.weights,  # (H, T, T) or None
        "output": b.output,  # (T, d_out)
        "params": b.params,
        "sentence_vector": b.sentence_vector,
        "backend": b.ran.backend,
        "device": b.ran.device,
        "dtype": b.ran.dtype,
        "kernel": b.ran.op,
        "notes": list(b.ran.notes),
        "explicit_max_abs_delta": b.explicit_max_abs_delta,
        "reference_max_abs_delta": b.reference_max_abs_delta,
    }


def _omit(rec: dict, entries: str, omit: tuple[str, ...]) -> dict:
    """Leave big fields out, of the record and of each of its entries, and say so."""
    for name in omit:
        found = name in rec or any(name in entry for entry in rec[entries])
        rec.pop(name, None)
        for entry in rec[entries]:
            entry.pop(name, None)
        if not found:
            raise UsageError(f"--omit {name}: this record has no such field")
    rec["omitted"] = list(omit)
    return rec


def toy_record(t: Trace, omit: tuple[str, ...] = ()) -> dict:
    """One sentence's record (see README.md for every field)."""
    rec = {
        "schema_version": SCHEMA_VERSION,
        "text": t.text,
        "config": t.config.to_dict(),
        "tokens": t.tokens,
        **{s.key: s.values for s in t.stages},
        "attention": [block_record(b) for b in t.blocks],
    }
    if len(t.blocks) > 1:
        rec["comparison"] = differences(t.blocks)
    return _omit(rec, "attention", omit) if omit else rec


def model_record(t: Trace, layer: int | None = None, head: int | None = None, omit: tuple[str, ...] = (),
                 rollout: bool = False) -> dict:
    """A pretrained model's record ("kind": "model"): every layer, whatever `layer` and `head` the tables show;
    with rollout, the attention rollout through all of them (T, T)."""
    ran = t.blocks[0].ran
    rec = {
        "schema_version": MODEL_SCHEMA_VERSION,
        "kind": "model",
        "text": t.text,
        "model": t.model.to_dict(),
        "config": {"attention": t.blocks[0].variant, "backend": ran.backend, "device": ran.device, "dtype": ran.dtype,
                   "kernel": ran.op, "notes": list(ran.notes), "layer": layer or 1, "head": head},
        "tokens": t.tokens,
        "ids": t.ids,
        "type_ids": t.type_ids,
        "truncated": t.truncated,
        **{s.key: s.values for s in t.stages},
        "layers": [{"layer": b.layer, "weights": b.weights, "output": b.output} for b in t.blocks],
        "sentence_vector": t.sentence_vector,
    }
    if rollout:
        from vectorize_cli.attention.rollout import rollout as rollout_of

        rec["rollout"] = rollout_of([b.weights for b in t.blocks])  # (T, T)
    return _omit(rec, "layers", omit) if omit else rec


def similarity_record(model: ModelInfo, texts: list[str], cosine: np.ndarray) -> dict:
    return {"schema_version": SIMILARITY_SCHEMA_VERSION, "kind": "similarity", "model": model.to_dict(),
            "texts": texts, "cosine": cosine}


def _default(obj):
    if isinstance(obj, np.ndarray):  # non-contiguous views orjson does not take directly
        return np.ascontiguousarray(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def dumps(obj, pretty: bool = False) -> bytes:
    """JSON bytes, one line unless pretty (2-space indent), always ending in a newline."""
    option = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE
    if pretty:
        option |= orjson.OPT_INDENT_2
    return orjson.dumps(obj, default=_default, option=option)
