"""Backends: where the arrays live, in which dtype, and which kernel computes `flash`.

numpy (default): the CPU in float32, running the array-API kernels of kernels.py.
torch: the same kernels on torch tensors (CPU or CUDA, float32/float16/bfloat16), and for
`flash` torch's fused kernel: F.scaled_dot_product_attention restricted by sdpa_kernel() to
one SDPA backend at a time, flash first. A restricted call either runs that kernel or raises
"No available kernel", so the kernel that ran is known exactly; the tests confirm the op names
below with torch's profiler. torch is imported here only, and only for --backend torch.
"""

import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from vectorize_cli.errors import UsageError, VectorizeError

KERNEL_NAMES = {"explicit": "explicit", "flash": "tiled-online-softmax"}  # the array-API kernels
SDPA_OPS = {  # (SDPA backend, device) -> the aten op that runs
    ("FLASH_ATTENTION", "cpu"): "aten::_scaled_dot_product_flash_attention_for_cpu",
    ("FLASH_ATTENTION", "cuda"): "aten::_scaled_dot_product_flash_attention",
    ("EFFICIENT_ATTENTION", "cuda"): "aten::_scaled_dot_product_efficient_attention",
    ("MATH", "cpu"): "aten::_scaled_dot_product_attention_math",
    ("MATH", "cuda"): "aten::_scaled_dot_product_attention_math",
}


@lru_cache(maxsize=1)
def import_torch():
    """torch, once asked for; array-api-compat too, through which kernels.py runs on torch tensors."""
    try:
        import torch
        import array_api_compat  # noqa: F401
    except ImportError as e:
        package = (e.name or "torch").replace("_", "-")
        raise VectorizeError(f"--backend torch needs {package}: pip install 'vectorize-cli[torch]'") from None
    return torch


@lru_cache(maxsize=8)
def resolve_device(device: str, backend: str) -> str:
    """auto -> cuda when torch (asked for) sees a GPU, else cpu; cuda without one is an error."""
    if backend == "numpy":
        if device == "cuda":
            raise UsageError("--device cuda needs --backend torch (numpy runs on the CPU)")
        return "cpu"
    cuda = import_torch().cuda.is_available()
    if device == "cuda" and not cuda:
        raise VectorizeError("--device cuda: torch sees no CUDA GPU on this machine")
    return "cuda" if device == "cuda" or (device == "auto" and cuda) else "cpu"


@dataclass(frozen=True)
class Backend:
    name: str  # numpy | torch
    device: str  # cpu | cuda
    dtype: str  # the dtype that runs, which may differ from --dtype (see resolve)
    notes: tuple[str, ...] = ()

    def asarray(self, a: np.ndarray):
        if self.name == "numpy":
            return np.asarray(a, dtype=np.float32)
        torch = import_torch()
        return torch.from_numpy(np.ascontiguousarray(a)).to(device=self.device, dtype=getattr(torch, self.dtype))

    def numpy(self, a) -> np.ndarray | None:
        """Back to a float32 numpy array (bfloat16 has no numpy dtype)."""
        if a is None or isinstance(a, np.ndarray):
            return a
        return a.detach().float().cpu().numpy()


def resolve(kernel: str, backend: str, device: str, dtype: str) -> Backend:
    """The backend a variant runs on. kernel is the variant's kernel family: explicit | flash."""
    device = resolve_device(device, backend)
    if backend == "numpy":
        if dtype != "float32":
            raise UsageError(f"--dtype {dtype} needs --backend torch (numpy computes in float32)")
        return Backend("numpy", "cpu", "float32")
    notes = ()
    if kernel == "flash" and device == "cuda" and dtype == "float32":
        dtype = "bfloat16" if import_torch().cuda.is_bf16_supported() else "float16"
        notes = (f"torch's CUDA flash kernel takes float16/bfloat16 only: float32 inputs cast to {dtype}",)
    return Backend("torch", device, dtype, notes)


class FusedFlash:
    """Attention(Q, K, V) by torch's fused SDPA kernels, flash first; with strict, flash only.

    A kernel with the shared signature that remembers which op ran (`ran`) and why the ones
    before it could not (`reasons`, torch's own words). Returns (y, None): no weights."""

    def __init__(self, strict: bool):
        self.strict = strict
        self.ran: str | None = None
        self.reasons: list[str] = []

    def __call__(self, q, k, v, causal: bool = False, block_size: int = 0, key_mask=None):
        """q, k, v: (H, T, hs) or (B, H, T, hs); key_mask as in kernels.explicit_attention.
        `ran` and `reasons` describe this call (an instance may serve many)."""
        torch = import_torch()
        self.reasons = []
        from torch.nn.attention import SDPBackend, sdpa_kernel

        order = ["FLASH_ATTENTION"] if self.strict else ["FLASH_ATTENTION", "EFFICIENT_ATTENTION", "MATH"]
        batched = q.ndim == 4
        if not batched:  # SDPA's fused kernels take (batch, H, T, hs)
            q, k, v = q[None], k[None], v[None]
        allowed = None if key_mask is None else ~key_mask  # SDPA's boolean mask: True where attention is allowed
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
                    why = " ".join(str(w.message).split(" (Triggered internally")[0] for w in caught)
                    self.reasons.append(f"{name.lower()}: {why or e}")
                    continue
            self.ran = SDPA_OPS[name, q.device.type]
            return (y if batched else y[0]), None
        raise VectorizeError("torch's flash kernel cannot run here (--strict): " + "; ".join(self.reasons))
