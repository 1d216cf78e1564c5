"""A pretrained model's pipeline: one sentence stage by stage (trace -> Trace), or many to vectors (encode).

    tokens  = WordPiece(text)                       T, [CLS] ... [SEP], at most max_length
    x0, ... = bert.forward(tokens)                  (T, d) after the embeddings, then each layer; a trace's stages
                                                    are the lookups, their LayerNorm and (MPNet) the relative
                                                    position bias each head adds to its scores, (H, T, T)
    vector  = pool(last layer over real tokens)     (d,), the model's pooling (the prompt's tokens left out
                                                    where its Pooling has include_prompt false)
    vector  = step(vector) for each step            Dense: act(v W^T + b); Normalize: v / |v| (modules.py)

encode() batches: sentences sorted by token count, cut into batches of similar lengths, padded
to the longest of their batch; padding is masked everywhere (attention keys and pooling), so a
sentence's vector does not depend on the batch it was in, and the output is in input order.
numpy runs one batch per core at a time (parallel.core_map), on as many cores as --max-memory leaves room for.
"""

import numpy as np

from vectorize_cli import compiled
from vectorize_cli.attention.dispatch import implementation
from vectorize_cli.attention.variants import MODEL_VARIANTS, VARIANTS
from vectorize_cli.backend import NUMPY, Backend, check_finite, namespace, overflowed, resolve
from vectorize_cli.config import ModelConfig
from vectorize_cli.errors import UsageError
from vectorize_cli.model import budget
from vectorize_cli.model.bert import Model, embeddings, forward
from vectorize_cli.model.relative_bias import relative_position_bias
from vectorize_cli.model.validate import PROBE, quiet
from vectorize_cli.parallel import core_map, cores
from vectorize_cli.pooling import POOLING
from vectorize_cli.trace import Block, ModelInfo, Ran, Stage, Trace


RELATIVE_BIAS_TITLE = "Relative position bias (E_rel[bucket(j - i)], learned: added to every layer's scores)"


def backend_for(config: ModelConfig) -> tuple[Backend, str]:
    """The backend and the attention function (a name of dispatch.ATTENTION_FUNCTIONS) of a model's run."""
    if config.attention not in MODEL_VARIANTS:
        raise UsageError(f"-a {config.attention} does not exist in a pretrained BERT; its attention is "
                         f"{' or '.join(MODEL_VARIANTS)} (the same function)")
    family = VARIANTS[config.attention].family
    backend = resolve(config.backend, config.device, config.dtype, family, config.strict)
    return backend, implementation(family, backend)


def info(model: Model) -> ModelInfo:
    f, c = model.folder, model.folder.config
    return ModelInfo(f.name, model.source, c.d_model, c.n_layer, c.n_head, c.d_ff, c.vocab_size, f.max_length,
                     f.pool, f.normalize, c.n_kv_head, c.causal)


def _held(model: Model, backend: Backend) -> int:
    """Bytes of the weights while the model runs: twice where the backend holds its own copy."""
    return model.nbytes * (1 if backend.name == "numpy" else 2)


def probe(model: Model) -> None:
    """One sentence through the whole model before any text: finite weights that overflow fail here."""
    vectors, _ = encode(model, [PROBE])
    check_finite(f"the model in {model.folder.path / 'model.safetensors'}, on a probe sentence,", NUMPY, vectors)


def pooled_tokens(real: np.ndarray, skip: int) -> np.ndarray:
    """real (B, T), True for real tokens -> the tokens the pooling reads: the first skip (a prompt's, with
    include_prompt false) left out, as sentence-transformers' Pooling does."""
    if not skip:
        return real
    real = real.copy()
    real[:, :skip] = False
    return real


def sentence_vector(model: Model, y, real=None):
    """A sentence's token outputs (T, d) -> its vector (d_out,), or a batch's (B, T, d) with real (B, T), True
    for the tokens pooled, -> (B, d_out): the model's own pooling, then each step after it (Dense, Normalize),
    in modules.json's order; float32, on the backend y is on."""
    v = POOLING[model.folder.pool](y, real)
    for step in model.folder.head.steps:
        v = step(v)
    return v


