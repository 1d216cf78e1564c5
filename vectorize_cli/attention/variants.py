"""The attention variants: plain functions with one signature, in a registry keyed by the string
the user types (the CLI value, the registry key and the JSON name are the same).

    forward(x (T, d), params, config, attend) -> Attended(y (T, d_out), att (H, T, T) or None, op, notes)

attend(q, k, v) computes Attention(Q, K, V) on (H, T, hs) arrays: the function dispatch.py picks
from the variant's family and the backend: "explicit" (weights materialised) or "flash" (numpy
tiles or torch's fused kernel, never the weights). flash is multi-head's forward with the flash family.

Every variant is self-attention over the sentence: queries, keys and values all come from x.
They are written against the array API, so x and params may be numpy arrays or torch tensors.
Each entry also knows its parameters' shapes and its memory (memory.py asks it), so adding a
variant is one entry here and its test.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

from vectorize_cli.attention import params as P
from vectorize_cli.attention.dispatch import Attended
from vectorize_cli.attention.kernels import mask_future_, softmax_
from vectorize_cli.backend import namespace


def additive(x, p, config, attend=None) -> Attended:
    """Bahdanau et al. 2014 (eq. 6), as self-attention:
    score_ij = vᵀ tanh(x_i W_q + x_j W_k),  att_i = softmax_j(score_i),  y_i = sum_j att_ij x_j.
    Its own scoring, so it takes no attention function."""
    xp = namespace(x)
    s = xp.tanh((x @ p["w_q"])[:, None, :] + (x @ p["w_k"])[None, :, :]) @ p["v"]  # (T, T, d_a) @ (d_a,) -> (T, T)
    if config.causal:
        mask_future_(s)
    att = softmax_(s)  # (T, T), in place of s
    return Attended(att @ x, att[None], "explicit")  # (T, d), (1, T, T)


def scaled_dot(x, p, config, attend) -> Attended:
    """softmax(X Xᵀ / sqrt(d)) X: no parameters, every token is its own query, key and value."""
    a = attend(x[None], x[None], x[None])  # (1, T, d), (1, T, T)
    return a._replace(y=a.y[0])


def self_attention(x, p, config, attend) -> Attended:
    """softmax(Q Kᵀ / sqrt(d_k)) V with Q = X W_q, K = X W_k, V = X W_v: one head."""
    q, k, v = (x @ p[name] for name in ("w_q", "w_k", "w_v"))  # (T, d_k) each
    a = attend(q[None], k[None], v[None])
    return a._replace(y=a.y[0])  # (T, d_k), (1, T, T)


def multi_head(x, p, config, attend) -> Attended:
    """MultiHead(X) = Concat(head_1, ..., head_H) W_o,  head_h = Attention(X W_q^h, X W_k^h, X W_v^h)
    (Vaswani et al. 2017, section 3.2.2). Without W_o (--concat) the output is the concatenation."""
    xp, T, H = namespace(x), x.shape[0], config.heads
    q, k, v = (
        xp.permute_dims(xp.reshape(x @ p[name], (T, H, -1)), (1, 0, 2))  # (T, H*hs) -> (H, T, hs)
        for name in ("w_q", "w_k", "w_v")
    )
    a = attend(q, k, v)  # (H, T, hs), (H, T, T) or None
    y = xp.reshape(xp.permute_dims(a.y, (1, 0, 2)), (T, -1))  # (T, H*hs): the heads side by side
    if "w_o" in p:
        y = y @ p["w_o"]  # (T, d)
    return a._replace(y=y)


# Memory of one sentence's intermediates, in numbers (memory.py multiplies by the item size):
# (what, numbers) for the largest arrays a variant holds at once, its projections and output.

def _additive_memory(name: str, T: int, c) -> tuple[str, int]:
    """The tanh argument and its value (T, T, d), then the scores' softmax."""
    return f"additive scores {T} x {T} x {c.dim}", 2 * T * T * c.dim + 3 * T * T + 4 * T * c.dim


def _explicit_memory(heads: Callable, width: Callable):
    def memory(name: str, T: int, c) -> tuple[str, int]:
        H = heads(c)
        return f"{name} weights {H} x {T} x {T}", 3 * H * T * T + 4 * T * width(c)  # scores, exp, weights
    return memory


