"""Why two texts are similar: the cosine of their sentence vectors split into one term per token pair, and the
cosine of the pooled hidden states after each layer (`vectorize explain`). One value, Explanation; the table,
JSON, page and figure are functions of it (views/explain_*.py).

A pooling is a weighted sum of the token outputs, feature by feature: u = sum_i s_i * h_i, s_i in R^d, so

    cos(u, v) = u . v / (|u| |v|) = sum_ij (s_i * h_i) . (t_j * g_j) / (|u| |v|)        one term per pair (i, j)

    mean   s_i = 1/n                  linear: cos = sum_ij (h_i . g_j) / (n m |u| |v|)     exact in the tokens
    max    s_ik = [i = argmax_i h_ik]  each feature credited to the token max pooling kept  not linear
    first  s_0 = 1, others 0           the whole cosine on the pair of first tokens ([CLS])  not linear

h_i (n, d), g_j (m, d): the last layer's token outputs, before normalization, special tokens included (the
model's mean pooling counts [CLS] and [SEP]). The terms are computed in float64; they sum to the cosine the
sentence vectors give (float32, as `similarity` computes it) to float32 rounding, and the difference is stated.
"""

from dataclasses import dataclass

import numpy as np

from vectorize_cli.errors import UsageError
from vectorize_cli.pooling import POOLING, cosines
from vectorize_cli.trace import Trace

# pooling -> (method, what the split is): stated in every view, so no view shows an approximation silently
METHODS = {
    "mean": ("exact", "Mean pooling is linear: cos(u, v) = sum_ij (h_i . g_j) / (n m |u| |v|) splits exactly "
                      "into one term per token pair (h_i, g_j the last layer's token outputs; a model's [CLS] and "
                      "[SEP] included, as its mean pooling counts them)."),
    "max": ("selection", "Max pooling is not linear: the exact split by token pairs of mean pooling does not "
                         "apply. Shown instead: each feature credited to the one token per text whose value max "
                         "pooling kept (u_k = h_ik for that token i). These terms sum to the cosine, but a token "
                         "that kept no feature gets 0, however much it shaped the others through attention."),
    "first": ("selection", "First-token ([CLS]) pooling is not linear in the tokens: the exact split by token "
                           "pairs of mean pooling does not apply. Shown instead: the whole cosine on the pair of "
                           "first tokens, the only ones pooling keeps; the other tokens act only through "
                           "attention, which this split does not trace (the per-layer cosines still hold)."),
}


def _mean_weights(h: np.ndarray) -> np.ndarray:
    return np.full(h.shape, 1.0 / h.shape[0])  # (n, d)


def _max_weights(h: np.ndarray) -> np.ndarray:
    s = np.zeros(h.shape)  # (n, d): one 1 per feature, at the first token of largest value (numpy's argmax)
    s[np.argmax(h, axis=0), np.arange(h.shape[1])] = 1.0
    return s


def _first_weights(h: np.ndarray) -> np.ndarray:
    s = np.zeros(h.shape)
    s[0] = 1.0
    return s


POOL_WEIGHTS = {"mean": _mean_weights, "max": _max_weights, "first": _first_weights}  # h (T, d) -> s (T, d)


def pair_terms(h: np.ndarray, g: np.ndarray, pool: str) -> np.ndarray:
    """Token outputs h (n, d), g (m, d) -> (n, m) float64, term (i, j) = (s_i * h_i) . (t_j * g_j) / (|u| |v|):
    they sum to cos(u, v) of the pooled vectors u = sum_i s_i * h_i, v = sum_j t_j * g_j."""
    h, g = h.astype(np.float64), g.astype(np.float64)
    a, b = POOL_WEIGHTS[pool](h) * h, POOL_WEIGHTS[pool](g) * g  # (n, d), (m, d): each token's part of u, v
    norms = max(float(np.linalg.norm(a.sum(axis=0))), 1e-12) * max(float(np.linalg.norm(b.sum(axis=0))), 1e-12)
    return a @ b.T / norms  # (n, m)


def states(t: Trace) -> list[tuple[str, np.ndarray]]:
    """The hidden states (T, d) the per-layer cosines pool: a model's embeddings and each layer's output; the
    toy's encoded input and its one variant's output."""
    if t.layered:
        return [("embeddings", t.stage("embedded")), *((f"layer {b.layer}", b.output) for b in t.blocks)]
    return [("embedding + positional", t.stage("encoded")), *((b.name, b.output) for b in t.blocks)]


