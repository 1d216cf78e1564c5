"""Embedded-corpus datasets written by hand, in the format `vectorize embed` writes (README, "vectorize search"):
parts of Parquet, row groups of at most 8,192 rows, the `vectorize` metadata, _SUCCESS last.

Vectors are quantized by sentence-transformers' own quantize_embeddings, the reference the format names.
"""

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np

import pyarrow as pa
import pyarrow.parquet as pq


def quantize(x: np.ndarray, precision: str, ranges: np.ndarray | None = None) -> np.ndarray:
    """sentence-transformers' quantize_embeddings (the reference)."""
    if precision == "float32":
        return x.astype(np.float32)
    return st_quantization().quantize_embeddings(x, precision=precision, ranges=ranges)


def st_quantization():
    """sentence-transformers' quantization module: sentence_transformers.util.quantization since 5.x,
    sentence_transformers.quantization before (now a deprecated alias)."""
    import pytest

    pytest.importorskip("sentence_transformers", reason="the reference: pip install 'vectorize-cli[test]'")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            from sentence_transformers.util import quantization
        except ImportError:
            from sentence_transformers import quantization
    return quantization


def minilm_meta() -> dict:
    from vectorize_cli.model import files

    path, name = files.locate("minilm")
    sha = hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()
    return {"name": name, "source": "minilm", "sha256": sha, "d": 384, "pool": "mean", "normalize": True,
            "max_length": 256}


def random_meta(d: int) -> dict:
    return {"name": "random", "source": "minilm", "sha256": "0" * 64, "d": d, "pool": "mean", "normalize": True,
            "max_length": 256}


def write_dataset(out: Path, x: np.ndarray, precision: str = "float32", model: dict | None = None,
                  texts: list[str] | None = None, part_rows: int = 10_000, group_rows: int = 8192,
                  ranges: np.ndarray | None = None, success: bool = True) -> Path:
    """x (N, d) float -> a dataset in out (quantized to precision); returns out."""
    out.mkdir(parents=True, exist_ok=True)
    N, d = x.shape
    if precision in ("int8", "uint8") and ranges is None:
        ranges = np.vstack([x.min(axis=0), x.max(axis=0)]).astype(np.float32)
    stored = quantize(x, precision, ranges)
    meta = {"format": 1, "tool_version": "test", "model": model or random_meta(d), "attention": "multi-head",
            "precision": precision, "ranges": None if ranges is None else ranges.tolist(), "options": {}}
    fields = [("id", pa.int64()), ("source", pa.string()), ("line", pa.int64())]
    fields += [("text", pa.string())] if texts is not None else []
    fields += [("vector", pa.list_(pa.from_numpy_dtype(stored.dtype), stored.shape[1])), ("n_tokens", pa.int32()),
               ("truncated", pa.bool_())]
    schema = pa.schema(fields, metadata={b"vectorize": json.dumps(meta).encode()})
    parts = []
    for k, start in enumerate(range(0, N, part_rows)):
        stop = min(N, start + part_rows)
        cols = {"id": pa.array(np.arange(start, stop), pa.int64()),
                "source": pa.array(["corpus.txt"] * (stop - start)),
                "line": pa.array(np.arange(start, stop) + 1, pa.int64()),
                "text": pa.array(texts[start:stop] if texts is not None else []),
                "vector": pa.FixedSizeListArray.from_arrays(pa.array(stored[start:stop].reshape(-1)), stored.shape[1]),
                "n_tokens": pa.array(np.full(stop - start, 7), pa.int32()),
                "truncated": pa.array(np.zeros(stop - start, bool))}
        table = pa.Table.from_arrays([cols[f[0]] for f in fields], schema=schema)
        name = f"part-{k:05d}.parquet"
        pq.write_table(table, out / name, row_group_size=group_rows)
        parts.append(name)
    if success:
        (out / "_SUCCESS").write_text(json.dumps({"format": 1, "rows": N, "parts": parts, "precision": precision,
                                                  "d": d, "model_sha256": meta["model"]["sha256"]}))
    return out


def unit_vectors(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """Uniform on the sphere: the hardest case for a graph index (every distance alike)."""
    x = rng.standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clustered_vectors(rng: np.random.Generator, n: int, d: int, centers: np.ndarray, noise: float = 0.6
                      ) -> np.ndarray:
    """Unit vectors around given unit centers (C, d), as sentence embeddings gather by topic:
    x = normalize(center + noise * g / sqrt(d)), g standard normal."""
    c = centers[rng.integers(0, len(centers), n)]
    x = c + noise * rng.standard_normal((n, d)).astype(np.float32) / np.float32(np.sqrt(d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
