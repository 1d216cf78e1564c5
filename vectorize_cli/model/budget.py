"""--max-memory for a pretrained model: estimates made before allocating, as memory.py's are for
the toy pipeline, so that a run that cannot fit is refused with the numbers, not killed half-way.

    weights     the model's arrays (twice where torch holds a copy) held, given by the caller
    tokens      N texts, each at most max_length tokens          N x T x TOKEN_BYTES (tokenizers' Encoding)
    a batch     B sentences of T tokens, as encode runs them     activations B T (12 d + 2 d_ff) x 4
                (forward(every_layer=False): the last layer's    + multi-head's scores and weights 3 B H T² x 4
                output and weights kept, none before)              or flash's tiles, at most 3 TILE_ELEMENTS x 4
                                                                 + numpy GELU's chunks 8 CHUNK x 4
                                                                 + MPNet's relative position bias and torch's
                                                                   float mask of it B H T² x 4
                  the embeddings' sum, q/k/v's product and flash's heads-first copies of it, attention's output
                  and its copy, the residual stream, x0 (returned), the FFN's hidden layer and GELU's
                a decoder's batch (model/decoder.py)             B T (6 d + 2 d_ff
                                                                      + (H + 2 KV) hs + 5 H hs + 2 KV hs) x 4
                                                                 + the rotary tables T hs x 4
                                                                 + multi-head's scores and weights 3 B H T² x 4
                                                                   or flash's 2 B T H hs x 4 and its tiles
                  the residual stream and the last layer's output, q/k/v's product and q, k, v heads-first, k
                  and v repeated for the H query heads (GQA), attention's output and its copy, the SwiGLU's 2 d_ff
                numpy runs one batch per core at a time, as many cores as the limit leaves room for
    a trace     one sentence, every layer's weights kept         n_layer (H T² + 2 T d) x 4
    similarity  the N x N cosines, and their JSON text           N² (8 + text bytes)

Floors, not bounds: Python and the libraries add their own. A long text costs only its first
max_length tokens (the tokenizer cuts while tokenizing, tokenizer.py).
"""

from vectorize_cli.attention.kernels import TILE_ELEMENTS
from vectorize_cli.attention.variants import VARIANTS
from vectorize_cli.errors import VectorizeError
from vectorize_cli.memory import TEXT_BYTES, human
from vectorize_cli.model.decoder_config import DecoderConfig
from vectorize_cli.model.files import Folder
from vectorize_cli.model.nn import CHUNK

TOKEN_BYTES = 96  # one token in tokenizers' Encoding and ours: id, type id, offsets, masks, the token string
ITEM = 4  # float32
GELU_CHUNKS = 8  # numpy's GELU (nn.gelu_) holds about this many temporaries of CHUNK float32s at once
TABLE_CELL = 400  # a similarity table cell in rich: the Text, the Segment, the padding


def _refuse(need: int, what: str, limit: int, hint: str) -> None:
    if need > limit:
        raise VectorizeError(f"this run needs about {human(need)} ({what}), over --max-memory {human(limit)}; {hint}")


def _tokens(folder: Folder, lengths: list[int]) -> int:
    """Bytes of the encodings of texts of these character lengths ([CLS] and [SEP] included)."""
    return sum(min(n + 2, folder.max_length) for n in lengths) * TOKEN_BYTES


def batch(folder: Folder, B: int, T: int, variant: str) -> int:
    """Bytes of one batch as encode runs it (forward with every_layer=False: the last layer's output and weights
    kept, none before): activations, an explicit variant's scores and weights (B, H, T, T), a tiled one's tiles."""
    c = folder.config
    explicit = VARIANTS[variant].family == "explicit"
    # explicit: this layer's scores (its weights, in place), the last layer's weights kept, the mask's copy;
    # tiled: a task's tiles (scores, exp, a product), at most 3 TILE_ELEMENTS (kernels.flash_attention)
    att = 3 * B * c.n_head * T * T if explicit else min(3 * B * c.n_head * T * min(T, 256), 3 * TILE_ELEMENTS)
    if isinstance(c, DecoderConfig):
        if not explicit:  # flash: its scaled copy of q and its output (B, H, T, hs)
            att += 2 * B * T * c.n_head * c.head_size
        return (B * T * _decoder_token(c) + T * c.head_size + att) * ITEM
    bias = B * c.n_head * T * T * ITEM if c.n_buckets else 0  # MPNet: B (H, T, T), SDPA's B + M (B, H, T, T)
    return (B * T * (12 * c.d_model + 2 * c.d_ff) + att + GELU_CHUNKS * CHUNK) * ITEM + bias


def _decoder_token(c: DecoderConfig) -> int:
    """float32s a token of a decoder's batch holds at once, the weights aside (the table above)."""
    H, KV, hs = c.n_head, c.n_kv_head, c.head_size
    return 6 * c.d_model + 2 * c.d_ff + (H + 2 * KV) * hs + 5 * H * hs + 2 * KV * hs


def check_encode(folder: Folder, lengths: list[int], variant: str, batch_size: int, held: int, limit: int,
                 workers: int = 1) -> int:
    """Before tokenizing N texts and running them in batches (npy, similarity); held: the weights' bytes.
    -> how many of the `workers` batches at a time fit (at least one, or the run is refused)."""
    T = min(max(lengths, default=0) + 2, folder.max_length)
    B = min(batch_size, len(lengths))  # fewer texts than --batch-size: one batch of them all
    tokens, one = _tokens(folder, lengths), batch(folder, B, T, variant)
    _refuse(held + tokens + one, f"the weights: {human(held)}; {len(lengths):,} texts as tokens: "
            f"{human(tokens)}; a batch of {B} at {T} tokens: {human(one)}", limit,
            "give fewer texts or a smaller --batch-size, or raise --max-memory")
    return max(1, min(workers, (limit - held - tokens) // max(one, 1)))


def check_trace(folder: Folder, length: int, held: int, limit: int) -> None:
    """Before one sentence, stage by stage (table, json, jsonl): every layer's weights are kept."""
    c, T = folder.config, min(length + 2, folder.max_length)
    need = held + _tokens(folder, [length]) + c.n_layer * (c.n_head * T * T + 2 * T * c.d_model) * ITEM
    _refuse(need, f"the weights: {human(held)}; {c.n_layer} layers of {c.n_head} x {T} x {T} weights", limit,
            "use --format npy for the vectors alone, or raise --max-memory")


def check_similarity(n: int, fmt: str, limit: int) -> None:
    """Before the N x N matrix (the product and its clipped copy) and its output."""
    text = {"json": TEXT_BYTES[True], "jsonl": TEXT_BYTES[False], "table": TABLE_CELL}.get(fmt, 0)
    need = n * n * (2 * ITEM + text)
    _refuse(need, f"{n:,} x {n:,} cosines{' and their ' + fmt if text else ''}", limit,
            "compare fewer texts, use --format npy, or raise --max-memory")