def _flash_memory(name: str, T: int, c) -> tuple[str, int]:
    """Every core works on its own task's tile (kernels.flash_tiles); with --weights, the explicit path's weights."""
    H, hs, B = c.heads, c.head_dim, c.block_size
    if c.weights:
        return _explicit_memory(lambda c: c.heads, lambda c: c.heads * c.head_dim)(name, T, c)
    from vectorize_cli.attention.kernels import flash_tiles
    from vectorize_cli.parallel import cores

    g, Bq, Bk = flash_tiles(H, T, T, B)
    tile, workers = g * min(Bq, T) * min(Bk, T), min(cores(), -(-T // Bq) * -(-H // g))
    # per task at most four tile-sized arrays (the scores, exp in place; a masked copy; its mask; slack);
    # then q scaled, y, and q, k, v
    return f"flash tiles {g} x {min(Bq, T)} x {min(Bk, T)}", 4 * tile * workers + 4 * T * H * hs + 3 * H * T * hs


@dataclass(frozen=True)
class Variant:
    forward: Callable  # (x, params, config, attend) -> Attended
    params: Callable  # config -> dict of named arrays (seeded, cached)
    param_shapes: Callable  # config -> {name: shape}, without drawing them
    memory: Callable  # (name, T, config) -> (what, numbers) of its biggest intermediates
    summary: str  # one line for `vectorize variants`
    reference: str
    family: str = "explicit"  # explicit: the weights are materialised; flash: never held whole
    param_group: str | None = None  # variants sharing a group share their parameters (flash uses multi-head's)

    @property
    def materialises_weights(self) -> bool:
        return self.family == "explicit"

    def param_numbers(self, c) -> tuple[int, int]:
        """(all the parameters' numbers, the largest one's)."""
        sizes = [math.prod(shape) for shape in self.param_shapes(c).values()]
        return sum(sizes), max(sizes, default=0)


def _mh_shapes(c) -> dict:
    width = c.heads * c.head_dim
    return {"w_q": (c.dim, width), "w_k": (c.dim, width), "w_v": (c.dim, width),
            **({} if c.concat else {"w_o": (width, c.dim)})}


_mh_params = lambda c: P.multi_head_params(c.dim, c.heads, c.head_dim, c.concat, c.seed)  # noqa: E731
_one_head = _explicit_memory(lambda c: 1, lambda c: c.dim)

VARIANTS: dict[str, Variant] = {
    "additive": Variant(
        additive,
        lambda c: P.additive_params(c.dim, c.seed),
        lambda c: {"w_q": (c.dim, c.dim), "w_k": (c.dim, c.dim), "v": (c.dim,)},
        _additive_memory,
        "score = v·tanh(q W_q + k W_k); weights average the token vectors",
        "Bahdanau, Cho & Bengio 2014, arXiv:1409.0473",
        param_group="additive",
    ),
    "scaled-dot": Variant(
        scaled_dot,
        lambda c: {},
        lambda c: {},
        _one_head,
        "softmax(X Xᵀ/√d) X: the bare formula, no parameters",
        "Vaswani et al. 2017, arXiv:1706.03762, eq. 1",
    ),
    "self": Variant(
        self_attention,
        lambda c: P.self_attention_params(c.dim, c.seed),
        lambda c: {name: (c.dim, c.dim) for name in ("w_q", "w_k", "w_v")},
        _one_head,
        "one head with learned W_q, W_k, W_v: softmax(QKᵀ/√d_k) V",
        "Vaswani et al. 2017, arXiv:1706.03762, section 3.2.1",
        param_group="self",
    ),
    "multi-head": Variant(
        multi_head,
        _mh_params,
        _mh_shapes,
        _explicit_memory(lambda c: c.heads, lambda c: c.heads * c.head_dim),
        "H heads in subspaces of size hs, concatenated, then W_o",
        "Vaswani et al. 2017, arXiv:1706.03762, section 3.2.2",
        param_group="multi-head",
    ),
    "flash": Variant(
        multi_head,
        _mh_params,
        _mh_shapes,
        _flash_memory,
        "multi-head computed tile by tile with an online softmax; no T×T matrix",
        "Dao et al. 2022, arXiv:2205.14135",
        family="flash",
        param_group="multi-head",
    ),
}
# the attention a pretrained BERT has: the variants that compute multi-head attention (two ways)
MODEL_VARIANTS = tuple(name for name, v in VARIANTS.items() if v.forward is multi_head)
