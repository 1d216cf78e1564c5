"""model.safetensors -> the weights under the project's names, in "x @ W" layout (in x out).

safetensors holds raw little-endian arrays behind a JSON header: no pickle, no code, no torch.
Hugging Face stores nn.Linear weights as (out, in); they are transposed here once, so that every
layer reads `x @ W + b` as the rest of the project does. Q, K and V are stacked side by side
into one (d, 3d) matrix so that one product computes all three (nanoGPT's c_attn).
"""

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vectorize_cli.errors import VectorizeError
from vectorize_cli.model.files import BertConfig
from vectorize_cli.safe_read import open_in_folder, parse_json

WEIGHTS_CAP = 1 << 40  # model.safetensors: a size check only (tensors are read one by one, those needed)
HEADER_CAP = 100 << 20  # the JSON header, as safetensors itself limits it
FLOATS = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "F64": np.dtype("<f8"), "BF16": np.dtype("<u2")}
NOT_WEIGHTS = ("BOOL", "U8", "I8", "I16", "U16", "I32", "U32", "I64", "U64")  # refused: quantised or not weights


@dataclass
class Tensors:
    """The header of a safetensors file, {name: (dtype, shape, start, end)}, and the open file."""

    path: Path
    fd: int
    entries: dict[str, tuple[str, tuple[int, ...], int, int]]
    converted: dict[str, list[str]] = field(default_factory=dict)  # dtype -> tensors read as float32 from it

    def read(self, name: str) -> np.ndarray:
        """One tensor as float32: F32 as stored; F16, BF16 and F64 converted (and remembered, to be said)."""
        dtype, shape, start, end = self.entries[name]
        if dtype in NOT_WEIGHTS or dtype not in FLOATS:
            raise VectorizeError(f"{self.path}: {name} is {dtype}; only float weights are read (F32, F16, BF16, F64), "
                                 "not quantised or integer ones")
        raw = np.empty(shape, dtype=FLOATS[dtype])
        view = memoryview(raw.reshape(-1).view(np.uint8)) if raw.size else memoryview(b"")
        n = 0
        while n < len(view):  # pread: the file may have changed since the header was read
            got = os.preadv(self.fd, [view[n:]], start + n)
            if got == 0:
                raise VectorizeError(f"{self.path} ends inside {name}: the file changed or is cut short")
            n += got
        if dtype == "F32":
            return raw
        self.converted.setdefault(dtype, []).append(name)
        if dtype == "BF16":  # bfloat16 is float32's upper half: exact
            return (raw.astype(np.uint32) << 16).view(np.float32)
        with np.errstate(over="ignore"):  # an F64 beyond float32's range becomes inf, refused by validate.py
            return raw.astype(np.float32)


def _header(path: Path, fd: int, size: int) -> dict[str, tuple[str, tuple[int, ...], int, int]]:
    """Check the header against the format (8-byte length, JSON, data offsets inside the file)."""
    first = os.pread(fd, 8, 0)
    if len(first) < 8:
        raise VectorizeError(f"cannot read {path}: too short for a safetensors file")
    (n,) = struct.unpack("<Q", first)
    if n > min(HEADER_CAP, size - 8):
        raise VectorizeError(f"cannot read {path}: its header claims {n:,} bytes")
    raw = os.pread(fd, n, 8)
    try:
        doc = parse_json(path, raw) if len(raw) == n else None
    except VectorizeError as e:
        raise VectorizeError(f"cannot read {path}: its header {str(e).removeprefix(str(path) + ' ')}") from None
    if not isinstance(doc, dict):
        raise VectorizeError(f"cannot read {path}: its header is not a JSON object")
    base, entries = 8 + n, {}
    for name, e in doc.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (start, end) = e["dtype"], tuple(e["shape"]), e["data_offsets"]
            ok = isinstance(dtype, str) and all(isinstance(x, int) and x >= 0 for x in (*shape, start, end))
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            raise VectorizeError(f"cannot read {path}: tensor {name!r} is described wrongly in the header")
        item = FLOATS[dtype].itemsize if dtype in FLOATS else None
        wrong_size = item is not None and end - start != int(np.prod(shape, dtype=object)) * item
        if wrong_size or not start <= end <= size - base:
            raise VectorizeError(f"cannot read {path}: tensor {name!r}'s bytes do not match its shape or the file")
        entries[name] = (dtype, shape, base + start, base + end)
    return entries


