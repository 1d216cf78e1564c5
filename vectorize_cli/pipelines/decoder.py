"""A decoder embedding model's pipeline (Qwen3-Embedding; Qwen2, Llama): one sentence stage by stage (trace ->
Trace), or many to vectors (encode: pipelines/bert.py's batching, with model/decoder.py's forward pass).

    tokens  = tokenizer(prompt + text)              T, its template's tokens (Qwen3: <|endoftext|> last)
    x0      = E[ids]                                (T, d) the "embedded" stage: no position added
    angles  = t θ_i                                 (T, hs/2) the "rotary_angles" stage: RoPE's positions,
                                                    by which every layer turns q and k
    y       = decoder.forward(x0)                   (T, d) each layer causal; the last after the final RMSNorm
    vector  = pool(y) then each step                lasttoken: the last real token's y (modules.py)

The attention weights of each layer are (H, T, T) with the upper triangle zero (causal); a trace's model info
names the key/value heads (n_kv_head), so the views label each query head with the key/value head it shares.
"""

import numpy as np

from vectorize_cli import compiled
from vectorize_cli.backend import NUMPY, check_finite
from vectorize_cli.config import ModelConfig
from vectorize_cli.model import budget
from vectorize_cli.model.bert import Model
from vectorize_cli.model.decoder import forward
from vectorize_cli.model.decoder_nn import rotary_angles
from vectorize_cli.model.validate import PROBE, quiet
from vectorize_cli.pipelines import bert
from vectorize_cli.pipelines.bert import _held, backend_for, info, pooled_tokens, sentence_vector
from vectorize_cli.trace import Block, Ran, Stage, Trace


def trace(model: Model, text: str, config: ModelConfig = ModelConfig(), skip: int = 0) -> Trace:
    """One sentence, every stage and layer kept; skip: its first tokens left out of the pooling (a prompt's)."""
    backend, attention = backend_for(config)
    budget.check_trace(model.folder, len(text), _held(model, backend), config.max_memory)
    (enc,) = model.tokenizer.encode([text])
    backend = compiled.for_run(backend, len(enc.ids))
    c, T = model.folder.config, len(enc.ids)
    with backend.no_grad(), quiet():
        x0, layers, ran = forward(model, backend, enc.ids[None], enc.type_ids[None], np.zeros((1, T), dtype=bool),
                                  attention, config.strict)
        x0 = backend.numpy(x0)[0]
        layers = [(None if att is None else backend.numpy(att)[0], backend.numpy(x)[0]) for att, x in layers]
    how = Ran(backend.name, backend.device, backend.dtype, ran.op, backend.notes + ran.notes)
    blocks = [Block(config.attention, att, y, how, layer=i + 1) for i, (att, y) in enumerate(layers)]
    check_finite("the model", backend, *(b.output for b in blocks))
    stages = [
        Stage("embedded", "Token embeddings (E[id]): layer 1's input, no position added", x0),
        Stage("rotary_angles", f"Rotary positions (RoPE): angle t·θ_i turning q and k's pair i in every layer, "
                               f"θ_i = {c.rope_theta:g}^(-2i/hs)",  # pair i: features i and i + hs/2
              rotary_angles(T, c.head_size, c.rope_theta)),  # (T, hs/2)
    ]
    real = pooled_tokens(np.ones((1, T), dtype=bool), skip)[0] if skip else None  # (T,) or every token
    return Trace(text, enc.tokens, stages, blocks, layered=True,
                 sentence_vector=sentence_vector(model, blocks[-1].output, real), model=info(model), ids=enc.ids,
                 type_ids=enc.type_ids, truncated=enc.truncated)


def encode(model: Model, texts: list[str], config: ModelConfig = ModelConfig(), encodings: list | None = None,
           on_batch=None, skip: int = 0) -> tuple[np.ndarray, list[int]]:
    """pipelines/bert.encode (batches by length, right padded, in input order) with the decoder's forward pass."""
    return bert.encode(model, texts, config, encodings, on_batch, skip, forward=forward)


def probe(model: Model) -> None:
    """One sentence through the whole model before any text: finite weights that overflow fail here."""
    vectors, _ = encode(model, [PROBE])
    check_finite(f"the model in {model.folder.path / 'model.safetensors'}, on a probe sentence,", NUMPY, vectors)
