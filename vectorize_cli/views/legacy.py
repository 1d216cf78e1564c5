"""Today's pipeline results as a Trace, until the pipelines return one themselves (the "one shape"
refactor); delete this file then. Used by the views' tests, benchmarks and screenshots."""

from vectorize_cli.result import AttentionResult, Result
from vectorize_cli.trace import Block, ModelInfo, Ran, Stage, Trace


def _block(a: AttentionResult) -> Block:
    ran = Ran(a.backend, a.device, a.dtype, a.kernel, a.notes)
    return Block(a.variant, a.weights, a.output, ran, None, a.params, a.sentence_vector, a.explicit_max_abs_delta,
                 a.reference_max_abs_delta)


def from_result(r: Result) -> Trace:
    """The toy pipeline's Result: its variants side by side."""
    stages = [Stage("embedding", "Embedding", r.embedding), Stage("positional", "Positional encoding", r.positional),
              Stage("encoded", "Embedding + positional", r.encoded)]
    return Trace(r.text, r.tokens, stages, [_block(a) for a in r.attention], False, config=r.config)


def from_model(res, model, source: str = "minilm") -> Trace:
    """A pretrained model's ModelResult (vectorize_cli.model.pipeline.trace): its layers in order."""
    from vectorize_cli.model.serialize import model_info

    e = res.encoding
    stages = [Stage("word_embedding", "Word embedding", res.word),
              Stage("position_embedding", "Position embedding", res.position),
              Stage("token_type_embedding", "Token-type embedding", res.token_type),
              Stage("embedded", "Embedded: LayerNorm(word + position + token type)", res.embedded)]
    ran = Ran(res.backend, "cpu", "float32", res.kernel)
    blocks = [Block(res.variant, L.weights, L.output, ran, i + 1) for i, L in enumerate(res.layers)]
    return Trace(res.text, e.tokens, stages, blocks, True, res.sentence_vector, None,
                 ModelInfo(**model_info(model, source)), e.ids, e.type_ids, e.truncated)
