"""What a run produces: plain data that the table renderer and the JSON writer both read."""

from dataclasses import dataclass

import numpy as np

from vectorize_cli.config import Config


@dataclass(frozen=True)
class AttentionResult:
    variant: str  # the registry key, e.g. "multi-head"
    output: np.ndarray  # (T, d_out): one vector per token
    weights: np.ndarray | None  # (H, T, T): rows queries, columns keys; None where never materialised
    params: dict[str, np.ndarray]  # every parameter used, "x @ W" layout
    sentence_vector: np.ndarray | None  # (d_out,) pooled output; None with --pool none
    backend: str = "numpy"  # where it ran: numpy | torch
    device: str = "cpu"
    dtype: str = "float32"  # the dtype that ran
    kernel: str = "explicit"  # explicit | tiled-online-softmax | the aten op of torch's fused kernel
    notes: tuple[str, ...] = ()  # anything the user should know about how it ran
    explicit_max_abs_delta: float | None = None  # flash --weights: max |y_flash - y_explicit|
    reference_max_abs_delta: float | None = None  # max |y - y_ref| against numpy float32, when compared


@dataclass(frozen=True)
class Result:
    text: str
    config: Config
    tokens: list[str]  # T
    embedding: np.ndarray  # (T, d)
    positional: np.ndarray  # (T, d)
    encoded: np.ndarray  # (T, d) = embedding + positional
    attention: list[AttentionResult]  # one per requested variant, in order
