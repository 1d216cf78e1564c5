"""Seeded parameters of each variant, in "x @ W" layout (W is in_features x out_features).

Parameters depend only on the seed and the sizes, never on the sentence, and are cached.
Variants sharing a family share parameters: flash uses multi-head's, so the two compute the
same function and must agree to float32 rounding.
"""

from functools import lru_cache

from vectorize_cli.seeded import xavier


@lru_cache(maxsize=64)
def additive_params(d: int, seed: int) -> dict:
    """Bahdanau scoring: w_q, w_k (d, d_a) and v (d_a,), with attention size d_a = d."""
    return {
        "w_q": xavier("additive/w_q", seed, d, d),
        "w_k": xavier("additive/w_k", seed, d, d),
        "v": xavier("additive/v", seed, d, 1)[:, 0],
    }


@lru_cache(maxsize=64)
def self_attention_params(d: int, seed: int) -> dict:
    """One head as wide as the model: w_q, w_k, w_v (d, d_k) with d_k = d."""
    return {name: xavier(f"self/{name}", seed, d, d) for name in ("w_q", "w_k", "w_v")}


@lru_cache(maxsize=64)
def multi_head_params(d: int, H: int, hs: int, concat: bool, seed: int) -> dict:
    """w_q, w_k, w_v (d, H*hs): head h uses columns h*hs:(h+1)*hs; w_o (H*hs, d) unless concat."""
    p = {name: xavier(f"multi-head/{name}", seed, d, H * hs) for name in ("w_q", "w_k", "w_v")}
    if not concat:
        p["w_o"] = xavier("multi-head/w_o", seed, H * hs, d)
    return p
