"""`vectorize embed`: a corpus to a Parquet dataset of sentence vectors (vectorize_cli/corpus/). Options only;
imports nothing heavy until the command runs."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from vectorize_cli.commands.options import (
    MODEL_HELP, BackendName, BackendOpt, DeviceName, DeviceOpt, DtypeName, DtypeOpt, ModelAttentionName,
    ModelAttentionOpt, PromptNameOpt, PromptOpt, TruncateDimOpt, batch_size_option, choices, given, values)
from vectorize_cli.dataset.precision import PRECISIONS
from vectorize_cli.errors import UsageError

ENGINE_NAMES = ("local", "ray")  # corpus/job.ENGINES' keys, kept light here
RAY_OPTIONS = ("workers", "gpus_per_worker", "address")


EngineName = choices("EngineName", ENGINE_NAMES)
PrecisionName = choices("PrecisionName", PRECISIONS)

EPILOG = """
\b
Examples:
  vectorize embed sample_inputs/english.txt -o vectors/                      # one Parquet dataset
  vectorize embed sample_inputs/corpus/ 'sample_inputs/*.jsonl' --column body -o corpus-vectors/ --no-text
  vectorize embed sample_inputs/english.txt -o vectors/ --resume             # after a crash: finish it
  vectorize embed sample_inputs/english.txt -o vectors-int8/ --precision int8  # 4x smaller vectors
  vectorize embed sample_inputs/english.txt -o vectors-ray/ --engine ray --address HEAD:6379  # on a Ray cluster
  python -c "import pyarrow.dataset as ds; print(ds.dataset('vectors/').to_table().num_rows)"
"""


def embed(
    ctx: typer.Context,
    paths: Annotated[
        list[str], typer.Argument(metavar="INPUT...", help="Text files (one text per line), `-` (stdin), .jsonl, "
                                  ".csv, .parquet (--column), directories, globs.", show_default=False)
    ],
    out: Annotated[Path, typer.Option("--output", "-o", help="The dataset: a directory (DIR), made if missing, that "
                                      "holds its Parquet parts and _SUCCESS; not a file.", show_default=False)],
    model: Annotated[str, typer.Option("--model", "-m", help=MODEL_HELP)] = "minilm",
    attention: ModelAttentionOpt = [ModelAttentionName("multi-head")],
    backend: BackendOpt = BackendName("numpy"),
    device: DeviceOpt = DeviceName("auto"),
    dtype: DtypeOpt = DtypeName("float32"),
    batch_size: batch_size_option("Texts embedded") = 32,
    prompt_name: PromptNameOpt = None,
    prompt: PromptOpt = None,
    truncate_dim: TruncateDimOpt = None,
    column: Annotated[
        Optional[str], typer.Option("--column", help=".jsonl / .csv / .parquet: the text's column [default: text].",
                                    show_default=False)
    ] = None,
    no_text: Annotated[bool, typer.Option("--no-text", help="Leave the text column out.")] = False,
    precision: Annotated[
        PrecisionName, typer.Option("--precision", help="Stored vectors: float32, int8, uint8 (ranges calibrated), "
                                    "binary, ubinary (1 bit a dimension).")
    ] = PrecisionName("float32"),
    ranges: Annotated[
        Optional[Path], typer.Option("--ranges", help="int8/uint8: ranges (2 x d, .npy or JSON) instead of "
                                     "calibrating on the first 8,192 rows.", show_default=False)
    ] = None,
    part_rows: Annotated[int, typer.Option("--part-rows", min=1, help="Rows per part file (at most what a crash "
                                           "loses): up to 8192 or a multiple of it.")] = 65536,
    resume: Annotated[bool, typer.Option("--resume", help="Finish a dataset a crash cut short.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace the dataset in -o DIR.")] = False,
    engine: Annotated[EngineName, typer.Option("--engine", help="local (this process) or ray (pip install "
                                               "'vectorize-cli[ray]').")] = EngineName("local"),
    workers: Annotated[int, typer.Option("--workers", min=1, help="ray: model replicas (actors), spread over "
                                         "the nodes.")] = 2,
    gpus_per_worker: Annotated[float, typer.Option("--gpus-per-worker", min=0, help="ray: GPUs each worker "
                                                   "holds (with -b torch).")] = 0,
    address: Annotated[
        Optional[str], typer.Option("--address", help="ray: join this running cluster (HEAD:6379) [default: start "
                                    "Ray on this machine].", show_default=False)
    ] = None,
) -> None:
    """Embed a corpus into a Parquet dataset: resumable, quantized, on this machine or a Ray cluster."""
    from vectorize_cli import progress
    from vectorize_cli.commands.model import one_attention
    from vectorize_cli.config import ModelConfig
    from vectorize_cli.corpus import job as jobs
    from vectorize_cli.corpus.inputs import resolve_inputs
    from vectorize_cli.errors import tell
    from vectorize_cli.pipelines.bert import backend_for

    if engine.value != "ray":
        for name in given(ctx, RAY_OPTIONS):
            raise UsageError(f"--{name.replace('_', '-')} applies with --engine ray")
    if ranges is not None and not PRECISIONS[precision.value].calibrated:
        raise UsageError("--ranges applies with --precision " +
                         " or ".join(n for n, p in PRECISIONS.items() if p.calibrated))
    options = {"workers": workers, "gpus_per_worker": gpus_per_worker, "address": address} \
        if engine.value == "ray" else {}
    config = ModelConfig(one_attention(values(attention)), backend.value, device.value, dtype.value,
                         batch_size=batch_size, prompt_name=prompt_name, prompt=prompt, truncate_dim=truncate_dim)
    backend_for(config)  # a variant a BERT has, a backend that can run: before reading anything
    job = jobs.Job(paths, out, model, config, precision.value, ranges,
                   column, not no_text, resume, force, part_rows, engine.value, options)
    sizes = [i.size() for i in resolve_inputs(paths)] if progress.wanted() else [None]
    total = None if None in sizes else sum(sizes)
    with progress.bar(total, progress.wanted(), unit="rows") as advance:
        done = jobs.embed_corpus(job, advance)
    if done.already:
        tell("note", f"{out} is already complete: {done.rows:,} rows")
        return
    for node, n in sorted(done.stats.get("rows_per_node", {}).items()):
        tell("note", f"ray: {n:,} rows embedded on node {node[:12]}")
    if not progress.wanted():  # the summary goes where the bar went: a terminal's stderr, never a script's
        return
    rate = done.written / done.seconds if done.seconds else 0.0
    tell("note", f"{out}: {done.rows:,} rows in {len(done.parts)} part{'s' * (len(done.parts) != 1)}"
                 f" ({done.written:,} embedded now in {done.seconds:.1f} s, {rate:,.0f} rows/s)")
