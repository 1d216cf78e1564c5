"""The toy pipeline: trace(text, config) -> Trace, read top to bottom like a forward().

    tokens = tokenize(text)                     T
    x      = embedding(tokens) + positional(T)  (T, d)
    y, att = variant(x)                         (T, d_out), (H, T, T) or None, per variant
    vec    = pool(y)                            (d_out,)
"""

from functools import lru_cache, partial

import numpy as np

from vectorize_cli import memory
from vectorize_cli.attention.dispatch import ATTENTION_FUNCTIONS, Attended, implementation
from vectorize_cli.attention.variants import VARIANTS
from vectorize_cli.backend import NUMPY, Backend, check_finite, resolve
from vectorize_cli.config import Config
from vectorize_cli.embedding import embed_tokens
from vectorize_cli.errors import UsageError, lookup
from vectorize_cli.pooling import POOLING
from vectorize_cli.positional import positions
from vectorize_cli.tokens import tokenize
from vectorize_cli.trace import Block, Ran, Stage, Trace

DTYPE = np.float32  # the stages before attention compute in float32, as models run


@lru_cache(maxsize=16)
def _params_on(name: str, config: Config, backend: Backend) -> dict:
    """A variant's parameters as the backend's arrays: converted (on CUDA, copied to the GPU) once
    per run, not once per sentence."""
    return {k: backend.asarray(v) for k, v in VARIANTS[name].params(config).items()}


def _forward(name: str, family: str, x, config: Config, backend: Backend) -> Attended:
    """One forward pass of variant `name` on a backend by the attention function of a family
    (explicit | flash). Returns y and att as float32 numpy, the op that ran and the notes on how it ran."""
    attend = partial(ATTENTION_FUNCTIONS[implementation(family, backend)], causal=config.causal,
                     block_size=config.block_size, strict=config.strict, backend=backend)
    a = VARIANTS[name].forward(backend.asarray(x), _params_on(name, config, backend), config, attend)
    return Attended(backend.numpy(a.y), backend.numpy(a.att), a.op, backend.notes + a.notes)


def attend(name: str, x: np.ndarray, config: Config) -> Block:
    """Run one attention variant on the encoded tokens x (T, d) and pool its output."""
    variant = lookup(VARIANTS, "attention variant", name)
    backend = resolve(config.backend, config.device, config.dtype, variant.family, config.strict)
    a = _forward(name, variant.family, x, config, backend)  # (T, d_out), (H, T, T)
    y, att = a.y, a.att
    explicit_delta = reference_delta = None
    if variant.family == "flash" and config.weights:  # the weights a fused kernel never holds, explicitly
        explicit = _forward(name, "explicit", x, config, backend)
        att = explicit.att
        explicit_delta = float(np.abs(y - explicit.y).max())
    check_finite(name, backend, y, att)
    if len(config.attention) > 1 and backend != NUMPY:  # compared: how far from the float32 numpy reference
        reference_delta = float(np.abs(y - _forward(name, variant.family, x, config, NUMPY).y).max())
    pool = lookup(POOLING, "pooling", config.pool)
    return Block(name, weights=att, output=y, ran=Ran(backend.name, backend.device, backend.dtype, a.op, a.notes),
                 params=variant.params(config), sentence_vector=pool(y), explicit_max_abs_delta=explicit_delta,
                 reference_max_abs_delta=reference_delta)


def check_before_input(config: Config) -> None:
    """What can be refused before any text is read: a backend, device or dtype that cannot run
    (--device cuda without torch or a GPU, half precision on numpy), and sizes no memory holds."""
    for name in config.attention:
        resolve(config.backend, config.device, config.dtype, lookup(VARIANTS, "attention variant", name).family,
                config.strict)
    memory.check(config, 1)  # T = 1: the parameters, whatever the text


def trace(text: str, config: Config) -> Trace:
    tokens = tokenize(text, config.tokenizer)
    if not tokens:
        raise UsageError("the text has no tokens (it is empty or only spaces and control characters)")
    T, d = len(tokens), config.dim
    memory.check(config, T)  # before allocating anything of size T
    embedding = embed_tokens(tokens, config.embedding, d, config.seed).astype(DTYPE, copy=False)  # (T, d)
    positional = positions(config.positional, T, d, config.seed)  # (T, d) float32, read-only
    encoded = embedding + positional  # (T, d)
    stages = [
        Stage("embedding", f"Embedding ({config.embedding})", embedding),
        Stage("positional", f"Positional encoding ({config.positional})", positional),
        Stage("encoded", "Encoded = embedding + positional", encoded),
    ]
    return Trace(text, tokens, stages, [attend(name, encoded, config) for name in config.attention], config=config)
