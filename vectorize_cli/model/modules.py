"""A sentence-transformers folder's modules, read in full: what follows the Transformer (modules.json), and its
prompts (config_sentence_transformers.json).

    modules.json   [Transformer, Pooling, Dense..., Normalize]: each `type` one entry of MODULES, read in order
    Pooling        1_Pooling/config.json: pooling_mode (or the older pooling_mode_*_tokens flags), include_prompt
    Dense          2_Dense/config.json + model.safetensors: y = act(x W^T + b)   (B, out) from (B, in)
    Normalize      y = x / max(|x|, eps)
    prompts        {"query": "query: ", ...} and default_prompt_name

A module, a pooling mode or an activation that is not here is refused by name (a VectorizeError naming the file),
never skipped: a vector that is not the model's would look like one. Nothing here imports torch.
"""

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vectorize_cli.backend import namespace
from vectorize_cli.errors import VectorizeError
from vectorize_cli.model.files import _json, _optional
from vectorize_cli.model.nn import gelu_
from vectorize_cli.model.weights import open_tensors
from vectorize_cli.pooling import l2_normalize
from vectorize_cli.safe_read import inside

ST = "sentence_transformers."  # every module type this reads is sentence-transformers' own
POOL_MODES = {  # Pooling's pooling_mode (and the older flag) -> the project's name (vectorize_cli/pooling.py)
    "mean": "mean", "pooling_mode_mean_tokens": "mean",
    "cls": "first", "pooling_mode_cls_token": "first",
    "max": "max", "pooling_mode_max_tokens": "max",
    "mean_sqrt_len_tokens": "mean_sqrt_len", "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len",
    "weightedmean": "weightedmean", "pooling_mode_weightedmean_tokens": "weightedmean",
    "lasttoken": "lasttoken", "pooling_mode_lasttoken": "lasttoken",
}
ACTIVATIONS: dict[str, Callable] = {  # Dense's activation_function, as sentence-transformers writes it
    "torch.nn.modules.activation.Tanh": lambda x: namespace(x).tanh(x),
    "torch.nn.modules.linear.Identity": lambda x: x,
    "torch.nn.modules.activation.GELU": lambda x: gelu_(x),  # the erf form, GELU()'s default
    "torch.nn.modules.activation.ReLU": lambda x: namespace(x).maximum(x, 0.0),
    "torch.nn.modules.activation.Sigmoid": lambda x: 1.0 / (1.0 + namespace(x).exp(-x)),
}
DENSE_WEIGHTS = ("model.safetensors",)  # pytorch_model.bin is a pickle: never read


@dataclass(frozen=True, eq=False)
class Dense:
    """y = act(x W^T + b): sentence-transformers' Dense (nn.Linear, then its activation)."""

    w: np.ndarray  # (out, in) float32, nn.Linear's layout
    b: np.ndarray | None  # (out,) float32, or None (bias false)
    activation: str  # a key of ACTIVATIONS

    def __call__(self, x):
        """x (B, in) on any backend -> (B, out) float32 on the same."""
        xp = namespace(x)
        device = getattr(x, "device", None)
        y = x @ xp.asarray(self.w.T, device=device)  # (B, out)
        if self.b is not None:
            y = y + xp.asarray(self.b, device=device)
        return ACTIVATIONS[self.activation](y)  # (B, out)


@dataclass(frozen=True)
class Head:
    """What follows the Transformer: the pooling, then each step in order; the prompts the model names."""

    pool: str = "mean"  # a key of vectorize_cli.pooling.POOLING
    include_prompt: bool = True  # false: the prompt's tokens are left out of the pooling
    steps: tuple = ()  # Dense instances and l2_normalize, in modules.json's order
    prompts: dict = field(default_factory=dict)  # name -> text prepended to each input
    default_prompt_name: str | None = None  # the prompt used when none is asked for

    @property
    def normalize(self) -> bool:
        return l2_normalize in self.steps

    def d(self, d_model: int) -> int:
        """The sentence vectors' width: the last Dense's out, else the model's."""
        dense = [s for s in self.steps if isinstance(s, Dense)]
        return dense[-1].w.shape[0] if dense else d_model


def _object(path: Path, folder: Path, named_by: str = " (named by modules.json)") -> dict:
    doc = _json(path, folder, named_by)
    if not isinstance(doc, dict):
        raise VectorizeError(f"{path}: expected a JSON object")
    return doc


