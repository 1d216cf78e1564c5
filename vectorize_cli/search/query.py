"""The queries' vectors, by the model the dataset was embedded with (or --model, if it is the same model).

The model is the one the dataset's metadata names (`minilm` or a folder); it must be the same weights,
byte for byte: sha256(model.safetensors) equal to the metadata's, else vectors from two models would be
compared and ranked, silently wrong. Hashing the 90 MB of all-MiniLM-L6-v2 takes about 0.1 s, once per process.
"""

from pathlib import Path

import numpy as np

from vectorize_cli.errors import UsageError, VectorizeError, tell
from vectorize_cli.search.dataset import Dataset


def check_queries(texts: list[str]) -> list[str]:
    """Every query has a word: a blank one is a usage error, never a search for nothing."""
    if not texts:
        raise UsageError("no query: give QUERY, `-` to read stdin, or --file FILE")
    for i, t in enumerate(texts, 1):
        if not t.strip():
            raise UsageError(f"query {i} is blank")
    return texts


def embed_queries(ds: Dataset, texts: list[str], model: str | None, batch_size: int = 32) -> np.ndarray:
    """Queries -> (Q, d) float32 vectors, by the dataset's model; refuses any other weights."""
    from vectorize_cli.model.bert import load
    from vectorize_cli.config import ModelConfig
    from vectorize_cli.pipelines.bert import encode

    recorded = ds.meta["model"]
    source = model if model is not None else recorded.get("source")
    if not source:
        raise VectorizeError(f"{ds.path}: the metadata names no model source; give --model")
    m = load(source)
    digest = m.sha256
    if digest != recorded.get("sha256"):
        raise VectorizeError(f"the query model {source} (sha256 {digest[:12]}...) is not the model "
                             f"{ds.path} was embedded with ({recorded.get('name')}, sha256 "
                             f"{str(recorded.get('sha256'))[:12]}...): its vectors would not be comparable")
    if m.folder.config.d_model != ds.d:
        raise VectorizeError(f"the query model gives {m.folder.config.d_model}-d vectors; the dataset holds {ds.d}-d")
    vectors, truncated = encode(m, texts, ModelConfig(batch_size=batch_size))
    if truncated:
        tell("warning", f"{len(truncated)} quer{'y is' if len(truncated) == 1 else 'ies are'} longer than the "
                        f"model's {m.folder.max_length} tokens; truncated")
    return vectors
