"""Every option shared by more than one command, declared once as an `Annotated` alias (the way
huggingface_hub's CLI does it): one flag, one help text, one set of choices. Defaults stay with each
command; ranges are checked once, by config.py's dataclasses (or here, where no dataclass holds it).
Choices come from the registries, so a new variant or tokenizer is an option value at once; a command's
--format choices come from views/formats.FORMATS, which also says which options each format reads.
"""

import enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from vectorize_cli.attention.variants import MODEL_VARIANTS, VARIANTS
from vectorize_cli.backend import BACKEND_NAMES, DEVICE_NAMES, DTYPE_NAMES
from vectorize_cli.embedding import EMBEDDINGS
from vectorize_cli.errors import UsageError
from vectorize_cli.pooling import POOLING
from vectorize_cli.positional import POSITIONAL
from vectorize_cli.tokens import TOKENIZERS
from vectorize_cli.views.formats import VIEW_OPTIONS, describe, formats_for, reads

# --help's panels (commands/command.py prints each as a section)
INPUT, PIPELINE, ATTENTION, MODEL, OUTPUT = "Input", "Pipeline (the toy)", "Attention", "Model", "Output"
# a deprecated flag -> the option that replaced it; kept hidden for one release (commands/command.py)
RENAMED = {"--precision": "--decimals", "--index": "--dataset"}


def choices(name: str, names) -> type[enum.Enum]:
    """A str Enum of a registry's names: Typer shows them in --help and rejects others (exit 2)."""
    return enum.Enum(name, [(n, n) for n in names], type=str)


AttentionName = choices("AttentionName", VARIANTS)
ModelAttentionName = choices("ModelAttentionName", MODEL_VARIANTS)  # the variants a pretrained BERT has
PositionalName = choices("PositionalName", POSITIONAL)
TokenizerName = choices("TokenizerName", TOKENIZERS)
EmbeddingName = choices("EmbeddingName", EMBEDDINGS)
PoolName = choices("PoolName", POOLING)
BackendName = choices("BackendName", BACKEND_NAMES)
DeviceName = choices("DeviceName", DEVICE_NAMES)
DtypeName = choices("DtypeName", DTYPE_NAMES)
Omit = choices("Omit", ["embedding", "positional", "encoded", "weights", "params", "output"])  # big fields


def format_option(name: str, *kinds: str):
    """A command's --format, from the kinds of result it makes: (the Enum of the formats that draw one of
    them, the option listing them)."""
    names = choices(name, formats_for(kinds))
    return names, Annotated[names, typer.Option("--format", "-F", help=describe(kinds), rich_help_panel=OUTPUT)]


def values(options) -> list:
    """Enum options (one or repeated) -> their values, each once, in order."""
    return list(dict.fromkeys(getattr(o, "value", o) for o in options))


def given(ctx: typer.Context, names) -> list[str]:
    """The options among names that the user gave (not left at their defaults)."""
    sources = {n: ctx.get_parameter_source(n) for n in names}  # typer's own click: compare by name
    return [n for n, src in sources.items() if src is not None and src.name not in ("DEFAULT", "DEFAULT_MAP")]


def flag(ctx: typer.Context, name: str) -> str:
    """The option's long flag as the user types it (batch_size -> --batch-size)."""
    return next((p.opts[0] for p in ctx.command.params if p.name == name), "--" + name.replace("_", "-"))


def check_reads(ctx: typer.Context, fmt: str, kinds: tuple[str, ...]) -> None:
    """Every option given is read by --format fmt (views/formats.py says which format reads what): --decimals
    with html or --omit with a table is a usage error naming the formats that read it, never dropped."""
    drawn = formats_for(kinds)
    for name in given(ctx, [p.name for p in ctx.command.params if p.name in VIEW_OPTIONS]):
        if name not in reads(fmt, drawn[fmt]):
            where = [f for f, kind in drawn.items() if name in reads(f, kind)] or ["no format of this command"]
            raise UsageError(f"{flag(ctx, name)} does not apply to --format {fmt}; it applies to "
                             + (", ".join(where[:-1]) + " or " if len(where) > 1 else "") + where[-1])


