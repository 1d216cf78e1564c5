"""run(text, config) -> Result: the whole pipeline, read top to bottom like a forward().

    tokens = tokenize(text)                     T
    x      = embedding(tokens) + positional(T)  (T, d)
    y, att = variant(x)                         (T, d_out), (H, T, T) or None, per variant
    vec    = pool(y)                            (d_out,)
"""

from functools import lru_cache

import numpy as np

from vectorize_cli import memory
from vectorize_cli.attention import ATTENTION
from vectorize_cli.attention.backends import KERNEL_NAMES, Backend, FusedFlash, resolve
from vectorize_cli.attention.kernels import explicit_attention, flash_attention
from vectorize_cli.config import Config
from vectorize_cli.embedding import embed
from vectorize_cli.errors import UsageError, VectorizeError, lookup
from vectorize_cli.pooling import POOLING
from vectorize_cli.positional import positions
from vectorize_cli.result import AttentionResult, Result
from vectorize_cli.tokens import tokenize

DTYPE = np.float32  # the stages before attention compute in float32, as models run
NUMPY = Backend("numpy", "cpu", "float32")


@lru_cache(maxsize=16)
def _params_on(name: str, config: Config, backend: Backend) -> dict:
    """A variant's parameters as the backend's arrays: converted (on CUDA, copied to the GPU) once
    per run, not once per sentence."""
    return {k: backend.asarray(v) for k, v in ATTENTION[name].params(config).items()}


def _forward(name: str, family: str, x, config: Config, backend: Backend):
    """One forward pass of variant `name` on a backend with a kernel of the given family
    (explicit | flash). Returns (y, att) as float32 numpy, the kernel that ran and any notes on how it ran."""
    if family == "explicit":
        kernel = explicit_attention
    else:
        kernel = FusedFlash(config.strict) if backend.name == "torch" else flash_attention
    y, att = ATTENTION[name].forward(backend.asarray(x), _params_on(name, config, backend), config, kernel)
    notes = backend.notes
    if isinstance(kernel, FusedFlash):
        if "flash" not in kernel.ran:
            notes += (f"torch's flash kernel could not run ({'; '.join(kernel.reasons)}); {kernel.ran} ran instead",)
        name = kernel.ran
    else:
        name = KERNEL_NAMES[family]
    return backend.numpy(y), backend.numpy(att), name, notes


def _finite(name: str, backend: Backend, *arrays) -> None:
    """Never a wrong number: an overflow (float16 holds no more than 65504) is an error, not NaN in the output."""
    if not all(a is None or np.isfinite(a).all() for a in arrays):
        other = "float32 or bfloat16" if backend.dtype == "float16" else "float32"
        raise VectorizeError(f"{name} overflowed in {backend.dtype}: some scores or outputs are beyond its range; "
                             f"use --dtype {other}")


def attend(name: str, x: np.ndarray, config: Config) -> AttentionResult:
    """Run one attention variant on the encoded tokens x (T, d) and pool its output."""
    variant = lookup(ATTENTION, "attention variant", name)
    params = variant.params(config)
    backend = resolve(variant.kernel, config.backend, config.device, config.dtype)
    y, att, kernel, notes = _forward(name, variant.kernel, x, config, backend)  # (T, d_out), (H, T, T)
    explicit_delta = reference_delta = None
    if variant.kernel == "flash" and config.weights:  # the weights a fused kernel never holds, explicitly
        y_explicit, att, _, _ = _forward(name, "explicit", x, config, backend)
        explicit_delta = float(np.abs(y - y_explicit).max())
    _finite(name, backend, y, att)
    if len(config.attention) > 1 and backend != NUMPY:  # compared: how far from the float32 numpy reference
        y_ref = _forward(name, variant.kernel, x, config, NUMPY)[0]
        reference_delta = float(np.abs(y - y_ref).max())
    pool = lookup(POOLING, "pooling", config.pool)
    return AttentionResult(name, y, att, params, pool(y), backend.name, backend.device, backend.dtype, kernel,
                           notes, explicit_delta, reference_delta)


def check(config: Config) -> None:
    """What can be refused before any text is read: a backend, device or dtype that cannot run
    (--device cuda without torch or a GPU, half precision on numpy), and sizes no memory holds."""
    for name in config.attention:
        resolve(lookup(ATTENTION, "attention variant", name).kernel, config.backend, config.device, config.dtype)
    memory.check(config, 1)  # T = 1: the parameters, whatever the text


def run(text: str, config: Config) -> Result:
    tokens = tokenize(text, config.tokenizer)
    if not tokens:
        raise UsageError("the text has no tokens (it is empty or only spaces and control characters)")
    T, d = len(tokens), config.dim
    memory.check(config, T)  # before allocating anything of size T
    embedding = embed(tokens, config.embedding, d, config.seed).astype(DTYPE, copy=False)  # (T, d)
    positional = positions(config.positional, T, d, config.seed)  # (T, d) float32, read-only
    encoded = embedding + positional  # (T, d)
    attention = [attend(name, encoded, config) for name in config.attention]
    return Result(text, config, tokens, embedding, positional, encoded, attention)