def layer_cosines(a: Trace, b: Trace, pool: str) -> list[tuple[str, float]]:
    """(name, cos(pool(x_a), pool(x_b))) after the embeddings and after each layer, pooled as the model pools."""
    return [(name, float(cosines(np.stack([POOLING[pool](x), POOLING[pool](y)]))[0, 1]))
            for (name, x), (_, y) in zip(states(a), states(b))]


def largest(values: np.ndarray, k: int) -> list[int]:
    """The indices of the k values of largest |value|, in their own order (a long text's rows thinned)."""
    if len(values) <= k:
        return list(range(len(values)))
    return sorted(np.argsort(-np.abs(values), kind="stable")[:k].tolist())


@dataclass(frozen=True)
class Explanation:
    texts: tuple[str, str]
    tokens: tuple[list[str], list[str]]  # n, m: the tokens each text's sentence vector pools
    model: str  # all-MiniLM-L6-v2, a folder's name, or "toy"
    pool: str  # mean | max | first: how the sentence vectors pool the last layer
    cosine: float  # cos(u, v) of the two sentence vectors, as `similarity` computes it (float32)
    pairs: np.ndarray  # (n, m) float64: one term per token pair (METHODS[pool]); they sum to the cosine
    layers: list[tuple[str, float]]  # (name, cosine of the pooled hidden states), embeddings first, last = cosine
    truncated: tuple[bool, bool] = (False, False)  # a text was cut to the model's max_length tokens
    about: dict | None = None  # a model's ModelInfo.to_dict(), or the toy's Config.to_dict()

    @property
    def method(self) -> str:
        """exact (the split of a linear pooling) or selection (the tokens a non-linear pooling kept)."""
        return METHODS[self.pool][0]

    @property
    def statement(self) -> str:
        return METHODS[self.pool][1]

    @property
    def total(self) -> float:
        return float(self.pairs.sum())

    @property
    def delta(self) -> float:
        """sum of the terms - cosine: float32 rounding (the vectors are float32; the terms float64)."""
        return self.total - self.cosine

    @property
    def shares(self) -> tuple[np.ndarray, np.ndarray]:
        """(n,) each of A's tokens' share of the cosine (its row summed), (m,) each of B's (its column)."""
        return self.pairs.sum(axis=1), self.pairs.sum(axis=0)

    def top(self, k: int, lowest: bool = False) -> list[tuple[int, int, float]]:
        """The k pairs (i, j, term) of largest terms, largest first (lowest: the most negative first)."""
        flat = self.pairs.ravel()
        order = np.argsort(flat if lowest else -flat, kind="stable")[:k]
        m = self.pairs.shape[1]
        return [(int(f // m), int(f % m), float(flat[f])) for f in order]


def explain_pair(a: Trace, b: Trace, vectors: np.ndarray | None = None) -> Explanation:
    """Two traces (one model, or the toy with one variant) -> Explanation. vectors (2, d): the sentence vectors
    whose cosine is explained (the command passes the encoder's, which `similarity` prints); default: the
    traces' own."""
    if a.layered != b.layered or (not a.layered and len(a.blocks) != 1):
        raise UsageError("explain compares two texts through one model, or the toy pipeline with one variant")
    pool = a.model.pool if a.layered else a.config.pool
    if pool not in POOL_WEIGHTS:
        raise UsageError(f"pooling {pool!r} makes no sentence vector to explain; use mean, max or first")
    if vectors is None:
        vectors = np.stack([t.sentence_vector if t.layered else t.blocks[0].sentence_vector for t in (a, b)])
    cosine = float(cosines(np.asarray(vectors, dtype=np.float32))[0, 1])
    pairs = pair_terms(a.blocks[-1].output, b.blocks[-1].output, pool)  # (n, m)
    name, about = (a.model.name, a.model.to_dict()) if a.layered else ("toy", a.config.to_dict())
    return Explanation((a.text, b.text), (list(a.tokens), list(b.tokens)), name, pool, cosine, pairs,
                       layer_cosines(a, b, pool), (a.truncated, b.truncated), about)