def deprecated(flags: tuple[str, ...], kind: type, **checks):
    """The hidden old name of an option (RENAMED): commands/command.py folds its value into the new option
    and prints one note saying to use the new name."""
    assert flags[0] in RENAMED, flags
    return Annotated[Optional[kind], typer.Option(*flags, hidden=True, show_default=False, **checks)]


def batch_size_option(what: str):
    """--batch-size, saying what it batches in this command."""
    return Annotated[int, typer.Option("--batch-size", min=1, rich_help_panel=MODEL, help=(
        f"{what} per batch. On a GPU, 256 runs about 3x faster."))]


MODEL_HELP = "A model folder (Hugging Face layout: config.json, model.safetensors, tokenizer.json) or `minilm`."

PromptNameOpt = Annotated[Optional[str], typer.Option(
    "--prompt-name", show_default=False, rich_help_panel=MODEL,
    help="One of the model's prompts (config_sentence_transformers.json), prepended to every text "
         "[default: the model's default prompt; embed: its document prompt, search: its query prompt].")]
PromptOpt = Annotated[Optional[str], typer.Option(
    "--prompt", show_default=False, rich_help_panel=MODEL, help="A prompt's text, prepended to every text.")]
TruncateDimOpt = Annotated[Optional[int], typer.Option(
    "--truncate-dim", min=1, show_default=False, rich_help_panel=MODEL,
    help="Keep the vectors' first N dimensions (Matryoshka), as sentence-transformers' truncate_dim.")]
FileOpt = Annotated[Optional[Path], typer.Option(
    "--file", "-f", help="Read texts from FILE, one per line.", show_default=False, rich_help_panel=INPUT)]
AttentionOpt = Annotated[list[AttentionName], typer.Option(
    "--attention", "-a", rich_help_panel=ATTENTION,
    help=f"Attention variant; repeat to compare. With --model: one of {' or '.join(MODEL_VARIANTS)}.")]
ModelAttentionOpt = Annotated[list[ModelAttentionName], typer.Option(
    "--attention", "-a", rich_help_panel=ATTENTION,
    help="The model's attention: the same function, the weights materialised or not (flash).")]
BackendOpt = Annotated[BackendName, typer.Option(
    "--backend", "-b", help="numpy (CPU, float32) or torch (fused flash kernel, CUDA).", rich_help_panel=ATTENTION)]
DeviceOpt = Annotated[DeviceName, typer.Option(
    "--device", help="auto: cuda when torch sees a GPU; cuda needs --backend torch and a GPU.",
    rich_help_panel=ATTENTION)]
DtypeOpt = Annotated[DtypeName, typer.Option(
    "--dtype", help="float16 / bfloat16 need --backend torch.", rich_help_panel=ATTENTION)]
StrictOpt = Annotated[bool, typer.Option(
    "--strict", help="Fail when torch's flash kernel cannot run, with torch's reasons.", rich_help_panel=ATTENTION)]
MaxMemoryOpt = Annotated[str, typer.Option(
    "--max-memory", help="Refuse runs whose arrays would exceed this (e.g. 8GiB).", rich_help_panel=ATTENTION)]
DecimalsOpt = Annotated[int, typer.Option(
    "--decimals", min=0, max=12, help="Decimals shown in tables (--format table).", rich_help_panel=OUTPUT)]
DeprecatedPrecisionOpt = deprecated(("--precision",), int, min=0, max=12)  # renamed --decimals: one meaning a name
OutputOpt = Annotated[Optional[Path], typer.Option(
    "--output", "-o", help="Write to FILE atomically instead of stdout.", show_default=False, rich_help_panel=OUTPUT)]
ForceOpt = Annotated[bool, typer.Option(
    "--force", help="Let --output replace an existing file.", rich_help_panel=OUTPUT)]
SeedOpt = Annotated[int, typer.Option("--seed", "-s", help="Seeds embeddings and all parameters.",
                                      rich_help_panel=PIPELINE)]
DimOpt = Annotated[int, typer.Option("--dim", "-d", help="Model width d of every token vector.",
                                     rich_help_panel=PIPELINE)]
HeadsOpt = Annotated[int, typer.Option("--heads", "-H", help="Heads of multi-head / flash.", rich_help_panel=PIPELINE)]
CausalOpt = Annotated[bool, typer.Option("--causal", help="Mask future tokens (key after query).",
                                         rich_help_panel=PIPELINE)]
