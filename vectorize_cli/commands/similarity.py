"""`vectorize similarity`: the cosine of every pair of texts, by a pretrained model's sentence vectors."""

from typing import Annotated, Optional

import typer

from vectorize_cli.commands.options import (
    MODEL, MODEL_HELP, BackendName, BackendOpt, DecimalsOpt, DeprecatedPrecisionOpt, DeviceName, DeviceOpt, DtypeName,
    DtypeOpt, FileOpt, ForceOpt, MaxMemoryOpt, ModelAttentionName, ModelAttentionOpt, OutputOpt, PromptNameOpt,
    PromptOpt, StrictOpt, TruncateDimOpt,
    batch_size_option, check_reads, format_option, values)

SimilarityFormat, SimilarityFormatOpt = format_option("SimilarityFormat", "similarity")

EPILOG = """
\b
Examples:
  vectorize similarity "A man is eating food." "A man eats." "The sky is blue."
  vectorize similarity - --format json < sample_inputs/english.txt
  vectorize similarity "A cat." "A dog." "A car." -F html -o sim.html    # a page; --force replaces it
"""


def similarity(
    ctx: typer.Context,
    texts: Annotated[
        Optional[list[str]], typer.Argument(help="Two or more texts; `-` reads stdin, one per line.", show_default=False)
    ] = None,
    file: FileOpt = None,
    model: Annotated[str, typer.Option("--model", "-m", help=MODEL_HELP, rich_help_panel=MODEL)] = "minilm",
    attention: ModelAttentionOpt = [ModelAttentionName("multi-head")],
    backend: BackendOpt = BackendName("numpy"),
    device: DeviceOpt = DeviceName("auto"),
    dtype: DtypeOpt = DtypeName("float32"),
    strict: StrictOpt = False,
    batch_size: batch_size_option("Texts") = 32,
    max_memory: MaxMemoryOpt = "4GiB",
    prompt_name: PromptNameOpt = None,
    prompt: PromptOpt = None,
    truncate_dim: TruncateDimOpt = None,
    output_format: SimilarityFormatOpt = SimilarityFormat("table"),
    output: OutputOpt = None,
    force: ForceOpt = False,
    decimals: DecimalsOpt = 3,
    deprecated_precision: DeprecatedPrecisionOpt = None,
) -> None:
    """Cosine similarity of every pair of texts, by a pretrained model's sentence vectors."""
    from vectorize_cli import inputs, sink
    from vectorize_cli.commands.model import nonempty, one_attention, warn_truncated
    from vectorize_cli.config import ModelConfig
    from vectorize_cli.errors import UsageError
    from vectorize_cli.memory import parse_size
    from vectorize_cli.model import budget
    from vectorize_cli.encoder import Encoder
    from vectorize_cli.pipelines.bert import info
    from vectorize_cli.pooling import cosines

    check_reads(ctx, output_format.value, ("similarity",))
    if output is not None:
        sink.check_target(output, force)  # before any work
    config = ModelConfig(one_attention(values(attention)), backend.value, device.value, dtype.value, strict,
                         batch_size=batch_size, max_memory=parse_size(max_memory), prompt_name=prompt_name,
                         prompt=prompt, truncate_dim=truncate_dim)
    source = inputs.from_cli(texts or [], file, False)
    texts = list(nonempty(source.sentences()))
    if len(texts) < 2:
        raise UsageError("give at least two texts to compare")
    budget.check_similarity(len(texts), output_format.value, config.max_memory)
    encoder = Encoder.open(model, config)
    e = encoder.encode(texts)
    warn_truncated(encoder.max_length, e.truncated.nonzero()[0].tolist(), False)
    cosine = cosines(e.vectors)  # (N, N)
    write = {"npy": _npy, "html": _page, "table": _records, "json": _records, "jsonl": _records}
    with sink.open_sink(output, force) as out:
        write[output_format.value](info(encoder.model), texts, cosine, output_format.value, decimals, out)


def _npy(about, texts: list[str], cosine, fmt: str, decimals: int, out) -> None:
    from vectorize_cli.output import write_npy

    write_npy(cosine, out)


def _page(about, texts: list[str], cosine, fmt: str, decimals: int, out) -> None:
    from vectorize_cli.output import write_picture
    from vectorize_cli.views.html import similarity_page

    write_picture(similarity_page(about.name, texts, cosine), fmt, out)


def _records(about, texts: list[str], cosine, fmt: str, decimals: int, out) -> None:
    from vectorize_cli.output import WRITERS, Output
    from vectorize_cli.views.json import similarity_record
    from vectorize_cli.views.table import similarity_table

    how = Output(True, lambda c: similarity_record(about, texts, c),
                 lambda r, c: similarity_table(r, about.name, texts, c), decimals)
    WRITERS[fmt]([cosine], how, out)
