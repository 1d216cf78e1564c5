"""The trace: what a pipeline produces for one sentence, and the one value every view reads.

    Trace
      tokens                       T strings
      stages    [Stage]            named (T, d) matrices before attention, in order (MPNet's relative
                                   position bias: (H, T, T), one T x T matrix per head)
      blocks    [Block]            attention: (H, T, T) weights or None, (T, d_out) output, how it ran
      sentence_vector              (d,) a model's pooled last layer (the toy pools each block)

The toy pipeline's blocks are its variants, side by side on the same input (`layered` False);
a pretrained model's blocks are its layers, applied in turn (`layered` True). Tables, JSON and
pictures are functions of a trace, so they cannot disagree, and a new pipeline gets every view.
"""

from dataclasses import dataclass, field

import numpy as np

from vectorize_cli.config import Config


@dataclass(frozen=True)
class Ran:
    """How an attention block actually ran."""

    backend: str = "numpy"  # numpy | torch
    device: str = "cpu"  # cpu | cuda
    dtype: str = "float32"  # the dtype that ran (CUDA's flash kernel, --strict, casts float32 to bfloat16)
    op: str = "explicit"  # explicit | tiled-online-softmax[+compiled-exp] | the aten op of torch's fused kernel
    notes: tuple[str, ...] = ()  # anything the user should know about how it ran


@dataclass(frozen=True)
class Stage:
    key: str  # its JSON field: "embedding", "word_embedding", ...
    title: str  # its table title
    values: np.ndarray  # (T, d), or (H, T, T) per head: rows queries, columns keys (MPNet's relative position bias)
    in_tables: bool = True  # tables show it (a single sentence's token types are all one row: tables skip it)


@dataclass(frozen=True)
class Block:
    variant: str  # the attention variant, a key of attention.variants.VARIANTS
    weights: np.ndarray | None  # (H, T, T): rows queries, columns keys; None where never materialised
    output: np.ndarray  # (T, d_out)
    ran: Ran = Ran()
    layer: int | None = None  # a model's layer, 1-based; None for the toy's variants
    params: dict[str, np.ndarray] = field(default_factory=dict)  # toy: every parameter used, "x @ W" layout
    sentence_vector: np.ndarray | None = None  # toy: this block's pooled output; None with --pool none
    explicit_max_abs_delta: float | None = None  # flash --weights: max |y_flash - y_explicit|
    reference_max_abs_delta: float | None = None  # max |y - y_ref| against numpy float32, when compared

    @property
    def name(self) -> str:
        return self.variant if self.layer is None else f"layer {self.layer}"


@dataclass(frozen=True)
class ModelInfo:
    """What a pretrained model is, as its JSON record's "model" field says."""

    name: str  # all-MiniLM-L6-v2 for `minilm`, else the folder's name
    source: str  # --model as given
    d_model: int
    n_layer: int
    n_head: int
    d_ff: int
    vocab_size: int
    max_length: int  # tokens read per text, [CLS] and [SEP] included
    pool: str  # mean | max | first
    normalize: bool  # the pooled vector divided by its length
    n_kv_head: int | None = None  # key/value heads: n_head, or fewer (grouped-query attention, a decoder's)
    causal: bool = False  # each token attends to itself and the tokens before it (a decoder)

    def to_dict(self) -> dict:
        return dict(vars(self))

    def head_label(self, h: int) -> str:
        """Query head h (1-based) as tables and figures name it: with grouped-query attention, the key/value head
        it shares, "head 3 (kv 2)" (n_head / n_kv_head query heads per key/value head)."""
        if not self.n_kv_head or self.n_kv_head == self.n_head:
            return f"head {h}"
        return f"head {h} (kv {(h - 1) // (self.n_head // self.n_kv_head) + 1})"


@dataclass(frozen=True)
class Trace:
    text: str
    tokens: list[str]  # T
    stages: list[Stage]
    blocks: list[Block]
    layered: bool = False  # blocks are layers applied in turn (a model), not variants side by side
    sentence_vector: np.ndarray | None = None  # a model's; the toy's are per block
    config: Config | None = None  # the toy pipeline's resolved options
    model: ModelInfo | None = None  # a pretrained model's
    ids: np.ndarray | None = None  # (T,) a model's token ids
    type_ids: np.ndarray | None = None  # (T,) a model's token types
    truncated: bool = False  # the text was longer than the model reads

    def head_label(self, h: int) -> str:
        """Head h (1-based) as views name it: the model's label (with its key/value head), else "head h"."""
        return self.model.head_label(h) if self.model is not None else f"head {h}"

    def stage(self, key: str) -> np.ndarray:
        return next(s.values for s in self.stages if s.key == key)
