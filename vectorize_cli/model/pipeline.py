"""A pretrained model's pipeline: one sentence stage by stage (trace), or many to vectors (encode).

    tokens  = WordPiece(text)                       T, [CLS] ... [SEP], at most max_length
    x0, ... = bert.forward(tokens)                  (T, d) after the embeddings, then each layer
    vector  = pool(last layer over real tokens)     (d,), then / |vector| when the model normalises

encode() batches: sentences sorted by token count, cut into batches of similar lengths, padded
to the longest of their batch; padding is masked everywhere (attention keys and pooling), so a
sentence's vector does not depend on the batch it was in, and the output is in input order.
numpy runs one batch per core at a time (backends.workers).
"""

from dataclasses import dataclass

import numpy as np

from vectorize_cli.model.backends import BACKENDS, workers
from vectorize_cli.model.bert import Model, embeddings, forward
from vectorize_cli.model.tokenizer import Encoding
from vectorize_cli.pooling import POOLING

VARIANTS = ("multi-head", "flash")  # the attention a pretrained BERT has: two ways to compute it


@dataclass(frozen=True)
class Layer:
    weights: np.ndarray | None  # (H, T, T), rows queries, columns keys; None for flash
    output: np.ndarray  # (T, d)


@dataclass(frozen=True)
class ModelResult:
    text: str
    model: str  # the model's name
    variant: str  # multi-head | flash
    backend: str  # numpy | torch
    kernel: str  # the attention kernel that ran: explicit, tiled-online-softmax or torch's aten op
    encoding: Encoding  # tokens, ids, type_ids, truncated
    word: np.ndarray  # (T, d) word embeddings
    position: np.ndarray  # (T, d) position embeddings
    token_type: np.ndarray  # (T, d) token-type embeddings
    embedded: np.ndarray  # (T, d) LayerNorm(word + position + token_type): layer 1's input
    layers: list[Layer]  # n_layer, in order
    sentence_vector: np.ndarray  # (d,)


def l2_normalize(v: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """v / max(|v|, eps) over the last axis: sentence-transformers' Normalize (F.normalize)."""
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), v.dtype.type(eps))


def sentence_vector(model: Model, y: np.ndarray) -> np.ndarray:
    """A sentence's real tokens' outputs (T, d) -> its vector (d,), by the model's own pooling."""
    v = POOLING[model.folder.pool](y)
    return l2_normalize(v) if model.folder.normalize else v


def trace(model: Model, text: str, variant: str = "multi-head", backend: str = "numpy") -> ModelResult:
    """One sentence, every stage kept."""
    be = BACKENDS[backend]()
    (enc,) = model.tokenizer.encode([text])
    ids, type_ids = enc.ids[None], enc.type_ids[None]  # (1, T)
    word, position, token_type = embeddings(model.weights, ids, type_ids)  # numpy lookups
    with be.no_grad():
        x0, layers = forward(model, be, ids, type_ids, np.zeros(ids.shape, dtype=bool), variant)
        layers = [Layer(None if att is None else be.numpy(att)[0], be.numpy(x)[0]) for att, x in layers]
    return ModelResult(text, model.folder.name, variant, backend, be.kernel(variant), enc, word[0], position,
                       token_type[0], be.numpy(x0)[0], layers, sentence_vector(model, layers[-1].output))


def batches(lengths: list[int], batch_size: int) -> list[np.ndarray]:
    """Indices of the inputs, sorted by length (longest first) and cut into batches."""
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def encode(model: Model, texts: list[str], variant: str = "multi-head", backend: str = "numpy",
           batch_size: int = 32) -> tuple[np.ndarray, list[int]]:
    """texts -> (vectors (N, d) float32 in input order, indices of the inputs that were truncated)."""
    be = BACKENDS[backend]()
    encs = model.tokenizer.encode(texts)
    out = np.empty((len(texts), model.folder.config.d_model), dtype=np.float32)

    def run(batch: np.ndarray) -> None:
        n = [len(encs[i].ids) for i in batch]
        T = max(n)
        ids = np.full((len(batch), T), model.folder.config.pad_id, dtype=np.int64)  # (B, T)
        type_ids = np.zeros((len(batch), T), dtype=np.int64)
        for b, i in enumerate(batch):
            ids[b, : n[b]], type_ids[b, : n[b]] = encs[i].ids, encs[i].type_ids
        pad = np.arange(T)[None, :] >= np.asarray(n)[:, None]  # (B, T) True for padding
        with be.no_grad():
            _, layers = forward(model, be, ids, type_ids, pad, variant)
        y = be.numpy(layers[-1][1])  # (B, T, d)
        for b, i in enumerate(batch):
            out[i] = sentence_vector(model, y[b, : n[b]])  # real tokens only; each batch its own rows

    with workers(be) as map_:
        for _ in map_(run, batches([len(e.ids) for e in encs], batch_size)):
            pass
    return out, [i for i, e in enumerate(encs) if e.truncated]