def trace(model: Model, text: str, config: ModelConfig = ModelConfig(), skip: int = 0) -> Trace:
    """One sentence, every stage and layer kept; skip: its first tokens left out of the pooling (a prompt's)."""
    backend, attention = backend_for(config)
    budget.check_trace(model.folder, len(text), _held(model, backend), config.max_memory)
    (enc,) = model.tokenizer.encode([text])
    backend = compiled.for_run(backend, len(enc.ids))  # GELU: numpy's chunks (VECTORIZE_COMPILED=1: compiled)
    ids, type_ids = enc.ids[None], enc.type_ids[None]  # (1, T)
    family, c = model.folder.config.family, model.folder.config
    word, position, token_type = embeddings(model.weights, ids, type_ids, family.positions(ids, c.pad_id))  # numpy
    with backend.no_grad(), quiet():
        x0, layers, ran = forward(model, backend, ids, type_ids, np.zeros(ids.shape, dtype=bool), attention,
                                  config.strict)
        layers = [(None if att is None else backend.numpy(att)[0], backend.numpy(x)[0]) for att, x in layers]
    how = Ran(backend.name, backend.device, backend.dtype, ran.op, backend.notes + ran.notes)
    blocks = [Block(config.attention, att, y, how, layer=i + 1) for i, (att, y) in enumerate(layers)]
    check_finite("the model", backend, *(b.output for b in blocks))
    stages = [
        Stage("word_embedding", "Word embeddings (E_word[id])", word[0]),
        Stage("position_embedding", family.position_label, position.reshape(-1, c.d_model)),  # (T, d)
    ]
    if token_type is not None:  # MPNet has none
        stages.append(Stage("token_type_embedding", "Token type embeddings (E_type[type id])", token_type[0],
                            in_tables=False))
    summed = "word + position" + (" + token type" if token_type is not None else "")
    stages.append(Stage("embedded", f"Embedded = LayerNorm({summed}): layer 1's input", backend.numpy(x0)[0]))
    if family.relative_bias:  # (H, T, T): per head, rows queries, columns keys
        stages.append(Stage("relative_position_bias", RELATIVE_BIAS_TITLE,
                            relative_position_bias(model.weights["relative_bias"], len(enc.ids))))
    real = pooled_tokens(np.ones((1, len(enc.ids)), dtype=bool), skip)[0] if skip else None  # (T,) or every token
    return Trace(text, enc.tokens, stages, blocks, layered=True,
                 sentence_vector=sentence_vector(model, blocks[-1].output, real), model=info(model), ids=enc.ids,
                 type_ids=enc.type_ids, truncated=enc.truncated)


def batches(lengths: list[int], batch_size: int) -> list[np.ndarray]:
    """Indices of the inputs, sorted by length (longest first) and cut into batches."""
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def padding_fraction(lengths: list[int], todo: list[np.ndarray]) -> float:
    """Padded tokens / all tokens of these batches, each padded to its longest: the work spent on padding."""
    padded = sum(len(batch) * max(lengths[i] for i in batch) for batch in todo)
    return 1 - sum(lengths) / padded if padded else 0.0


def encode(model: Model, texts: list[str], config: ModelConfig = ModelConfig(),
           encodings: list | None = None, on_batch=None, skip: int = 0,
           forward=forward) -> tuple[np.ndarray, list[int]]:
    """texts -> (vectors (N, d_out) float32 in input order, indices of the inputs that were truncated);
    encodings: model.tokenizer.encode(texts, tokens=False), where the caller has them already (tokenized once);
    on_batch(n): told each batch of n texts stored; skip: the first tokens of each left out of the pooling;
    forward: the family's forward pass (model/decoder.py's for a decoder: pipelines/decoder.py)."""
    backend, attention = backend_for(config)
    workers = budget.check_encode(model.folder, [len(t) for t in texts], config.attention, config.batch_size,
                                  _held(model, backend), config.max_memory, cores() if backend.threads else 1)
    encs = model.tokenizer.encode(texts, tokens=False) if encodings is None else encodings
    out = np.empty((len(texts), model.folder.d), dtype=np.float32)
    lengths = [len(e.ids) for e in encs]
    todo = batches(lengths, config.batch_size)
    backend = compiled.for_run(backend, sum(lengths))  # GELU compiled by numba for long runs: the same bits, faster

    def run(batch: np.ndarray):
        """One batch through the model and its pooling, on the backend -> (batch, vectors (B, d), all finite)."""
        n = [len(encs[i].ids) for i in batch]
        T = max(n)
        ids = np.full((len(batch), T), model.folder.config.pad_id, dtype=np.int64)  # (B, T)
        type_ids = np.zeros((len(batch), T), dtype=np.int64)
        for b, i in enumerate(batch):
            ids[b, : n[b]], type_ids[b, : n[b]] = encs[i].ids, encs[i].type_ids
        pad = np.arange(T)[None, :] >= np.asarray(n)[:, None]  # (B, T) True for padding
        with backend.no_grad(), quiet():
            _, layers, _ = forward(model, backend, ids, type_ids, pad, attention, config.strict, every_layer=False)
            y = layers[-1][1]  # (B, T, d)
            xp = namespace(y)
            v = sentence_vector(model, y, backend.asarray(pooled_tokens(~pad, skip)))  # (B, d_out)
            return batch, v, xp.all(xp.isfinite(y)) & xp.all(xp.isfinite(v))

    def store(batch: np.ndarray, vectors, finite) -> None:
        """Waits for the batch's numbers (on CUDA) and puts its vectors in their rows of the output."""
        if not bool(finite):
            raise overflowed("the model", backend)
        out[batch] = backend.numpy(vectors)
        if on_batch is not None:
            on_batch(len(batch))

    # stored one batch behind: on CUDA the next batch is queued before this one's numbers are waited for
    with core_map(enabled=backend.threads, workers=workers) as map_:
        previous = None
        for ran in map_(run, todo):
            if previous is not None:
                store(*previous)
            previous = ran
        if previous is not None:
            store(*previous)
    return out, [i for i, e in enumerate(encs) if e.truncated]
