"""The local engine: chunks of rows through the model in this process, one batch per core (pipelines/bert.encode).
No dependency beyond --model's."""

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Spec:
    """How to embed, as every engine needs it."""

    model: str  # --model's value: `minilm` or a folder
    variant: str  # multi-head | flash
    backend: str  # numpy | torch
    batch_size: int  # sentences per forward pass
    device: str = "auto"  # auto | cpu | cuda (torch)
    dtype: str = "float32"  # float32 | float16 | bfloat16 (torch)


@dataclass
class Chunk:
    """Consecutive rows to embed (one row group)."""

    ids: np.ndarray  # (N,) int64
    sources: list[str]
    lines: np.ndarray  # (N,) int64
    texts: list[str]


@dataclass
class Embedded:
    chunk: Chunk
    vectors: np.ndarray  # (N, d) float32
    n_tokens: np.ndarray  # (N,) int32, [CLS] and [SEP] included
    truncated: np.ndarray  # (N,) bool


def embed_texts(spec: Spec, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """texts -> (vectors (N, d) float32, n_tokens (N,) int32, truncated (N,) bool); the model is loaded once
    per process (bert.load caches it)."""
    from vectorize_cli.config import ModelConfig
    from vectorize_cli.model.bert import load
    from vectorize_cli.pipelines.bert import encode

    model = load(spec.model)
    encs = model.tokenizer.encode(texts, tokens=False)
    config = ModelConfig(spec.variant, spec.backend, spec.device, spec.dtype, batch_size=spec.batch_size)
    vectors, cut = encode(model, texts, config, encs)
    n_tokens = np.array([len(e.ids) for e in encs], dtype=np.int32)
    truncated = np.zeros(len(texts), dtype=bool)
    truncated[cut] = True
    return vectors, n_tokens, truncated


def embed_chunks(spec: Spec, chunks: Iterator[Chunk], **engine_options) -> Iterator[Embedded]:
    """Each chunk, embedded, in order (the options other engines take are not needed here)."""
    for chunk in chunks:
        yield Embedded(chunk, *embed_texts(spec, chunk.texts))
