"""`vectorize similarity`: the cosine of every pair of texts, by a pretrained model's sentence vectors."""

from typing import Annotated, Optional

import typer

from vectorize_cli.commands.options import (
    AttentionName, AttentionOpt, BackendName, BackendOpt, BatchSizeOpt, DeviceName, DeviceOpt, DtypeName, DtypeOpt,
    FileOpt, MaxMemoryOpt, MODEL_HELP, PrecisionOpt, StrictOpt, VectorFormat, VectorFormatOpt, values)

EPILOG = """
\b
Examples:
  vectorize similarity "A man is eating food." "A man eats." "The sky is blue."
  vectorize similarity - --format json < sample_inputs/english.txt
"""


def similarity(
    texts: Annotated[
        Optional[list[str]], typer.Argument(help="Two or more texts; `-` reads stdin, one per line.", show_default=False)
    ] = None,
    file: FileOpt = None,
    model: Annotated[str, typer.Option("--model", "-m", help=MODEL_HELP)] = "minilm",
    attention: AttentionOpt = [AttentionName("multi-head")],
    backend: BackendOpt = BackendName("numpy"),
    device: DeviceOpt = DeviceName("auto"),
    dtype: DtypeOpt = DtypeName("float32"),
    strict: StrictOpt = False,
    batch_size: BatchSizeOpt = 32,
    max_memory: MaxMemoryOpt = "4GiB",
    precision: PrecisionOpt = 3,
    output_format: VectorFormatOpt = VectorFormat("table"),
) -> None:
    """Cosine similarity of every pair of texts, by a pretrained model's sentence vectors."""
    from vectorize_cli import inputs, sink
    from vectorize_cli.commands.model import nonempty, one_attention, warn_truncated
    from vectorize_cli.config import ModelConfig
    from vectorize_cli.errors import UsageError
    from vectorize_cli.memory import parse_size
    from vectorize_cli.model import budget
    from vectorize_cli.output import WRITERS, Output, write_npy
    from vectorize_cli.encoder import Encoder
    from vectorize_cli.pipelines.bert import info
    from vectorize_cli.pooling import cosines
    from vectorize_cli.views.json import similarity_record
    from vectorize_cli.views.table import similarity_table

    config = ModelConfig(one_attention(values(attention)), backend.value, device.value, dtype.value, strict,
                         batch_size=batch_size, max_memory=parse_size(max_memory))
    source = inputs.from_cli(texts or [], file, False)
    texts = list(nonempty(source.sentences()))
    if len(texts) < 2:
        raise UsageError("give at least two texts to compare")
    budget.check_similarity(len(texts), output_format.value, config.max_memory)
    encoder = Encoder.open(model, config)
    e = encoder.encode(texts)
    warn_truncated(encoder.max_length, e.truncated.nonzero()[0].tolist(), False)
    cosine = cosines(e.vectors)  # (N, N)
    out = sink.stdout()
    if output_format.value == "npy":
        return write_npy(cosine, out)
    about = info(encoder.model)
    if output_format.value in ("svg", "png", "pdf"):
        raise UsageError(f"--format {output_format.value} draws attention; similarity writes table, json, jsonl, "
                         "npy or html")
    if output_format.value == "html":
        from vectorize_cli.output import write_picture
        from vectorize_cli.views.html import similarity_page

        return write_picture(similarity_page(about.name, texts, cosine), "html", out)
    how = Output(True, lambda c: similarity_record(about, texts, c),
                 lambda r, c: similarity_table(r, about.name, texts, c), precision)
    WRITERS[output_format.value]([cosine], how, out)
