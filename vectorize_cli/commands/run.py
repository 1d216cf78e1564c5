"""`vectorize run`: a sentence (or one per line) through the toy pipeline or a pretrained model,
every stage shown. Which options apply to which is read off config.py's two dataclasses: an option
that is a field of Config only is the toy's, of ModelConfig only the model's; the others (input,
output, format) apply to both. A new option cannot be silently ignored by either."""

from dataclasses import fields
from functools import partial
from typing import Annotated, Optional

import typer

from vectorize_cli.commands.options import (
    ATTENTION, INPUT, MODEL, MODEL_HELP, OUTPUT, PIPELINE, AttentionName, AttentionOpt, BackendName, BackendOpt,
    CausalOpt, DecimalsOpt, DeprecatedPrecisionOpt, DeviceName, DeviceOpt, DimOpt, DtypeName, DtypeOpt, EmbeddingName,
    FileOpt, ForceOpt, HeadsOpt, MaxMemoryOpt, Omit, OutputOpt, PoolName, PositionalName, PromptNameOpt, PromptOpt,
    SeedOpt, StrictOpt, TokenizerName, TruncateDimOpt, batch_size_option, check_reads, format_option, given, values)
from vectorize_cli.config import Config, ModelConfig
from vectorize_cli.errors import UsageError

TOY_ONLY = tuple(f.name for f in fields(Config) if f.name not in {g.name for g in fields(ModelConfig)})
MODEL_ONLY = tuple(f.name for f in fields(ModelConfig) if f.name not in {g.name for g in fields(Config)})
RUN_KINDS = ("trace", "vectors")  # what run makes: every stage of a sentence; with --model, its vectors (npy)
RunFormat, RunFormatOpt = format_option("RunFormat", *RUN_KINDS)

EPILOG = """
\b
Examples:
  vectorize run "My deskmate and I made an appointment to play games at his house tomorrow."
  vectorize run "The cat sat." -a scaled-dot -a multi-head -a flash      # compare variants
  vectorize run "The cat sat." --format json | jq '.attention[0].sentence_vector'
  cat sample_inputs/english.txt | vectorize run - --format jsonl         # one record per line
  vectorize run "我和同桌约好明天在他家玩游戏" --dim 12 --heads 3 --causal --decimals 2
  vectorize run "The cat sat." --format html -o cat.html                # a page; --force replaces it
  vectorize run "The cat sat." --model minilm --layer 6 --head 3   # a pretrained model
  vectorize run - --model minilm --format npy < sample_inputs/english.txt > vectors.npy
"""


def _config(cls, params: dict, **given):
    """A config dataclass from the command's parameters of the same names (or as given)."""
    from vectorize_cli.memory import parse_size

    plain = {"attention": lambda v: tuple(values(v)), "max_memory": parse_size}
    return cls(**{f.name: given[f.name] if f.name in given else
                  plain.get(f.name, lambda v: getattr(v, "value", v))(params[f.name]) for f in fields(cls)})


