"""Which `vectorize run` options belong to the toy pipeline and which to --model: they do not mix.
Kept apart from model/cli.py so that checking them imports nothing heavy."""

from vectorize_cli.errors import UsageError

TOY_OPTIONS = ("dim", "heads", "head_dim", "positional", "tokenizer", "embedding", "seed", "causal", "concat", "pool",
               "device", "dtype", "strict", "weights", "block_size", "omit")  # --max-memory: both (model/budget.py)
MODEL_OPTIONS = ("layer", "head", "batch_size")


def _given(ctx, names) -> list[str]:
    """The options among names that the user gave (not left at their defaults)."""
    sources = {n: ctx.get_parameter_source(n) for n in names}  # typer's own click: compare by name
    return [n for n, src in sources.items() if src is not None and src.name not in ("DEFAULT", "DEFAULT_MAP")]


def check_options(ctx, model: str | None) -> None:
    """--model replaces the toy model: its options and the model's do not mix."""
    if model is None:
        for name in _given(ctx, MODEL_OPTIONS):
            raise UsageError(f"--{name.replace('_', '-')} applies with --model")
    else:
        for name in _given(ctx, TOY_OPTIONS):
            raise UsageError(f"--{name.replace('_', '-')} does not apply with --model: the model fixes it")
