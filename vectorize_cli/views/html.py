"""One self-contained HTML page of a trace: stages as heat maps, a head view (queries to keys, one colour
per head), a model view (every layer x head), mean / max over heads, attention rollout across layers
(Abnar & Zuidema 2020), variants side by side; also the article's worked example and a similarity matrix.

The page is one file: inline style and script (vectorize_cli/views/page/: page.html, page.css, heat.js,
views.js), the data as one JSON blob in <script type="application/json"> with '<', '>' and '&' escaped
(no token can close the tag). A Content-Security-Policy allows only that script and style, by hash, and
no request of any kind, so it opens from file:// offline and a hostile token can only ever be text (the
script writes every string with textContent). Numbers are stored compactly, in one deflated base64 string (class Store):

    weights, rollout   in [0, 1]   uint16  q = round(w * 65535)     |error| <= 7.7e-6
    stages, outputs                float16 (float32 where a value is beyond float16's range)
"""

import base64
import hashlib
import json
import zlib
from importlib.resources import files

import numpy as np

from vectorize_cli.attention.rollout import rollouts
from vectorize_cli.compare import differences
from vectorize_cli.trace import Block, Trace
from vectorize_cli.views.headline import shorten

PAGE = files("vectorize_cli.views") / "page"
SCRIPTS = ("heat.js", "views.js")  # one inline script, in this order
Q16 = 65535  # weights are stored as round(w * Q16) in a uint16
PAGE_TITLE = 1000  # characters of the title shown whole (wrapped); a longer one ends at a word, with …


class Store:
    """Every array of a page in one deflated byte string. A 16-bit array is stored as two planes, its high
    bytes then its low bytes (neighbouring weights share high bytes, so they deflate better); a matrix
    in the JSON is {shape, dtype, offset} into the inflated bytes."""

    def __init__(self):
        self.parts: list[bytes] = []
        self.size = 0

    def _add(self, shape, dtype: str, raw: bytes) -> dict:
        ref = {"shape": list(shape), "dtype": dtype, "offset": self.size}
        self.parts.append(raw)
        self.size += len(raw)
        return ref

    def _planes(self, shape, dtype: str, u: np.ndarray) -> dict:
        u = u.reshape(-1).view(np.uint16)
        return self._add(shape, dtype, (u >> 8).astype(np.uint8).tobytes() + (u & 0xFF).astype(np.uint8).tobytes())

    def unit(self, w: np.ndarray) -> dict:
        """Values in [0, 1] (attention weights, rollout) as uint16 q = round(w * 65535)."""
        return self._planes(w.shape, "u16", np.rint(np.clip(w.astype(np.float64), 0.0, 1.0) * Q16).astype(np.uint16))

    def real(self, x: np.ndarray) -> dict:
        """Any float matrix as float16, or as little-endian float32 where float16 would overflow."""
        with np.errstate(over="ignore"):  # an overflow is what the check below looks for
            h = x.astype(np.float16)
        if np.isfinite(h).all() or not np.isfinite(x).all():
            return self._planes(x.shape, "f16", h)
        return self.f32(x)

    def f32(self, x: np.ndarray) -> dict:
        """A float matrix as little-endian float32 (values too small or too finely spaced for float16)."""
        return self._add(x.shape, "f32", x.astype("<f4").tobytes())

    def blob(self) -> str:
        """base64(raw deflate(every array)): the browser inflates it with DecompressionStream("deflate-raw")."""
        pack = zlib.compressobj(6, zlib.DEFLATED, -15)
        return base64.b64encode(pack.compress(b"".join(self.parts)) + pack.flush()).decode("ascii")


def small(x) -> dict:
    """A small matrix as plain JSON numbers (float64, exact)."""
    x = np.asarray(x, dtype=np.float64)
    return {"shape": list(x.shape), "dtype": "json", "data": [float(v) for v in x.reshape(-1)]}


def _block(b: Block, store: Store) -> dict:
    return {
        "name": b.name,
        "variant": b.variant,
        "layer": b.layer,
        "weights": None if b.weights is None else store.unit(b.weights),  # (H, T, T)
        "output": store.real(b.output),  # (T, d_out)
        "sentence_vector": None if b.sentence_vector is None else store.real(b.sentence_vector[None]),  # (1, d_out)
        "ran": f"{b.ran.backend} {b.ran.device} {b.ran.dtype}, {b.ran.op}",
        "notes": list(b.ran.notes),
    }


def trace_data(trace: Trace, store: Store, token: int | None = None) -> dict:
    """Everything the page shows of one trace; token: the token it opens focused on."""
    weights = [b.weights for b in trace.blocks]
    layered = trace.layered and all(w is not None for w in weights)
    flows = [store.unit(r) for r in rollouts(weights)] if layered else None  # (T, T) through each layer
    compared = [] if trace.layered or len(trace.blocks) < 2 else differences(trace.blocks)
    return {
        "text": trace.text,
        "token": token if token is not None and 0 <= token < len(trace.tokens) else None,
        "tokens": list(trace.tokens),
        "layered": trace.layered,
        "model": None if trace.model is None else trace.model.to_dict(),
        "config": None if trace.config is None else trace.config.to_dict(),
        "truncated": trace.truncated,
        "stages": [{"key": s.key, "title": s.title, "values": store.real(s.values)} for s in trace.stages],
        "blocks": [_block(b, store) for b in trace.blocks],
        "rollout": flows,  # rollout through layer l, for each l
        "comparison": compared,
        "sentence_vector": None if trace.sentence_vector is None else store.real(trace.sentence_vector[None]),
    }