def run(
    ctx: typer.Context,
    text: Annotated[
        Optional[str], typer.Argument(help="The sentence; `-` reads stdin, one sentence per line.", show_default=False)
    ] = None,
    file: FileOpt = None,
    whole: Annotated[bool, typer.Option("--whole", help="Treat all of stdin / FILE as one text.",
                                        rich_help_panel=INPUT)] = False,
    tokenizer: Annotated[TokenizerName, typer.Option(
        "--tokenizer", "-t", help="How text is split into tokens.", rich_help_panel=PIPELINE)] = TokenizerName("word"),
    embedding: Annotated[EmbeddingName, typer.Option(
        "--embedding", "-e", help="Token -> vector.", rich_help_panel=PIPELINE)] = EmbeddingName("hash"),
    positional: Annotated[PositionalName, typer.Option(
        "--positional", "-p", help="Positional encoding.", rich_help_panel=PIPELINE)] = PositionalName("sinusoidal"),
    dim: DimOpt = 8,
    heads: HeadsOpt = 2,
    head_dim: Annotated[Optional[int], typer.Option(
        "--head-dim", help="Size of each head [default: dim / heads].", show_default=False, rich_help_panel=PIPELINE)
    ] = None,
    seed: SeedOpt = 0,
    causal: CausalOpt = False,
    concat: Annotated[bool, typer.Option(
        "--concat", help="multi-head / flash: concatenate heads, no output projection W_o.", rich_help_panel=PIPELINE)
    ] = False,
    pool: Annotated[PoolName, typer.Option(
        "--pool", help="Token outputs -> sentence vector.", rich_help_panel=PIPELINE)] = PoolName("mean"),
    attention: AttentionOpt = [AttentionName("multi-head")],
    backend: BackendOpt = BackendName("numpy"),
    device: DeviceOpt = DeviceName("auto"),
    dtype: DtypeOpt = DtypeName("float32"),
    strict: StrictOpt = False,
    weights: Annotated[bool, typer.Option(
        "--weights", help="flash: also compute the weights by the explicit path.", rich_help_panel=ATTENTION)] = False,
    block_size: Annotated[int, typer.Option("--block-size", help="flash on numpy: tile size.",
                                            rich_help_panel=ATTENTION)] = 256,
    max_memory: MaxMemoryOpt = "4GiB",
    model: Annotated[Optional[str], typer.Option("--model", "-m", help=MODEL_HELP, rich_help_panel=MODEL)] = None,
    layer: Annotated[Optional[int], typer.Option(
        "--layer", help="--model: the layer whose attention is shown [default: 1].", show_default=False,
        rich_help_panel=MODEL)] = None,
    head: Annotated[Optional[int], typer.Option(
        "--head", help="--model: show only this head [default: all].", show_default=False, rich_help_panel=MODEL)
    ] = None,
    batch_size: batch_size_option("--model --format npy: sentences") = 32,
    rollout: Annotated[bool, typer.Option(
        "--rollout", help="--model: attention rollout across layers (Abnar & Zuidema 2020), in the JSON and a table.",
        rich_help_panel=MODEL)] = False,
    prompt_name: PromptNameOpt = None,
    prompt: PromptOpt = None,
    truncate_dim: TruncateDimOpt = None,
    output_format: RunFormatOpt = RunFormat("table"),
    output: OutputOpt = None,
    force: ForceOpt = False,
    decimals: DecimalsOpt = 3,
    omit: Annotated[list[Omit], typer.Option(
        "--omit", help="Leave a big field out of the JSON (repeat); the record lists what it omits.",
        rich_help_panel=OUTPUT)] = [],
    token: Annotated[Optional[str], typer.Option(
        "--token", help="Focus one token (WORD, or N: its row number from 0): its weights in every layer or "
                        "variant, and the page's first view.", show_default=False, rich_help_panel=OUTPUT)] = None,
    deprecated_precision: DeprecatedPrecisionOpt = None,
) -> None:
    """Run a sentence through the pipeline and show every stage.

    TEXT is the sentence; `-` reads stdin, one sentence per line (or all of it with --whole).
    """
    from vectorize_cli import inputs, progress, sink

    for name in given(ctx, TOY_ONLY if model is not None else MODEL_ONLY):
        raise UsageError(f"--{name.replace('_', '-')} does not apply with --model: the model fixes it"
                         if model is not None else f"--{name.replace('_', '-')} applies with --model")
    if output_format.value == "npy" and model is None:
        raise UsageError("--format npy writes a model's sentence vectors: give --model")
    check_reads(ctx, output_format.value, RUN_KINDS)
    source = inputs.from_cli([] if text is None else [text], file, whole)
    # a bar for batches, on a terminal's stderr, unless the data itself goes to that terminal
    show_bar = source.stream is not None and not whole and progress.wanted() and (output or not sink.stdout().isatty())
    how = dict(fmt=output_format.value, precision=decimals, omit=tuple(values(omit)), token=token)
    if model is not None:
        from vectorize_cli.commands.model import one_attention

        config = _config(ModelConfig, ctx.params, attention=one_attention(values(attention)))
        write = partial(_write_model, source, model, config, **how)
    else:
        from vectorize_cli.pipelines.toy import check_before_input

        config = _config(Config, ctx.params)
        check_before_input(config)  # before reading any input
        write = partial(_write_toy, source, config, **how)

    with sink.open_sink(output, force) as out, progress.bar(progress.size_of(source.stream) if show_bar else None,
                                                           show_bar) as advance:
        write(out, advance)