def open_tensors(folder: Path, path: Path) -> Tensors:
    """model.safetensors, read by safe_read.open_in_folder's rules; the caller closes .fd."""
    try:
        fd, size = open_in_folder(folder, path, WEIGHTS_CAP)
    except FileNotFoundError:
        raise VectorizeError(f"missing {path}") from None
    try:
        return Tensors(path, fd, _header(path, fd, size))
    except BaseException:
        os.close(fd)
        raise


def from_safetensors(path: Path, c: BertConfig) -> tuple[dict, dict[str, int]]:
    """({"word", "position", "token_type" (not MPNet), "relative_bias" (MPNet: E_rel (H, num_buckets)), "ln": (g, b),
    "layers": [{w_qkv, b_qkv, w_o, b_o, ln_1, w_1, b_1, w_2, b_2, ln_2}, ...]} as float32 numpy arrays,
    {stored dtype: tensors converted to float32 from it})."""
    return read_tree(path, c, _layers)


def read_tree(path: Path, c, layers: Callable[[Tensors, object], dict]) -> tuple[dict, dict[str, int]]:
    """model.safetensors -> (layers(tensors, config): a family's tree of float32 arrays, {stored dtype: tensors
    converted to float32 from it}); the file closed whatever happens, an OS error one line."""
    tensors = open_tensors(path.parent, path)
    try:
        return layers(tensors, c), {dtype: len(names) for dtype, names in tensors.converted.items()}
    except OSError as e:
        raise VectorizeError(f"cannot read {path}: {e.strerror or e}") from None
    finally:
        os.close(tensors.fd)


def getter(tensors: Tensors, prefix: str) -> Callable[[str, tuple[int, ...]], np.ndarray]:
    """get(key, shape): the tensor `key` (its name with `prefix`, the base model inside another head, or
    without), as float32, its shape checked against what config.json implies."""
    names = {k.removeprefix(prefix): k for k in tensors.entries}

    def get(key: str, shape: tuple[int, ...]) -> np.ndarray:
        if key not in names:
            raise VectorizeError(f"{tensors.path}: missing tensor {key!r}")
        got = tensors.entries[names[key]][1]
        if got != shape:
            raise VectorizeError(f"{tensors.path}: {key} has shape {got}, config.json implies {shape}")
        return tensors.read(names[key])

    return get


def _layers(tensors: Tensors, c: BertConfig) -> dict:
    get = getter(tensors, c.family.prefix)
    d, f, at = c.d_model, c.d_ff, c.family.attention_names  # at: the family's names of the attention's weights
    linear = lambda name, n_in, n_out: (get(f"{name}.weight", (n_out, n_in)).T, get(f"{name}.bias", (n_out,)))  # noqa: E731
    norm = lambda name: (get(f"{name}.weight", (d,)), get(f"{name}.bias", (d,)))  # noqa: E731
    layers = []
    for i in range(c.n_layer):
        p = f"encoder.layer.{i}."
        qkv = [linear(p + at[n], d, d) for n in ("q", "k", "v")]
        w_o, b_o = linear(p + at["o"], d, d)
        w_1, b_1 = linear(p + "intermediate.dense", d, f)
        w_2, b_2 = linear(p + "output.dense", f, d)
        layers.append({
            "w_qkv": np.ascontiguousarray(np.concatenate([w for w, _ in qkv], axis=1)),  # (d, 3d)
            "b_qkv": np.concatenate([b for _, b in qkv]),  # (3d,)
            "w_o": np.ascontiguousarray(w_o), "b_o": b_o,  # (d, d)
            "ln_1": norm(p + at["ln_1"]),
            "w_1": np.ascontiguousarray(w_1), "b_1": b_1,  # (d, d_ff)
            "w_2": np.ascontiguousarray(w_2), "b_2": b_2,  # (d_ff, d)
            "ln_2": norm(p + "output.LayerNorm"),
        })
    w = {
        "word": get("embeddings.word_embeddings.weight", (c.vocab_size, d)),
        "position": get("embeddings.position_embeddings.weight", (c.max_positions, d)),
        "ln": norm("embeddings.LayerNorm"),
        "layers": layers,
    }
    if c.family.token_types:
        w["token_type"] = get("embeddings.token_type_embeddings.weight", (c.type_vocab_size, d))
    if c.family.relative_bias:  # E_rel (num_buckets, H), stored transposed: (H, num_buckets), one row per head
        table = get("encoder.relative_attention_bias.weight", (c.n_buckets, c.n_head))
        w["relative_bias"] = np.ascontiguousarray(table.T)
    return w
