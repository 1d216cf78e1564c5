"""torch's fused attention: F.scaled_dot_product_attention restricted by sdpa_kernel() to one SDPA
backend at a time, flash first. A restricted call either runs that kernel or raises "No available
kernel", so the op that ran is known exactly (the tests confirm the names below with torch's profiler),
and torch's own reasons for refusing the ones before it can be passed on to the user.
"""

import math
import re
import warnings

from vectorize_cli.backend import import_torch
from vectorize_cli.errors import VectorizeError

SDPA_OPS = {  # (SDPA backend, device) -> the aten op that runs
    ("FLASH_ATTENTION", "cpu"): "aten::_scaled_dot_product_flash_attention_for_cpu",
    ("FLASH_ATTENTION", "cuda"): "aten::_scaled_dot_product_flash_attention",
    ("EFFICIENT_ATTENTION", "cuda"): "aten::_scaled_dot_product_efficient_attention",
    ("MATH", "cpu"): "aten::_scaled_dot_product_attention_math",
    ("MATH", "cuda"): "aten::_scaled_dot_product_attention_math",
}


# torch's warning lists every SDPA backend; those that sdpa_kernel() switched off say only that
SWITCHED_OFF = re.compile(r"[^.]*? not used because: [^.]*? has been runtime disabled\.\s*")


def reason(warning: str) -> str:
    """torch's "No available kernel" warning, less the backends sdpa_kernel() switched off on purpose."""
    return SWITCHED_OFF.sub("", warning.split(" (Triggered internally")[0]).strip()


def fused_attention(q, k, v, causal: bool = False, key_mask=None, strict: bool = False, bias=None):
    """Attention(Q, K, V) by torch's fused kernels, flash first; with strict, flash only.
    q, k, v: (H, T, hs) or (B, H, T, hs) tensors; key_mask and bias (H, T, T) as in kernels.explicit_attention:
    with a bias, SDPA's attn_mask is the float B + M (-inf where key_mask hides a key), added to its scores.
    -> (y, op that ran, reasons the kernels before it could not run)."""
    torch = import_torch()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    order = ["FLASH_ATTENTION"] if strict else ["FLASH_ATTENTION", "EFFICIENT_ATTENTION", "MATH"]
    batched = q.ndim == 4
    if not batched:  # SDPA's fused kernels take (batch, H, T, hs)
        q, k, v = q[None], k[None], v[None]
    if bias is None:
        allowed = None if key_mask is None else ~key_mask  # SDPA's boolean mask: True where attention is allowed
    else:  # SDPA's float mask, added to the scores: B + M, (B, H, T, T) with padding, else (H, T, T)
        allowed = bias if key_mask is None else torch.where(key_mask, -math.inf, bias)
    reasons = []
    for name in order:
        if (name, q.device.type) not in SDPA_OPS:
            continue
        with warnings.catch_warnings(record=True) as caught, sdpa_kernel([getattr(SDPBackend, name)]):
            warnings.simplefilter("always")
            try:
                y = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=allowed, is_causal=causal)
            except RuntimeError as e:
                if "No available kernel" not in str(e):
                    raise
                why = " ".join(reason(str(w.message)) for w in caught)
                reasons.append(f"{name.lower()}: {why or e}")
                continue
        return (y if batched else y[0]), SDPA_OPS[name, q.device.type], tuple(reasons)
    raise VectorizeError("torch's flash kernel cannot run here (--strict): " + "; ".join(reasons))
