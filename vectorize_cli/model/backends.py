"""Where a model's forward pass runs: numpy (default) or torch (--backend torch, CPU).

bert.py is written once against what numpy arrays and torch tensors share (`@`, `+`, `*`,
`.mean`, `.reshape`, `.swapaxes`, indexing); a backend supplies only what differs: moving arrays
in and out, erf (in place), and the attention kernel of each variant, on (B, H, T, hs) arrays with a key
mask (B, 1, 1, T), True for padding:

  numpy  multi-head: kernels.explicit_attention (weights returned); flash: kernels.flash_attention
  torch  multi-head: kernels.explicit_attention on the tensors (array API; weights returned);
         flash: torch's fused kernels, flash first (attention/backends.FusedFlash; no weights)

torch is imported only when the torch backend is asked for.
"""

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from vectorize_cli.attention.backends import KERNEL_NAMES, FusedFlash, import_torch
from vectorize_cli.attention.kernels import explicit_attention, flash_attention
from vectorize_cli.model import nn
from vectorize_cli.parallel import core_map


@dataclass(frozen=True)
class Backend:
    name: str
    asarray: Callable  # numpy array -> this backend's array (no copy where possible)
    numpy: Callable  # this backend's array -> numpy array
    erf_: Callable  # erf in place
    attention: dict[str, Callable]  # variant -> (q, k, v, key_mask) -> (y (B, H, T, hs), weights or None)
    kernel: Callable[[str], str]  # variant -> the kernel its latest call ran (attention/backends.KERNEL_NAMES, SDPA_OPS)
    no_grad: Callable = nullcontext  # context for the forward pass
    threads: bool = False  # batches may run in parallel threads (see workers())


def _explicit(q, k, v, key_mask):
    return explicit_attention(q, k, v, key_mask=key_mask)  # (B, H, T, hs), (B, H, T, T)


def _flash(q, k, v, key_mask):
    """The tiled kernel works on (H, T, hs): batch and heads are folded into one axis."""
    B, H, T, hs = q.shape
    fold = lambda a: a.reshape(B * H, T, hs)  # noqa: E731
    mask = np.broadcast_to(key_mask, (B, H, 1, T)).reshape(B * H, 1, T)
    y, _ = flash_attention(fold(q), fold(k), fold(v), key_mask=mask)
    return y.reshape(B, H, T, hs), None


def _family(variant: str) -> str:
    return "flash" if variant == "flash" else "explicit"


def numpy_backend() -> Backend:
    return Backend("numpy", lambda a: a, lambda a: a, nn.erf_, {"multi-head": _explicit, "flash": _flash},
                   lambda variant: KERNEL_NAMES[_family(variant)], threads=True)


def workers(backend: Backend):
    """A map() over batches: numpy runs one batch per core with BLAS held to one thread
    (parallel.core_map; 1.35x here on 2 cores); torch threads inside each operation itself."""
    return core_map(enabled=backend.threads)


@lru_cache(maxsize=1)
def torch_backend() -> Backend:
    torch = import_torch()

    fused = FusedFlash(strict=False)  # torch's fused kernels, flash first; remembers the op that ran

    def flash(q, k, v, key_mask):
        return fused(q, k, v, key_mask=key_mask)

    def kernel(variant: str) -> str:
        return fused.ran if variant == "flash" else KERNEL_NAMES["explicit"]

    return Backend("torch", torch.from_numpy, lambda a: a.numpy(), torch.Tensor.erf_,
                   {"multi-head": _explicit, "flash": flash}, kernel, torch.inference_mode)


BACKENDS: dict[str, Callable[[], Backend]] = {"numpy": numpy_backend, "torch": torch_backend}