def _focused(tables, token: str | None, rollout: bool):
    """The tables of a trace, then --rollout's and --token's."""
    if token is None and not rollout:
        return tables

    def render(r, t):
        from rich.console import Group

        from vectorize_cli.focus import token_index
        from vectorize_cli.views.attention_tables import rollout_table, token_tables

        extra = [rollout_table(r, t)] if rollout else []
        return Group(tables(r, t), *extra, *(token_tables(r, t, token_index(t.tokens, token)) if token else []))

    return render


def _picture(traces, fmt: str, out, token: str | None, layer: int | None = None, head: int | None = None,
             max_memory: int | None = None) -> None:
    """--format html | svg | png | pdf: every trace into one file."""
    from vectorize_cli.focus import token_index
    from vectorize_cli.output import write_picture
    from vectorize_cli.views.pictures import PICTURES

    traces = list(traces)
    focus = [token_index(t.tokens, token) if token else None for t in traces]
    title = "vectorize: " + (traces[0].text if len(traces) == 1 else f"{len(traces)} texts")
    write_picture(PICTURES[fmt](traces, token=focus, layer=layer, head=head, title=title,
                                  max_memory=max_memory), fmt, out)


def _write_toy(source, config: Config, out, advance, fmt: str, precision: int, omit: tuple[str, ...],
               token: str | None) -> None:
    from vectorize_cli.output import WRITERS, Output
    from vectorize_cli.pipelines.toy import trace
    from vectorize_cli.views.json import toy_record
    from vectorize_cli.views.table import trace_tables

    traces = (trace(t, config) for t in source.sentences(advance))
    if fmt not in WRITERS:
        return _picture(traces, fmt, out, token, max_memory=config.max_memory)
    how = Output(source.single, partial(toy_record, omit=omit), _focused(trace_tables, token, False), precision,
                 config.max_memory)
    WRITERS[fmt](traces, how, out)


def _write_model(source, name: str, config: ModelConfig, out, advance, fmt: str, precision: int,
                 omit: tuple[str, ...], token: str | None) -> None:
    from vectorize_cli.commands.model import nonempty, warn_truncated
    from vectorize_cli.compiled import BYTES_A_TOKEN
    from vectorize_cli.encoder import Encoder
    from vectorize_cli.output import write_npy
    from vectorize_cli.progress import size_of

    # npy encodes the whole input as one run: its size (a file's, or stdin's from one) guesses the run's tokens
    size = size_of(source.stream) if fmt == "npy" and source.stream is not None else None
    encoder = Encoder.open(name, config, expect_tokens=(size or 0) // BYTES_A_TOKEN)
    texts = nonempty(source.sentences(advance))
    if fmt == "npy":
        e = encoder.encode(texts)
        warn_truncated(encoder.max_length, e.truncated.nonzero()[0].tolist(), source.single)
        return write_npy(e.vectors, out)
    from vectorize_cli.attention.variants import VARIANTS  # the records' and tables' modules: not npy's
    from vectorize_cli.output import WRITERS, Output
    from vectorize_cli.views.json import model_record
    from vectorize_cli.views.table import trace_tables

    def traces():
        for i, t in enumerate(texts):
            tr = encoder.trace(t)
            warn_truncated(encoder.max_length, [i] if tr.truncated else [], source.single)  # as each is written
            yield tr

    if fmt not in WRITERS:
        return _picture(traces(), fmt, out, token, config.layer, config.head, config.max_memory)

    if config.rollout and VARIANTS[config.attention].family != "explicit":
        raise UsageError(f"--rollout needs every layer's weights, which -a {config.attention} never holds: "
                         "use -a multi-head")
    record = partial(model_record, layer=config.layer, head=config.head, omit=omit, rollout=config.rollout)
    tables = _focused(partial(trace_tables, layer=config.layer, head=config.head), token, config.rollout)
    how = Output(source.single, record, tables, precision, config.max_memory)
    WRITERS[fmt](traces(), how, out)
