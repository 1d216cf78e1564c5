"""Every option shared by more than one command, declared once as an `Annotated` alias (the way
huggingface_hub's CLI does it): one flag, one help text, one set of choices. Defaults stay with each
command; ranges are checked once, by config.py's dataclasses (or here, where no dataclass holds it).
Choices come from the registries, so a new variant or tokenizer is an option value at once.
"""

import enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from vectorize_cli.attention.variants import VARIANTS
from vectorize_cli.backend import BACKEND_NAMES, DEVICE_NAMES, DTYPE_NAMES
from vectorize_cli.embedding import EMBEDDINGS
from vectorize_cli.pooling import POOLING
from vectorize_cli.positional import POSITIONAL
from vectorize_cli.tokens import TOKENIZERS


def choices(name: str, names) -> type[enum.Enum]:
    """A str Enum of a registry's names: Typer shows them in --help and rejects others (exit 2)."""
    return enum.Enum(name, [(n, n) for n in names], type=str)


AttentionName = choices("AttentionName", VARIANTS)
PositionalName = choices("PositionalName", POSITIONAL)
TokenizerName = choices("TokenizerName", TOKENIZERS)
EmbeddingName = choices("EmbeddingName", EMBEDDINGS)
PoolName = choices("PoolName", POOLING)
BackendName = choices("BackendName", BACKEND_NAMES)
DeviceName = choices("DeviceName", DEVICE_NAMES)
DtypeName = choices("DtypeName", DTYPE_NAMES)
PICTURE_FORMATS = ["html", "svg", "png", "pdf"]  # views.pictures.PICTURES: a file, not a stream of records
Format = choices("Format", ["table", "json", "jsonl", "html"])
VectorFormat = choices("VectorFormat", ["table", "json", "jsonl", "npy", *PICTURE_FORMATS])  # npy: a model's vectors
Omit = choices("Omit", ["embedding", "positional", "encoded", "weights", "params", "output"])  # big fields


def values(options) -> list:
    """Enum options (one or repeated) -> their values, each once, in order."""
    return list(dict.fromkeys(getattr(o, "value", o) for o in options))


def given(ctx: typer.Context, names) -> list[str]:
    """The options among names that the user gave (not left at their defaults)."""
    sources = {n: ctx.get_parameter_source(n) for n in names}  # typer's own click: compare by name
    return [n for n, src in sources.items() if src is not None and src.name not in ("DEFAULT", "DEFAULT_MAP")]


MODEL_HELP = "A model folder (Hugging Face layout: config.json, model.safetensors, tokenizer.json) or `minilm`."

FileOpt = Annotated[
    Optional[Path], typer.Option("--file", "-f", help="Read texts from FILE, one per line.", show_default=False)]
AttentionOpt = Annotated[
    list[AttentionName],
    typer.Option("--attention", "-a", help="Attention variant; repeat to compare (--model: multi-head or flash)."),
]
BackendOpt = Annotated[
    BackendName, typer.Option("--backend", "-b", help="numpy (CPU, float32) or torch (fused flash kernel, CUDA).")]
DeviceOpt = Annotated[DeviceName, typer.Option("--device", help="auto: cuda when torch sees a GPU.")]
DtypeOpt = Annotated[DtypeName, typer.Option("--dtype", help="float16 / bfloat16 need --backend torch.")]
StrictOpt = Annotated[
    bool, typer.Option("--strict", help="Fail when torch's flash kernel cannot run, with torch's reasons.")]
MaxMemoryOpt = Annotated[
    str, typer.Option("--max-memory", help="Refuse runs whose arrays would exceed this (e.g. 8GiB).")]
BatchSizeOpt = Annotated[int, typer.Option(
    "--batch-size", help="--model: sentences per batch (npy, similarity). On a GPU, 256 runs about 3x faster.")]
PrecisionOpt = Annotated[int, typer.Option("--precision", min=0, max=12, help="Decimals shown in tables.")]
FormatOpt = Annotated[Format, typer.Option("--format", "-F", help="table, json, jsonl or html (a page).")]
VectorFormatOpt = Annotated[VectorFormat, typer.Option(
    "--format", "-F", help="table, json, jsonl, npy (a model's vectors), html (a page), svg, png or pdf (a figure).")]
OutputOpt = Annotated[
    Optional[Path],
    typer.Option("--output", "-o", help="Write to FILE atomically instead of stdout.", show_default=False)]
ForceOpt = Annotated[bool, typer.Option("--force", help="Let --output replace an existing file.")]
SeedOpt = Annotated[int, typer.Option("--seed", "-s", help="Seeds embeddings and all parameters.")]
DimOpt = Annotated[int, typer.Option("--dim", "-d", help="Model width d of every token vector.")]
HeadsOpt = Annotated[int, typer.Option("--heads", "-H", help="Heads of multi-head / flash.")]
CausalOpt = Annotated[bool, typer.Option("--causal", help="Mask future tokens (key after query).")]
