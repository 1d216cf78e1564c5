"""config.json of a decoder embedding model (Qwen3-Embedding; Qwen2 and Llama, the same code), under the project's
names, and what each model_type adds to the one forward pass of model/decoder.py:

    qwen3   q_norm, k_norm: an RMSNorm over each head's q and k before the rotation; q/k/v/o bias: attention_bias
    qwen2   q/k/v bias always, o without
    llama   q/k/v/o bias: attention_bias

What it cannot run is refused by name, never approximated: sliding-window attention, a rope_scaling / rope_type other
than the default, an activation other than silu, Llama's mlp_bias, a head_dim that does not split evenly.
"""

import math
from dataclasses import dataclass
from pathlib import Path

from vectorize_cli.errors import VectorizeError


@dataclass(frozen=True)
class Decoder:
    """What differs between the decoder model types (the rest is model/decoder.py)."""

    name: str  # what the README and errors call it
    qk_norm: bool  # RMSNorm over each head's q and k (Qwen3)
    qkv_bias: bool | None  # q, k, v carry a bias: always (Qwen2), or None: as attention_bias says
    o_bias: bool | None  # the output projection carries a bias: never (Qwen2), or None: as attention_bias says


DECODERS = {  # config.json's model_type -> what it adds
    "qwen3": Decoder("Qwen3", qk_norm=True, qkv_bias=None, o_bias=None),
    "qwen2": Decoder("Qwen2", qk_norm=False, qkv_bias=True, o_bias=False),
    "llama": Decoder("Llama", qk_norm=False, qkv_bias=None, o_bias=None),
}


@dataclass(frozen=True)
class DecoderConfig:
    """config.json of a decoder, under the project's names (the attributes BertConfig shares keep its names)."""

    vocab_size: int  # V, rows of the token-embedding table
    d_model: int  # hidden_size
    n_layer: int  # num_hidden_layers
    n_head: int  # num_attention_heads: query heads H
    n_kv_head: int  # num_key_value_heads: KV <= H, each key/value head shared by H / KV query heads (GQA)
    head_size: int  # head_dim (Qwen3 names it; else d_model // n_head): hs
    d_ff: int  # intermediate_size: the SwiGLU's hidden width
    max_positions: int  # max_position_embeddings: the longest input it was trained on (RoPE has no table)
    eps: float  # rms_norm_eps
    rope_theta: float  # the rotary base: θ_i = rope_theta^(-2i / hs)
    pad_id: int  # the id padding is filled with: never read by a real token (causal, right padding)
    qkv_bias: bool
    o_bias: bool
    qk_norm: bool
    model_type: str = "qwen3"  # a key of DECODERS
    type_vocab_size: int = 1  # no token types: every id 0 (validate.py checks the tokenizer's)
    causal = True  # each token attends to itself and the tokens before it
    n_buckets = 0  # no relative position bias (MPNet's): RoPE turns q and k instead

    @property
    def family(self) -> Decoder:
        return DECODERS[self.model_type]

    @property
    def max_tokens(self) -> int:
        return self.max_positions


def _positive(doc: dict, path: Path, key: str, default=None) -> int:
    value = doc.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise VectorizeError(f"{path}: {key!r} is missing or not a positive integer")
    return value


def _number(doc: dict, path: Path, key: str, value) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not (math.isfinite(value) and value > 0):
        raise VectorizeError(f"{path}: {key!r} is missing or not a positive number")
    return float(value)


def _refuse_unsupported(doc: dict, path: Path) -> None:
    """Each option the forward pass does not compute, refused by name."""
    if doc.get("hidden_act", "silu") != "silu":
        raise VectorizeError(f"{path}: hidden_act {doc['hidden_act']!r} is not supported; only silu (SwiGLU)")
    if doc.get("use_sliding_window") or any(t != "full_attention" for t in doc.get("layer_types") or ()):
        raise VectorizeError(f"{path}: sliding window attention (use_sliding_window / layer_types) is not supported; "
                             "only full causal attention")
    scaling = doc.get("rope_scaling")
    kind = (scaling or {}).get("rope_type", (scaling or {}).get("type", "default")) if isinstance(scaling, dict) \
        else scaling
    rope = doc.get("rope_parameters")
    if isinstance(rope, dict) and kind in (None, "default"):
        kind = rope.get("rope_type", "default")
    if kind not in (None, "default"):
        raise VectorizeError(f"{path}: rope_scaling {kind!r} is not supported; only the default rotary embedding")
    if doc.get("mlp_bias"):
        raise VectorizeError(f"{path}: mlp_bias true is not supported")


def decoder_config(path: Path, doc: dict) -> DecoderConfig:
    """config.json's object (model_type a key of DECODERS) -> its DecoderConfig, or one error naming the field."""
    _refuse_unsupported(doc, path)
    kind = DECODERS[doc["model_type"]]
    rope = doc.get("rope_parameters") if isinstance(doc.get("rope_parameters"), dict) else {}
    d, H = _positive(doc, path, "hidden_size"), _positive(doc, path, "num_attention_heads")
    KV = _positive(doc, path, "num_key_value_heads", H)
    bias = doc.get("attention_bias", False)
    if not isinstance(bias, bool):
        raise VectorizeError(f"{path}: 'attention_bias' is not true or false")
    if H % KV:
        raise VectorizeError(f"{path}: num_attention_heads {H} is not a multiple of num_key_value_heads {KV}")
    head_size = _positive({"head_dim": doc.get("head_dim") or (d // H if d % H == 0 else None)}, path, "head_dim")
    if head_size % 2:
        raise VectorizeError(f"{path}: head_dim {head_size} is odd; the rotary embedding turns pairs of features")
    vocab = _positive(doc, path, "vocab_size")
    pad = doc.get("pad_token_id")
    c = DecoderConfig(
        vocab_size=vocab, d_model=d, n_layer=_positive(doc, path, "num_hidden_layers"), n_head=H, n_kv_head=KV,
        head_size=head_size, d_ff=_positive(doc, path, "intermediate_size"),
        max_positions=_positive(doc, path, "max_position_embeddings"),
        eps=_number(doc, path, "rms_norm_eps", doc.get("rms_norm_eps", 1e-6)),
        rope_theta=_number(doc, path, "rope_theta", rope.get("rope_theta", doc.get("rope_theta", 10000.0))),
        pad_id=pad if isinstance(pad, int) and not isinstance(pad, bool) and 0 <= pad < vocab else 0,
        qkv_bias=bias if kind.qkv_bias is None else kind.qkv_bias, o_bias=bias if kind.o_bias is None else kind.o_bias,
        qk_norm=kind.qk_norm, model_type=doc["model_type"])
    if c.max_positions < 2:
        raise VectorizeError(f"{path}: 'max_position_embeddings' {c.max_positions} leaves no room for a text")
    return c
