"""A decoder's model.safetensors -> its weights under the project's names, in "x @ W" layout (in x out).

Names as transformers saves Qwen3Model / Qwen2Model / LlamaModel, or under "model." inside a *ForCausalLM (whose
lm_head is not read: an embedding model pools hidden states). q, k and v are stacked side by side into one
(d, (H + 2 KV) hs) matrix, gate and up into one (d, 2 d_ff): one product each, as weights.py stacks BERT's q, k, v.
"""

from pathlib import Path

import numpy as np

from vectorize_cli.model.decoder_config import DecoderConfig
from vectorize_cli.model.weights import Tensors, getter, read_tree

PREFIX = "model."  # the base model inside Qwen3ForCausalLM and the like


def read_weights(path: Path, c: DecoderConfig) -> tuple[dict, dict[str, int]]:
    """({"word", "norm", "layers": [{norm_1, w_qkv, b_qkv?, q_norm?, k_norm?, w_o, b_o?, norm_2, w_gu, w_down}]}
    float32 numpy arrays, {stored dtype: tensors converted to float32 from it})."""
    return read_tree(path, c, _decoder_layers)


def _decoder_layers(tensors: Tensors, c: DecoderConfig) -> dict:
    get = getter(tensors, PREFIX)

    d, f, hs, H, KV = c.d_model, c.d_ff, c.head_size, c.n_head, c.n_kv_head
    W = lambda name, n_in, n_out: get(f"{name}.weight", (n_out, n_in)).T  # noqa: E731  (in, out)
    layers = []
    for i in range(c.n_layer):
        p = f"layers.{i}."
        qkv = [(p + "self_attn.q_proj", H * hs), (p + "self_attn.k_proj", KV * hs), (p + "self_attn.v_proj", KV * hs)]
        L = {
            "norm_1": get(p + "input_layernorm.weight", (d,)),
            "w_qkv": np.ascontiguousarray(np.concatenate([W(name, d, n) for name, n in qkv], axis=1)),  # (d, (H+2KV)hs)
            "w_o": np.ascontiguousarray(W(p + "self_attn.o_proj", H * hs, d)),  # (H hs, d)
            "norm_2": get(p + "post_attention_layernorm.weight", (d,)),
            "w_gu": np.ascontiguousarray(np.concatenate([W(p + "mlp.gate_proj", d, f), W(p + "mlp.up_proj", d, f)],
                                                        axis=1)),  # (d, 2 d_ff)
            "w_down": np.ascontiguousarray(W(p + "mlp.down_proj", f, d)),  # (d_ff, d)
        }
        if c.qkv_bias:
            L["b_qkv"] = np.concatenate([get(f"{name}.bias", (n,)) for name, n in qkv])  # ((H + 2 KV) hs,)
        if c.o_bias:
            L["b_o"] = get(p + "self_attn.o_proj.bias", (d,))
        if c.qk_norm:
            L["q_norm"] = get(p + "self_attn.q_norm.weight", (hs,))  # (hs,): one gain for every head
            L["k_norm"] = get(p + "self_attn.k_norm.weight", (hs,))
        layers.append(L)
    return {"word": get("embed_tokens.weight", (c.vocab_size, d)), "norm": get("norm.weight", (d,)), "layers": layers}
