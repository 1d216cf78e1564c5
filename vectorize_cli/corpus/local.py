"""The local engine: chunks of rows through the encoder in this process, one batch per core (Encoder.encode).
No dependency beyond --model's.

    thread  tokenize(chunk i+1)                 CPU (the tokenizer's Rust side, without the GIL)
    main    encode(chunk i) -> yield vectors    the model: numpy on the cores, or torch on its device

The next chunk is tokenized while the model runs the current one, so an accelerator does not wait for the
tokenizer between chunks (and a CPU run loses nothing: tokenizing is a few percent of its time). Chunks are
still embedded and yielded in order; an error in a chunk's text is raised when that chunk's turn comes.
"""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from vectorize_cli.dataset.format import Chunk, Embedded
from vectorize_cli.encoder import Encoder


def embed_chunks(encoder: Encoder, chunks: Iterator[Chunk], on_rows=lambda n: None,
                 **engine_options) -> Iterator[Embedded]:
    """Each chunk, embedded, in order, the next one tokenized meanwhile; on_rows(n) is told each batch of n rows
    embedded (the options other engines take are not needed here)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="vectorize-tokenize") as pool:
        chunk = next(chunks, None)
        tokenized = None if chunk is None else pool.submit(encoder.tokenize, chunk.texts)
        while chunk is not None:
            try:  # the next chunk read before this one runs, so that its tokens come meanwhile
                following, unreadable = next(chunks, None), None
            except Exception as e:  # a bad row of the input: raised after this chunk is written, as before
                following, unreadable = None, e
            upcoming = None if following is None else pool.submit(encoder.tokenize, following.texts)
            e = encoder.encode(tokenized.result(), on_batch=on_rows)
            yield Embedded(chunk, e.vectors, e.n_tokens, e.truncated)
            if unreadable is not None:
                raise unreadable
            chunk, tokenized = following, upcoming
