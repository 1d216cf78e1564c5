"""What `vectorize run --model` and `vectorize similarity` do, once cli.py has parsed the options.

Data goes to stdout (tables, JSON, or .npy bytes), warnings to stderr as one line each
(`vectorize: warning: ...`), errors as UsageError / VectorizeError for cli.py to report.
"""

import io
from collections.abc import Iterable
from typing import BinaryIO

import numpy as np

from vectorize_cli.errors import UsageError, tell
from vectorize_cli.model import budget, render
from vectorize_cli.model.validate import finite, quiet
from vectorize_cli.model.bert import Model, load
from vectorize_cli.model.pipeline import VARIANTS, encode, l2_normalize, trace
from vectorize_cli.model.serialize import record, similarity_record
from vectorize_cli.output import WRITERS, Output
from vectorize_cli.sink import write_record


def variant(attention: list[str]) -> str:
    names = list(dict.fromkeys(attention))
    if len(names) != 1 or names[0] not in VARIANTS:
        bad = [n for n in names if n not in VARIANTS]
        why = f"-a {bad[0]} does not exist in a pretrained BERT" if bad else "give one -a with --model"
        raise UsageError(f"{why}; its attention is {' or '.join(VARIANTS)} (the same function)")
    return names[0]


def _in_range(name: str, value: int | None, n: int, what: str) -> None:
    if value is not None and not 1 <= value <= n:
        raise UsageError(f"--{name} {value}: the model has {n} {what}, numbered 1 to {n}")


def _warn_truncated(model: Model, truncated: list[int], single: bool) -> None:
    if truncated:
        n = model.folder.max_length
        which = "the text is" if single else f"{len(truncated)} input(s) are"
        where = "" if single else " (input " + ", ".join(str(i + 1) for i in truncated[:10]) + \
            (", ..." if len(truncated) > 10 else "") + ")"
        tell("warning", f"{which} longer than the model's {n} tokens{where}; truncated to the first {n}")


def write_npy(a: np.ndarray, sink: BinaryIO) -> None:
    """N x d float32 little-endian, as np.save writes: np.load(io.BytesIO(sys.stdin.buffer.read()))."""
    if sink.isatty():
        raise UsageError("--format npy writes binary: redirect stdout to a file or a pipe, or use --output")
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(a, dtype="<f4"), allow_pickle=False)
    write_record(sink, buf.getvalue())


def _nonempty(texts: Iterable[str]) -> Iterable[str]:
    """The texts, each checked: a blank TEXT argument is a usage error (stream lines are never blank)."""
    for t in texts:
        if not t.strip():
            raise UsageError("the text is empty")
        yield t


def run(texts: Iterable[str], single: bool, source: str, attention: list[str], backend: str, layer: int | None,
        head: int | None, fmt: str, precision: int, batch_size: int, sink: BinaryIO,
        max_memory: int = 4 << 30) -> None:
    """`vectorize run --model`: each sentence stage by stage (table, json, jsonl), or all their
    sentence vectors at once as an N x d array (npy)."""
    name = variant(attention)
    model = load(source)
    c = model.folder.config
    _in_range("layer", layer, c.n_layer, "layers")
    _in_range("head", head, c.n_head, "heads")
    texts = _nonempty(texts)
    if fmt == "npy":
        texts = list(texts)
        budget.check_encode(model.folder, [len(t) for t in texts], name, batch_size, max_memory)
        with quiet():
            vectors, truncated = encode(model, texts, name, backend, batch_size)
        finite("the input", vectors)
        _warn_truncated(model, truncated, single)
        write_npy(vectors, sink)
        return

    def results():
        for i, t in enumerate(texts):
            budget.check_trace(model.folder, len(t), max_memory)
            with quiet():
                res = trace(model, t, name, backend)
            finite(f"input {i + 1}", res.embedded, res.sentence_vector, *(x for L in res.layers
                                                                         for x in (L.output, L.weights)))
            _warn_truncated(model, [i] if res.encoding.truncated else [], single)  # as each is written
            yield res

    f = model.folder
    out = Output(single, lambda res: record(res, model, source, layer or 1, head),
                 lambda renderer, res: render.result(renderer, res, layer or 1, head, f.pool, f.normalize), precision,
                 max_memory)
    WRITERS[fmt](results(), out, sink)


def similarity(texts: Iterable[str], source: str, attention: list[str], backend: str, fmt: str, precision: int,
               batch_size: int, sink: BinaryIO, max_memory: int = 4 << 30) -> None:
    """`vectorize similarity`: the cosine of every pair of sentence vectors, N x N."""
    name = variant(attention)
    texts = list(_nonempty(texts))
    if len(texts) < 2:
        raise UsageError("give at least two texts to compare")
    budget.check_similarity(len(texts), fmt, max_memory)
    model = load(source)
    budget.check_encode(model.folder, [len(t) for t in texts], name, batch_size, max_memory)
    with quiet():
        vectors, truncated = encode(model, texts, name, backend, batch_size)
    finite("the input", vectors)
    _warn_truncated(model, truncated, False)
    unit = l2_normalize(vectors)
    cosine = np.clip(unit @ unit.T, -1.0, 1.0)  # (N, N)
    if fmt == "npy":
        return write_npy(cosine, sink)
    out = Output(True, lambda c: similarity_record(model, source, texts, c),
                 lambda renderer, c: render.similarity(renderer, model.folder.name, texts, c), precision, max_memory)
    WRITERS[fmt]([cosine], out, sink)
