"""A decoder embedding model's forward pass (Qwen3-Embedding; Qwen2 and Llama, the same code: decoder_config.py says
what each adds), the function transformers' Qwen3Model / Qwen2Model / LlamaModel computes, pre-norm:

    x     = E[ids]                                                        (B, T, d)  no position added
    per layer:
    h     = RMSNorm(x)
    q     = h W_q (+ b_q), split into H heads; k, v: KV heads               (B, H, T, hs), (B, KV, T, hs)
    q, k  = RMSNorm(q), RMSNorm(k) over each head's hs features             Qwen3 only (q_norm, k_norm)
    q, k  = RoPE(q), RoPE(k): feature pairs turned by t θ_i                 (decoder_nn.rotate_)
    k, v  = each KV head repeated for the H / KV query heads sharing it     (B, H, T, hs)  GQA
    a     = Attention(q, k, v), causal: query t sees keys 0 .. t           (B, H, T, hs)
    x     = x + a W_o (+ b_o)
    x     = x + SwiGLU(RMSNorm(x)) W_down,  SwiGLU(h) = silu(h W_gate) * h W_up
    y     = RMSNorm(x) after the last layer                                 (B, T, d)  the last hidden state

On numpy the steps between the products may run compiled, as the run chose (compiled.for_run): the residual add
with the next RMSNorm (x = x + y; h = RMSNorm(x) g) and SwiGLU one loop a row each (compiled_decoder.decoder_fused),
explicit attention's scale, causal mask and softmax one pass a row (compiled.softmax); said in the notes returned.

Padding is on the right, positions 0 .. n-1 for every text: RoPE is relative (q_s · k_t depends on s - t alone), so
the scores are those of the left padding Qwen3-Embedding's tokenizer asks for, and a text's positions, and so its
numbers, never depend on its batch. On the right, the causal mask alone hides every padding key from every real
query (padding comes after them), so no key mask is passed: no query row is ever all hidden (left padding's first
rows would be), and torch's flash kernel, which takes no mask, runs on padded batches too. Padding rows compute
numbers no real token reads; the pooling reads real tokens only.
"""

import operator

import numpy as np

from vectorize_cli import compiled_decoder, sgemm
from vectorize_cli.attention.dispatch import ATTENTION_FUNCTIONS, Attended
from vectorize_cli.backend import Backend
from vectorize_cli.model.decoder_nn import (add_rms_norm, heads_first, repeat_kv, rotary_angles, rotary_cos_sin,
                                            rotate_, swiglu_)
from vectorize_cli.model.nn import dense


def project(x, w, b=None, product=operator.matmul):
    """x W (+ b): a decoder's projections mostly have no bias; product: the run's (nn.dense's)."""
    return product(x, w) if b is None else dense(x, w, b, product)


def forward(model, backend: Backend, ids: np.ndarray, type_ids: np.ndarray, pad: np.ndarray,
            attention: str = "explicit", strict: bool = False, every_layer: bool = True):
    """model/bert.forward's signature and result, for a decoder: ids (B, T) int64, right padded; type_ids unused;
    pad (B, T) True for padding (on the right: the causal mask hides it, see above). -> (x0 (B, T, d) = E[ids],
    [(weights (B, H, T, T) or None, x (B, T, d)) per layer, the last after the final RMSNorm], how the layers ran
    (Attended without y: the attention's op, its notes and the compiled steps' where they ran));
    every_layer False: only the last layer's pair is kept."""
    c = model.folder.config
    w = model.weights_on(backend)
    B, T = ids.shape
    H, KV, hs, d = c.n_head, c.n_kv_head, c.head_size, c.d_model
    attend = ATTENTION_FUNCTIONS[attention]
    loops = compiled_decoder.decoder_fused(backend)  # the run's choice (compiled.for_run): None, numpy's passes
    product = sgemm.for_backend(backend)  # x W: numpy's OpenBLAS or MKL (sgemm.py), torch's own on torch
    cos, sin = (backend.asarray(a) for a in rotary_cos_sin(rotary_angles(T, hs, c.rope_theta)))  # (T, hs/2) each
    x = w["word"][backend.asarray(ids)].reshape(B * T, d)  # (B*T, d) the residual stream
    x0, layers, ran = x.reshape(B, T, d), [], None
    norms = [L["norm_1"] for L in w["layers"][1:]] + [w["norm"]]  # the RMSNorm after each layer's last residual
    _, h = add_rms_norm(x, None, w["layers"][0]["norm_1"], c.eps, loops)  # (B*T, d) the first layer's RMSNorm(x)
    for L, norm_next in zip(w["layers"], norms):
        qkv = project(h, L["w_qkv"], L.get("b_qkv"), product)  # (B*T, (H + 2 KV) hs)
        q = qkv[:, : H * hs].reshape(B, T, H, hs)
        k, v = (qkv[:, (H + i * KV) * hs : (H + (i + 1) * KV) * hs].reshape(B, T, KV, hs) for i in range(2))
        q, k = (heads_first(a, L[norm], c.eps) if c.qk_norm else heads_first(a)  # (B, H or KV, T, hs), new
                for a, norm in ((q, "q_norm"), (k, "k_norm")))
        q, k, v = rotate_(q, cos, sin), rotate_(k, cos, sin), heads_first(v)
        k, v = repeat_kv(k, H // KV), repeat_kv(v, H // KV)  # (B, H, T, hs)
        ran = attend(q, k, v, causal=True, strict=strict, backend=backend)  # (B, H, T, hs), (B, H, T, T) or None
        y = project(ran.y.swapaxes(1, 2).reshape(B * T, H * hs), L["w_o"], L.get("b_o"), product)  # (B*T, d)
        # x = x + y into y (a new array: x0, a view of the first x, stays the embeddings), h = RMSNorm(x) g_2
        x, h = add_rms_norm(y, x, L["norm_2"], c.eps, loops)  # (B*T, d) each
        y = product(swiglu_(product(h, L["w_gu"]), c.d_ff, loops), L["w_down"])  # (B*T, d)
        x, h = add_rms_norm(y, x, norm_next, c.eps, loops)  # the residual; the next layer's RMSNorm(x), or the final
        layers.append((ran.att, x.reshape(B, T, d)))
        if not every_layer:
            del layers[:-1]
    layers[-1] = (layers[-1][0], h.reshape(B, T, d))  # the last hidden state: RMSNorm(x) g after the last layer
    notes = ((compiled_decoder.DECODER_NOTE,) if loops else ()) + ((sgemm.NOTE,) if sgemm.used(product) else ())
    return x0, layers, Attended(None, None, ran.op, ran.notes + notes)
