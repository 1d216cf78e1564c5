"""run(text, config) -> Result: the whole pipeline, read top to bottom like a forward().

    tokens = tokenize(text)                     T
    x      = embedding(tokens) + positional(T)  (T, d)
    y, att = variant(x)                         (T, d_out), (H, T, T) or None, per variant
    vec    = pool(y)                            (d_out,)
"""

import numpy as np

from vectorize_cli.attention import ATTENTION
from vectorize_cli.config import Config
from vectorize_cli.embedding import embed
from vectorize_cli.errors import UsageError, lookup
from vectorize_cli.pooling import POOLING
from vectorize_cli.positional import positions
from vectorize_cli.result import AttentionResult, Result
from vectorize_cli.tokens import tokenize

DTYPE = np.float32  # every stage computes in float32, as models run


def attend(name: str, x: np.ndarray, config: Config) -> AttentionResult:
    """Run one attention variant on the encoded tokens x (T, d) and pool its output."""
    variant = lookup(ATTENTION, "attention variant", name)
    params = variant.params(config)
    y, att = variant.forward(x, params, config)  # (T, d_out), (H, T, T) or None
    pool = lookup(POOLING, "pooling", config.pool)
    return AttentionResult(name, y, att, params, pool(y))


def run(text: str, config: Config) -> Result:
    tokens = tokenize(text, config.tokenizer)
    if not tokens:
        raise UsageError("the text has no tokens (it is empty or only spaces and control characters)")
    T, d = len(tokens), config.dim
    embedding = embed(tokens, config.embedding, d, config.seed).astype(DTYPE)  # (T, d)
    positional = positions(config.positional, T, d, config.seed).astype(DTYPE)  # (T, d)
    encoded = embedding + positional  # (T, d)
    attention = [attend(name, encoded, config) for name in config.attention]
    return Result(text, config, tokens, embedding, positional, encoded, attention)
