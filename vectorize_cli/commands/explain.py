"""`vectorize explain`: why two texts are similar, token pair by token pair (the cosine of their sentence vectors
split into one term per pair) and layer by layer (the cosine of the pooled hidden states after each layer), by
a pretrained model (--model) or by the toy pipeline."""

from typing import Annotated, Optional

import typer

from vectorize_cli.commands.options import (
    ATTENTION, MODEL, OUTPUT, PIPELINE, AttentionName, DecimalsOpt, DimOpt, FileOpt, ForceOpt, HeadsOpt, MaxMemoryOpt, MODEL_HELP, OutputOpt, SeedOpt, check_reads,
    choices, format_option, given)

EPILOG = """
\b
Examples:
  vectorize explain "A man is eating food." "A man eats a meal." --model minilm
  vectorize explain "The cat sat on the mat." "A cat is sitting on a rug." -m minilm -F html -o why.html
  vectorize explain -f sample_inputs/pair.txt -m minilm -F json | jq '.top_pairs[0]'
  vectorize explain "The cat sat." "The dog sat."                 # the toy pipeline, no model needed
"""
TOY_OPTIONS = ("dim", "heads", "seed", "pool")  # the toy pipeline's options: the model fixes them


ExplainFormat, ExplainFormatOpt = format_option("ExplainFormat", "explain")
ExplainPool = choices("ExplainPool", ["mean", "max", "first"])


def _write_table(e, top: int, decimals: int, out) -> None:
    from vectorize_cli.output import WRITERS, Output
    from vectorize_cli.views.explain_json import explain_record
    from vectorize_cli.views.explain_table import explain_tables

    WRITERS["table"]([e], Output(True, lambda x: explain_record(x, top), lambda r, x: explain_tables(r, x, top),
                                 decimals), out)


def _json_writer(fmt: str):
    def write(e, top: int, decimals: int, out) -> None:
        from vectorize_cli.output import WRITERS, Output
        from vectorize_cli.views.explain_json import explain_record

        WRITERS[fmt]([e], Output(True, lambda x: explain_record(x, top), None, decimals), out)

    return write


def _write_html(e, top: int, decimals: int, out) -> None:
    from vectorize_cli.output import write_picture
    from vectorize_cli.views.explain_page import explain_page

    write_picture(explain_page(e, top, title=f"vectorize explain: {e.texts[0][:80]} | {e.texts[1][:80]}"), "html",
                  out)


def _figure_writer(fmt: str):
    def write(e, top: int, decimals: int, out) -> None:
        from vectorize_cli.output import write_picture
        from vectorize_cli.views.explain_figure import explain_figure

        write_picture(explain_figure(e, fmt), fmt, out)

    return write


WRITE = {"table": _write_table, "json": _json_writer("json"), "jsonl": _json_writer("jsonl"), "html": _write_html,
         **{fmt: _figure_writer(fmt) for fmt in ("svg", "png", "pdf")}}  # every format FORMATS offers explain


def _two(source) -> list[str]:
    from vectorize_cli.commands.model import nonempty
    from vectorize_cli.errors import UsageError

    texts = []
    for t in nonempty(source.sentences()):
        texts.append(t)
        if len(texts) > 2:
            break
    if len(texts) != 2:
        raise UsageError(f"explain compares exactly two texts (A and B); {source.name} gave "
                         f"{'more than 2' if len(texts) > 2 else len(texts)}")
    return texts


def _by_model(texts: list[str], source: str, attention: str, max_memory: int):
    from vectorize_cli.commands.model import one_attention, warn_truncated
    from vectorize_cli.config import ModelConfig
    from vectorize_cli.encoder import Encoder
    from vectorize_cli.errors import UsageError
    from vectorize_cli.explain import explain_pair
    from vectorize_cli.model.modules import Dense

    encoder = Encoder.open(source, ModelConfig(one_attention([attention]), max_memory=max_memory))
    if any(isinstance(s, Dense) for s in encoder.model.folder.head.steps) or encoder.skip:
        raise UsageError(f"explain splits the cosine of pooled hidden states; the model {encoder.name} changes them "
                         "after pooling (a Dense module) or pools without its prompt, which it cannot split")
    a, b = (encoder.trace(t) for t in texts)
    warn_truncated(encoder.max_length, [i for i, t in enumerate((a, b)) if t.truncated], False)
    return explain_pair(a, b, encoder.encode(texts).vectors)  # the vectors `similarity` compares, batched alike


def _by_toy(texts: list[str], attention: str, dim: int, heads: int, seed: int, pool: str, max_memory: int):
    from vectorize_cli.config import Config
    from vectorize_cli.explain import explain_pair
    from vectorize_cli.pipelines.toy import check_before_input, trace

    config = Config(dim=dim, heads=heads, attention=(attention,), pool=pool, seed=seed, max_memory=max_memory)
    check_before_input(config)
    return explain_pair(*(trace(t, config) for t in texts))


def explain(
    ctx: typer.Context,
    texts: Annotated[Optional[list[str]], typer.Argument(
        help="The two texts A and B; `-` reads stdin, two lines.", show_default=False)] = None,
    file: FileOpt = None,
    model: Annotated[Optional[str], typer.Option(
        "--model", "-m", help=MODEL_HELP + " [default: the toy pipeline]", show_default=False,
        rich_help_panel=MODEL)] = None,
    attention: Annotated[AttentionName, typer.Option(
        "--attention", "-a", help="The attention variant (--model: multi-head or flash).",
        rich_help_panel=ATTENTION)] = AttentionName("multi-head"),
    dim: DimOpt = 8,
    heads: HeadsOpt = 2,
    seed: SeedOpt = 0,
    pool: Annotated[ExplainPool, typer.Option(
        "--pool", help="The toy's pooling (a model's is its own): mean splits exactly; max and first are "
                       "not linear, and the output says what it shows instead.",
        rich_help_panel=PIPELINE)] = ExplainPool("mean"),
    top: Annotated[int, typer.Option("--top", min=1, max=1000, help="Token pairs listed.",
                                     rich_help_panel=OUTPUT)] = 10,
    decimals: DecimalsOpt = 3,
    max_memory: MaxMemoryOpt = "4GiB",
    output_format: ExplainFormatOpt = ExplainFormat("table"),
    output: OutputOpt = None,
    force: ForceOpt = False,
) -> None:
    """Why two texts are similar: their cosine split into one term per token pair, and the cosine after each layer.

    A and B are the texts; `-` reads two lines from stdin, --file two lines from a file.
    """
    from vectorize_cli import inputs, sink
    from vectorize_cli.errors import UsageError
    from vectorize_cli.memory import parse_size

    check_reads(ctx, output_format.value, ("explain",))
    if model is not None:
        for name in given(ctx, TOY_OPTIONS):
            raise UsageError(f"--{name} does not apply with --model: the model fixes it")
    texts = _two(inputs.from_cli(texts or [], file, False))
    limit = parse_size(max_memory)
    e = _by_model(texts, model, attention.value, limit) if model is not None else \
        _by_toy(texts, attention.value, dim, heads, seed, pool.value, limit)
    with sink.open_sink(output, force) as out:
        WRITE[output_format.value](e, top, decimals, out)