def _script_json(data: dict) -> str:
    """JSON that is safe inside <script type="application/json">: no '<' (so no '</script>'), '>' or '&'."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def assemble(data: dict, store: Store | None = None, scripts: tuple[str, ...] = SCRIPTS) -> bytes:
    """The page around a data blob and its arrays: template, style and script (scripts, in order: SCRIPTS and a
    page's own kind) from the package, the CSP by hash; the title whole up to PAGE_TITLE characters, else cut
    between words."""
    from html import escape

    data = {**data, "title": shorten(data["title"], PAGE_TITLE)}
    script = "".join((PAGE / name).read_text("utf-8") for name in scripts)
    style = (PAGE / "page.css").read_text("utf-8")
    csp = (f"default-src 'none'; script-src {_sha256(script)}; style-src {_sha256(style)}; "
           "base-uri 'none'; form-action 'none'")
    parts = {"csp": csp, "title": escape(data["title"]), "style": style, "script": script,
             "data": _script_json({**data, "store": (store or Store()).blob()})}
    template = (PAGE / "page.html").read_text("utf-8")
    out, rest = [], template
    while "{{" in rest:  # one pass: a placeholder inside a value is never expanded
        before, rest = rest.split("{{", 1)
        key, rest = rest.split("}}", 1)
        out += [before, parts[key]]
    return "".join(out + [rest]).encode("utf-8")


def page(traces: list[Trace], *, token: int | list[int | None] | None = None, title: str = "vectorize") -> bytes:
    """`vectorize run --format html`: every trace (one per sentence), every variant or layer and head.
    token: the token (index) the page opens focused on: one for every trace, or one per trace."""
    tokens = token if isinstance(token, list) else [token] * len(traces)
    if len(tokens) != len(traces):
        raise ValueError(f"{len(tokens)} tokens to focus for {len(traces)} traces")
    store = Store()
    return assemble({"kind": "run", "title": title, "traces": [trace_data(t, store, i) for t, i in zip(traces, tokens)]},
                  store)


def example_page(ex, title: str = "vectorize example: the article's worked example") -> bytes:
    """`vectorize example --format html`: the article's numbers beside the real computation, with the notes."""
    from vectorize_cli import example
    from vectorize_cli.trace import Stage

    T, H = example.TOKENS, ex.config.heads
    heads = [f"head {h + 1}" for h in range(H)]
    keys = T[: example.ARTICLE_WEIGHTS.shape[1]]
    cols12 = [f"h{h + 1}.{i + 1}" for h in range(H) for i in range(ex.config.head_dim)]
    q = T[example.QUERY]
    y_query = ex.real.output[example.QUERY]  # (H * hs,)

    def table(title, rows, values, cols=None, caption=""):
        return {"title": title, "rows": rows, "cols": cols, "values": small(values), "caption": caption}

    article = [
        table("1. Word embedding (d = 4)", T, ex.embedding),
        table("2. Positional encoding (linear)", T, ex.positional, None,
              "position p -> [0.01, 0.02, 0.03, 0.04] + 0.04 (p - 1)"),
        table("Embedding + positional", T, ex.encoded),
        table(f"3. The article's assumed weights of \"{q}\"", heads, example.ARTICLE_WEIGHTS, keys,
              "rows: heads, columns: keys"),
        table(f"x_\"{q}\" * weights, element by element", heads, ex.article_products),
        table("Concatenation, as the article computes it", [q], ex.article_concat[None], cols12),
    ]
    computed = [
        table("Had the article summed: sum_j w_j x_j with its weights", heads, ex.article_weighted_sums),
        table(f"Real weights of \"{q}\": softmax(q . k / sqrt(4)) over all ten tokens, seed {ex.config.seed}",
              heads, ex.real.weights[:, example.QUERY], T, "rows: heads, columns: keys; each row sums to 1"),
        table(f"Each head's output for \"{q}\": sum_j w_j (x_j W_v)", heads, y_query.reshape(H, -1)),
        table("Concatenation, computed", [q], y_query[None], cols12),
    ]
    block = ex.real
    stages = [Stage("embedding", "Word embedding", ex.embedding), Stage("positional", "Positional", ex.positional),
              Stage("encoded", "Embedding + positional", ex.encoded)]
    trace = Trace(example.SENTENCE, list(T), stages, [block], False, config=ex.config)
    store = Store()
    return assemble({"kind": "example", "title": title, "sentence": example.SENTENCE, "article": article,
                   "computed": computed, "notes": list(example.NOTES),
                   "traces": [trace_data(trace, store, example.QUERY)]}, store)


def similarity_page(model_name: str, texts: list[str], cosine: np.ndarray,
                    title: str = "vectorize similarity") -> bytes:
    """`vectorize similarity --format html`: the N x N cosine matrix, the texts as labels."""
    return assemble({"kind": "similarity", "title": title, "model": model_name, "texts": list(texts),
                   "cosine": small(cosine)})
