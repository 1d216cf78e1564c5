"""Today's pipeline results as a Trace, until the pipelines return one themselves (the "one shape"
refactor: vectorize_cli.pipelines.toy.trace and vectorize_cli.pipelines.bert.trace). Then these three
become those two functions and Block itself, and this file goes. Used by the views' tests, benchmarks and
screenshots, and by example_page."""

from vectorize_cli.trace import Block, ModelInfo, Ran, Stage, Trace


def as_block(a) -> Block:
    """A toy AttentionResult (or a Block, unchanged) as a Block."""
    if isinstance(a, Block):
        return a
    ran = Ran(a.backend, a.device, a.dtype, a.kernel, a.notes)
    return Block(a.variant, a.weights, a.output, ran, None, a.params, a.sentence_vector, a.explicit_max_abs_delta,
                 a.reference_max_abs_delta)


def toy_trace(text: str, config) -> Trace:
    """The toy pipeline on one text: its variants side by side."""
    from vectorize_cli.pipeline import run

    r = run(text, config)
    stages = [Stage("embedding", "Embedding", r.embedding), Stage("positional", "Positional encoding", r.positional),
              Stage("encoded", "Embedding + positional", r.encoded)]
    return Trace(r.text, r.tokens, stages, [as_block(a) for a in r.attention], False, config=r.config)


def model_trace(model, text: str, source: str = "minilm") -> Trace:
    """A pretrained model on one text: its layers in order."""
    from vectorize_cli.model.pipeline import trace
    from vectorize_cli.model.serialize import model_info

    res = trace(model, text)
    e = res.encoding
    stages = [Stage("word_embedding", "Word embedding", res.word),
              Stage("position_embedding", "Position embedding", res.position),
              Stage("token_type_embedding", "Token-type embedding", res.token_type),
              Stage("embedded", "Embedded: LayerNorm(word + position + token type)", res.embedded)]
    ran = Ran(res.backend, "cpu", "float32", res.kernel)
    blocks = [Block(res.variant, L.weights, L.output, ran, i + 1) for i, L in enumerate(res.layers)]
    return Trace(res.text, e.tokens, stages, blocks, True, res.sentence_vector, None,
                 ModelInfo(**model_info(model, source)), e.ids, e.type_ids, e.truncated)
