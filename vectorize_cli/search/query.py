"""The queries' vectors, by the model the dataset was embedded with (or --model, if it is the same model).

The model is the one the dataset's metadata names (`minilm` or a folder); it must be the same weights,
byte for byte: sha256(model.safetensors) equal to the metadata's, else vectors from two models would be
compared and ranked, silently wrong. Hashing the 90 MB of all-MiniLM-L6-v2 takes about 0.1 s, once per process.
"""


import numpy as np

from vectorize_cli.errors import UsageError, VectorizeError, tell
from vectorize_cli.dataset.reader import Dataset


def check_queries(texts: list[str]) -> list[str]:
    """Every query has a word: a blank one is a usage error, never a search for nothing."""
    if not texts:
        raise UsageError("no query: give QUERY, `-` to read stdin, or --file FILE")
    for i, t in enumerate(texts, 1):
        if not t.strip():
            raise UsageError(f"query {i} is blank")
    return texts


def query_encoder(ds: Dataset, model: str | None, batch_size: int = 32, **prompt):
    """The encoder the dataset recorded (its model, attention, backend, dtype and truncate_dim:
    Encoder.from_record), with the model's query prompt (encode_query's) unless prompt (prompt_name= or prompt=)
    names another; model: another copy of the same weights (any other is refused)."""
    from vectorize_cli.encoder import Encoder

    record = {**ds.meta, "backend": ds.meta.get("backend", ds.meta.get("options", {}).get("backend", "numpy"))}
    encoder = Encoder.from_record(record, batch_size, model, what=str(ds.path), **prompt).for_task("query")
    if encoder.d != ds.d:
        raise VectorizeError(f"the query model gives {encoder.d}-d vectors; the dataset holds {ds.d}-d")
    return encoder


def embed_queries(encoder, texts: list[str]) -> np.ndarray:
    """Queries -> (Q, d) float32 vectors, by the encoder query_encoder opened."""
    e = encoder.encode(texts)
    if e.truncated.any():
        n = int(e.truncated.sum())
        tell("warning", f"{n} quer{'y is' if n == 1 else 'ies are'} longer than the "
                        f"model's {encoder.max_length} tokens; truncated")
    return e.vectors
