"""The resolved options of one run: Config for the toy pipeline, ModelConfig for a pretrained model.
Frozen, hashable (Config keys the parameter cache), and written into every JSON record so that any
run can be repeated from its output. Their fields are the options' names: which options apply with
--model is read off them (commands/run.py), never kept in a list by hand. Ranges are checked here,
once, for the CLI and the library alike.
"""

from dataclasses import asdict, dataclass
from functools import cached_property

from vectorize_cli.errors import UsageError

INT64 = 2**63  # integer options are signed 64-bit, the widest integers orjson writes
GiB = 2**30


@dataclass(frozen=True)
class Config:
    tokenizer: str = "word"  # text -> tokens: word | whitespace | char
    embedding: str = "hash"  # token -> vector: a seeded vector per distinct token
    positional: str = "sinusoidal"  # position -> vector: sinusoidal | learned | linear | none
    dim: int = 8  # d, the width of every token vector; 8 keeps tables readable
    heads: int = 2  # H, heads of multi-head / flash
    head_dim: int | None = None  # hs, each head's size; None means dim // heads
    attention: tuple[str, ...] = ("multi-head",)  # variants to run, in order
    causal: bool = False  # mask future tokens (key j > query i) in every variant
    concat: bool = False  # multi-head / flash: no output projection W_o, output is T x (H * hs)
    pool: str = "mean"  # token outputs -> sentence vector: mean | max | first | none
    seed: int = 0  # seeds embeddings and every parameter
    block_size: int = 256  # flash on numpy: queries and keys per tile (256-512 is fastest for long texts)
    backend: str = "numpy"  # numpy | torch: where the attention runs (numpy: CPU, float32)
    device: str = "auto"  # auto | cpu | cuda: auto is cuda when torch (--backend torch) sees a GPU
    dtype: str = "float32"  # float32 | float16 | bfloat16 (the last two need --backend torch)
    strict: bool = False  # fail when the requested fused kernel cannot run, instead of falling back
    weights: bool = False  # flash: also compute the weights by the explicit path, and the difference
    max_memory: int = 4 * GiB  # refuse runs whose estimated arrays exceed this many bytes

    def __post_init__(self) -> None:
        for option in ("dim", "heads", "head_dim", "block_size", "seed", "max_memory"):
            value = getattr(self, option)
            if value is not None and not -INT64 <= value < INT64:  # so that the JSON record holds it exactly
                raise UsageError(f"--{option.replace('_', '-')} {value} does not fit in a signed 64-bit integer")
        if self.dim < 1:
            raise UsageError(f"--dim must be at least 1, got {self.dim}")
        if self.heads < 1:
            raise UsageError(f"--heads must be at least 1, got {self.heads}")
        if self.head_dim is None:
            if self.dim % self.heads:
                raise UsageError(
                    f"--dim {self.dim} does not split into {self.heads} heads; "
                    f"pick --heads dividing {self.dim} or give --head-dim"
                )
            object.__setattr__(self, "head_dim", self.dim // self.heads)
        if self.head_dim < 1:
            raise UsageError(f"--head-dim must be at least 1, got {self.head_dim}")
        if self.block_size < 1:
            raise UsageError(f"--block-size must be at least 1, got {self.block_size}")
        if not self.attention:
            raise UsageError("give at least one attention variant")
        if self.max_memory < 1:
            raise UsageError(f"--max-memory must be positive, got {self.max_memory}")
        object.__setattr__(self, "attention", tuple(self.attention))

    def to_dict(self) -> dict:
        """Every resolved option, under the names the JSON contract documents (computed once: read-only)."""
        return self._as_dict

    @cached_property
    def _as_dict(self) -> dict:
        d = asdict(self)
        d["attention"] = list(self.attention)
        return d


@dataclass(frozen=True)
class ModelConfig:
    """A pretrained model's run (--model): the model fixes the sizes, tokenizer and pooling."""

    attention: str = "multi-head"  # multi-head | flash: the same function, two ways to compute it
    backend: str = "numpy"  # numpy | torch
    device: str = "auto"  # auto | cpu | cuda
    dtype: str = "float32"  # float32 | float16 | bfloat16 (torch)
    strict: bool = False  # fail when torch's flash kernel cannot run
    layer: int | None = None  # the layer whose attention tables show, 1-based [1]
    head: int | None = None  # show only this head, 1-based [all]
    batch_size: int = 32  # sentences per batch (npy, similarity)
    rollout: bool = False  # add the attention rollout across the layers to the JSON and the tables
    max_memory: int = 4 * GiB  # refuse inputs whose arrays would exceed this many bytes
    prompt_name: str | None = None  # one of the model's prompts, prepended to every text [its default prompt]
    prompt: str | None = None  # a prompt's text, prepended to every text (instead of --prompt-name)
    truncate_dim: int | None = None  # Matryoshka: keep the vectors' first N dimensions [all]

    def __post_init__(self) -> None:
        if self.prompt is not None and self.prompt_name is not None:
            raise UsageError("give --prompt or --prompt-name, not both")
        if self.truncate_dim is not None and not 1 <= self.truncate_dim < INT64:
            raise UsageError(f"--truncate-dim must be at least 1, got {self.truncate_dim}")
        if self.batch_size < 1:
            raise UsageError(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.max_memory < 1:
            raise UsageError(f"--max-memory must be positive, got {self.max_memory}")
