"""model.safetensors -> the weights under the project's names, in "x @ W" layout (in x out).

safetensors holds raw little-endian arrays behind a JSON header: no pickle, no code, no torch.
Hugging Face stores nn.Linear weights as (out, in); they are transposed here once, so that every
layer reads `x @ W + b` as the rest of the project does. Q, K and V are stacked side by side
into one (d, 3d) matrix so that one product computes all three (nanoGPT's c_attn).
"""

from pathlib import Path

import numpy as np

from vectorize_cli.errors import VectorizeError
from vectorize_cli.model.files import BertConfig


def _load(path: Path) -> dict[str, np.ndarray]:
    try:
        from safetensors.numpy import load_file
    except ImportError:
        raise VectorizeError("--model needs safetensors: pip install 'vectorize-cli[model]'") from None
    try:
        return load_file(str(path))
    except Exception as e:  # safetensors raises its own SafetensorError, or OSError
        raise VectorizeError(f"cannot read {path}: {e}") from None


def from_safetensors(path: Path, c: BertConfig) -> dict:
    """{"word", "position", "token_type", "ln": (g, b), "layers": [{w_qkv, b_qkv, w_o, b_o, ln_1, w_1, b_1,
    w_2, b_2, ln_2}, ...]} as float32 numpy arrays."""
    raw = _load(path)
    raw = {k.removeprefix("bert."): v for k, v in raw.items()}  # BertModel inside another head

    def get(key: str, shape: tuple[int, ...]) -> np.ndarray:
        if key not in raw:
            raise VectorizeError(f"{path}: missing tensor {key!r}")
        a = raw[key]
        if a.shape != shape:
            raise VectorizeError(f"{path}: {key} has shape {a.shape}, config.json implies {shape}")
        return a.astype(np.float32, copy=False)

    d, f = c.d_model, c.d_ff
    linear = lambda name, n_in, n_out: (get(f"{name}.weight", (n_out, n_in)).T, get(f"{name}.bias", (n_out,)))  # noqa: E731
    norm = lambda name: (get(f"{name}.weight", (d,)), get(f"{name}.bias", (d,)))  # noqa: E731
    layers = []
    for i in range(c.n_layer):
        p = f"encoder.layer.{i}."
        qkv = [linear(p + f"attention.self.{n}", d, d) for n in ("query", "key", "value")]
        w_o, b_o = linear(p + "attention.output.dense", d, d)
        w_1, b_1 = linear(p + "intermediate.dense", d, f)
        w_2, b_2 = linear(p + "output.dense", f, d)
        layers.append({
            "w_qkv": np.ascontiguousarray(np.concatenate([w for w, _ in qkv], axis=1)),  # (d, 3d)
            "b_qkv": np.concatenate([b for _, b in qkv]),  # (3d,)
            "w_o": np.ascontiguousarray(w_o), "b_o": b_o,  # (d, d)
            "ln_1": norm(p + "attention.output.LayerNorm"),
            "w_1": np.ascontiguousarray(w_1), "b_1": b_1,  # (d, d_ff)
            "w_2": np.ascontiguousarray(w_2), "b_2": b_2,  # (d_ff, d)
            "ln_2": norm(p + "output.LayerNorm"),
        })
    return {
        "word": get("embeddings.word_embeddings.weight", (c.vocab_size, d)),
        "position": get("embeddings.position_embeddings.weight", (c.max_positions, d)),
        "token_type": get("embeddings.token_type_embeddings.weight", (c.type_vocab_size, d)),
        "ln": norm("embeddings.LayerNorm"),
        "layers": layers,
    }
