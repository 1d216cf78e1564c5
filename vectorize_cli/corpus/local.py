"""The local engine: chunks of rows through the encoder in this process, one batch per core (Encoder.encode).
No dependency beyond --model's."""

from collections.abc import Iterator

from vectorize_cli.dataset.format import Chunk, Embedded
from vectorize_cli.encoder import Encoder


def embed_chunks(encoder: Encoder, chunks: Iterator[Chunk], on_rows=lambda n: None,
                 **engine_options) -> Iterator[Embedded]:
    """Each chunk, embedded, in order; on_rows(n) is told each batch of n rows embedded (the options other
    engines take are not needed here)."""
    for chunk in chunks:
        e = encoder.encode(chunk.texts, on_batch=on_rows)
        yield Embedded(chunk, e.vectors, e.n_tokens, e.truncated)
