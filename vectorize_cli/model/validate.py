"""The one validation pass over a loaded model, before any text runs: a folder from anywhere either
computes finite vectors for every text, or is refused here with the file and the reason.

    weights      every number finite (NaN or inf would reach the output as null / NaN)
    converted    weights stored as float16, bfloat16 or float64 are read as float32: said once
    config       layer_norm_eps finite and > 0, pad_token_id a row of the vocabulary (files.py)
    tokenizer    every id it can give is a row of the word table (vocab_size), every token type a
                 row of the type table (type_vocab_size); checked on its vocabulary and on a probe
    sizes        max_length tokens fit the position table (files.py keeps max_length <= it)

Finite weights can still overflow float32 on the way (a LayerNorm gain of 1e38): a probe sentence
runs before any text (probe), and every result is checked before it is written (finite); numpy's
RuntimeWarnings are kept off stderr (quiet), the error says what happened instead.
"""

import warnings
from contextlib import contextmanager

import numpy as np

from vectorize_cli.errors import VectorizeError, tell
from vectorize_cli.model.files import Folder
from vectorize_cli.model.tokenizer import WordPiece

PROBE = "Probe, 1 2 3: ünïcode 漢字."  # letters, digits, punctuation, accents, CJK


def _leaves(tree, name: str = ""):
    """(name, array) of every weight in weights.from_safetensors' tree."""
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _leaves(v, f"{name}.{k}" if name else k)
    elif isinstance(tree, (list, tuple)):
        for i, v in enumerate(tree):
            yield from _leaves(v, f"{name}.{i}")
    else:
        yield name, tree


def weights(folder: Folder, w: dict, converted: dict[str, int]) -> None:
    path = folder.path / "model.safetensors"
    for name, a in _leaves(w):
        if not np.isfinite(a).all():
            bad = int(a.size - np.isfinite(a).sum())
            raise VectorizeError(f"{path}: {name} holds {bad} non-finite number(s) (NaN or inf); the model cannot run")
    if converted:
        said = ", ".join(f"{n} {dtype} tensor(s)" for dtype, n in sorted(converted.items()))
        tell("warning", f"{path}: {said} converted to float32, in which the model runs")


def tokenizer(folder: Folder, tok: WordPiece) -> None:
    c, path = folder.config, folder.path / "tokenizer.json"
    ids = tok.vocab_ids()
    if ids and not 0 <= min(ids) <= max(ids) < c.vocab_size:
        bad = max(ids) if max(ids) >= c.vocab_size else min(ids)
        raise VectorizeError(f"{path}: token id {bad} is not a row of the model's word table "
                             f"(config.json: vocab_size {c.vocab_size})")
    (probe,) = tok.raw([PROBE])
    for what, got, n, key in (("token id", np.array(probe.ids), c.vocab_size, "vocab_size"),
                              ("token type", np.array(probe.type_ids), c.type_vocab_size, "type_vocab_size")):
        if got.size and not 0 <= got.min() <= got.max() < n:
            bad = int(got.max() if got.max() >= n else got.min())
            raise VectorizeError(f"{path}: gives {what} {bad}, not a row of the model's table "
                                 f"(config.json: {key} {n})")


@contextmanager
def quiet():
    """numpy's overflow / invalid-value warnings off (every thread: warnings' filters are global)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def check_loaded(folder: Folder, w: dict, converted: dict[str, int], tok: WordPiece) -> None:
    """Everything above; the first failure is a VectorizeError naming the file."""
    if folder.max_length > folder.config.max_tokens:
        raise VectorizeError(f"{folder.path}: max_seq_length {folder.max_length} exceeds the position table")
    weights(folder, w, converted)
    tokenizer(folder, tok)
