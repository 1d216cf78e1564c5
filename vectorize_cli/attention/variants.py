"""The attention variants: plain functions with one signature, in a registry keyed by the string
the user types (the CLI value, the registry key and the JSON name are the same).

    forward(x (T, d), params, config, kernel) -> (y (T, d_out), att (H, T, T) or None)

kernel computes Attention(Q, K, V) on (H, T, hs) arrays; the pipeline picks it from the variant's
kernel family and the backend: "explicit" (weights materialised) or "flash" (numpy tiles or
torch's fused kernel, never the weights). flash is multi-head's forward with the flash kernel.

Every variant is self-attention over the sentence: queries, keys and values all come from x.
They are written against the array API, so x and params may be numpy arrays or torch tensors.
"""

from collections.abc import Callable
from dataclasses import dataclass

from vectorize_cli.attention import params as P
from vectorize_cli.attention.kernels import mask_future, namespace, softmax


def additive(x, p, config, kernel=None):
    """Bahdanau et al. 2014 (eq. 6), as self-attention:
    score_ij = vᵀ tanh(x_i W_q + x_j W_k),  att_i = softmax_j(score_i),  y_i = sum_j att_ij x_j.
    Its own scoring, so it takes no kernel."""
    xp = namespace(x)
    s = xp.tanh((x @ p["w_q"])[:, None, :] + (x @ p["w_k"])[None, :, :]) @ p["v"]  # (T, T, d_a) @ (d_a,) -> (T, T)
    if config.causal:
        s = mask_future(s)
    att = softmax(s)  # (T, T)
    return att @ x, att[None]  # (T, d), (1, T, T)


def scaled_dot(x, p, config, kernel):
    """softmax(X Xᵀ / sqrt(d)) X: no parameters, every token is its own query, key and value."""
    y, att = kernel(x[None], x[None], x[None], config.causal, config.block_size)  # (1, T, d), (1, T, T)
    return y[0], att


def self_attention(x, p, config, kernel):
    """softmax(Q Kᵀ / sqrt(d_k)) V with Q = X W_q, K = X W_k, V = X W_v: one head."""
    q, k, v = (x @ p[name] for name in ("w_q", "w_k", "w_v"))  # (T, d_k) each
    y, att = kernel(q[None], k[None], v[None], config.causal, config.block_size)
    return y[0], att  # (T, d_k), (1, T, T)


def multi_head(x, p, config, kernel):
    """MultiHead(X) = Concat(head_1, ..., head_H) W_o,  head_h = Attention(X W_q^h, X W_k^h, X W_v^h)
    (Vaswani et al. 2017, section 3.2.2). Without W_o (--concat) the output is the concatenation."""
    xp, T, H = namespace(x), x.shape[0], config.heads
    q, k, v = (
        xp.permute_dims(xp.reshape(x @ p[name], (T, H, -1)), (1, 0, 2))  # (T, H*hs) -> (H, T, hs)
        for name in ("w_q", "w_k", "w_v")
    )
    y, att = kernel(q, k, v, config.causal, config.block_size)  # (H, T, hs), (H, T, T) or None
    y = xp.reshape(xp.permute_dims(y, (1, 0, 2)), (T, -1))  # (T, H*hs): the heads side by side
    if "w_o" in p:
        y = y @ p["w_o"]  # (T, d)
    return y, att


@dataclass(frozen=True)
class Variant:
    forward: Callable  # (x, params, config, kernel) -> (y, att | None)
    params: Callable  # config -> dict of named arrays
    summary: str  # one line for `vectorize variants`
    reference: str
    kernel: str = "explicit"  # explicit: the weights are materialised; flash: never held whole

    @property
    def materialises_weights(self) -> bool:
        return self.kernel == "explicit"


_mh_params = lambda c: P.multi_head(c.dim, c.heads, c.head_dim, c.concat, c.seed)  # noqa: E731

ATTENTION: dict[str, Variant] = {
    "additive": Variant(
        additive,
        lambda c: P.additive(c.dim, c.seed),
        "score = v·tanh(q W_q + k W_k); weights average the token vectors",
        "Bahdanau, Cho & Bengio 2014, arXiv:1409.0473",
    ),
    "scaled-dot": Variant(
        scaled_dot,
        lambda c: {},
        "softmax(X Xᵀ/√d) X: the bare formula, no parameters",
        "Vaswani et al. 2017, arXiv:1706.03762, eq. 1",
    ),
    "self": Variant(
        self_attention,
        lambda c: P.self_attention(c.dim, c.seed),
        "one head with learned W_q, W_k, W_v: softmax(QKᵀ/√d_k) V",
        "Vaswani et al. 2017, arXiv:1706.03762, section 3.2.1",
    ),
    "multi-head": Variant(
        multi_head,
        _mh_params,
        "H heads in subspaces of size hs, concatenated, then W_o",
        "Vaswani et al. 2017, arXiv:1706.03762, section 3.2.2",
    ),
    "flash": Variant(
        multi_head,
        _mh_params,
        "multi-head computed tile by tile with an online softmax; no T×T matrix",
        "Dao et al. 2022, arXiv:2205.14135",
        kernel="flash",
    ),
}