def _pooling(folder: Path, where: Path, head: dict) -> None:
    path = where / "config.json"
    doc = _object(path, folder)
    mode = doc.get("pooling_mode")
    # pooling_mode: one name or a list (concatenated: refused); older folders: one flag true per mode
    on = [mode] if isinstance(mode, str) else list(mode) if isinstance(mode, list) else \
        [k for k, v in doc.items() if k.startswith("pooling_mode") and v is True]
    if len(on) != 1 or on[0] not in POOL_MODES:
        raise VectorizeError(f"{path}: pooling {' + '.join(map(str, on)) or 'none'} is not supported; one of "
                             "cls, mean, max, mean_sqrt_len_tokens, weightedmean, lasttoken")
    if not isinstance(doc.get("include_prompt", True), bool):
        raise VectorizeError(f"{path}: 'include_prompt' is not true or false")
    head.update(pool=POOL_MODES[on[0]], include_prompt=doc.get("include_prompt", True))


def _dense(folder: Path, where: Path, head: dict) -> None:
    path = where / "config.json"
    doc = _object(path, folder)
    n_in, n_out, act = doc.get("in_features"), doc.get("out_features"), doc.get("activation_function")
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in (n_in, n_out)):
        raise VectorizeError(f"{path}: 'in_features' and 'out_features' must be positive integers")
    if act not in ACTIVATIONS:
        raise VectorizeError(f"{path}: activation_function {act!r} is not supported; one of "
                             f"{', '.join(a.rsplit('.', 1)[1] for a in ACTIVATIONS)}")
    file = where / DENSE_WEIGHTS[0]
    if not _optional(file):
        raise VectorizeError(f"missing {file}: a Dense module's weights are read from model.safetensors only "
                             "(pytorch_model.bin is a pickle, never read)")
    tensors = open_tensors(folder, file)
    try:
        w = tensors.read("linear.weight") if "linear.weight" in tensors.entries else None
        b = tensors.read("linear.bias") if "linear.bias" in tensors.entries else None
    finally:
        os.close(tensors.fd)
    want = head["d"]
    if w is None or w.shape != (n_out, n_in) or n_in != want or (b is not None and b.shape != (n_out,)):
        raise VectorizeError(f"{file}: linear.weight must be ({n_out}, {n_in}) and take the {want}-d vectors "
                             "before it" + (f"; it is {w.shape}" if w is not None else "; it is missing"))
    if not (np.isfinite(w).all() and (b is None or np.isfinite(b).all())):
        raise VectorizeError(f"{file}: its weights are not all finite")
    head["steps"].append(Dense(np.ascontiguousarray(w), b, act))
    head["d"] = n_out


MODULES: dict[str, Callable] = {  # the last part of a module's type -> its reader (folder, its path, head so far)
    "Transformer": lambda folder, where, head: None,
    "Pooling": _pooling,
    "Dense": _dense,
    "Normalize": lambda folder, where, head: head["steps"].append(l2_normalize),
}


def prompts(folder: Path) -> tuple[dict, str | None]:
    """config_sentence_transformers.json's prompts and default_prompt_name (none: {}, None)."""
    path = folder / "config_sentence_transformers.json"
    if not _optional(path):
        return {}, None
    doc = _object(path, folder, "")
    named, default = doc.get("prompts") or {}, doc.get("default_prompt_name")
    if not isinstance(named, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in named.items()):
        raise VectorizeError(f"{path}: 'prompts' is not an object of names to texts")
    if default is not None and default not in named:
        raise VectorizeError(f"{path}: default_prompt_name {default!r} is not one of its prompts")
    return named, default


def head_of(folder: Path, d_model: int) -> Head:
    """The folder's Head: mean pooling without modules.json, as sentence-transformers does for a plain Hugging
    Face model; else every module of modules.json read in order, or refused by name."""
    named, default = prompts(folder)
    path = folder / "modules.json"
    if not _optional(path):
        return Head(prompts=named, default_prompt_name=default)
    modules = _json(path)
    if not isinstance(modules, list) or not all(isinstance(m, dict) and "type" in m for m in modules):
        raise VectorizeError(f"{path}: expected a list of modules with a 'type'")
    head = {"steps": [], "d": d_model}
    for m in modules:
        kind = str(m["type"])
        name = kind.rsplit(".", 1)[-1]
        if not kind.startswith(ST) or name not in MODULES:
            raise VectorizeError(f"{path}: module {m['type']!r} is not supported "
                                 f"(sentence-transformers' {', '.join(MODULES)} are)")
        MODULES[name](folder, inside(folder, str(m.get("path", ""))), head)
    steps, _ = tuple(head.pop("steps")), head.pop("d")
    return Head(steps=steps, prompts=named, default_prompt_name=default, **head)
