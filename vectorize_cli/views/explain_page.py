"""`vectorize explain --format html`: one self-contained page of an Explanation, the way views/html.py makes every
page (inline script and style under a hash-only Content-Security-Policy, no request, strings only as text): the
two texts with each token shaded by its share of the cosine, the pair terms as a heat map with values on hover,
the cosine after each layer as a curve, the top pairs, and the method's statement. Its script is
page/explain.js, after heat.js and views.js (whose elements, heat map and numbers it uses).

The terms are stored as float32 (a long text's terms, near 1e-5, are below float16's normal range)."""

from vectorize_cli.explain import Explanation
from vectorize_cli.views.html import SCRIPTS, Store, assemble, small


def explain_page(e: Explanation, top: int = 10, title: str = "vectorize explain") -> bytes:
    store = Store()
    a, b = e.shares
    data = {
        "kind": "explain",
        "title": title,
        "model": e.model,
        "pool": e.pool,
        "method": e.method,
        "statement": e.statement,
        "texts": list(e.texts),
        "tokens": [list(t) for t in e.tokens],
        "truncated": list(e.truncated),
        "cosine": e.cosine,
        "sum": e.total,
        "delta": e.delta,
        "pairs": store.f32(e.pairs),  # (n, m)
        "shares": [small(a), small(b)],  # float64, exact
        "layers": [{"name": name, "cosine": c} for name, c in e.layers],
        "top": [{"a": i, "b": j, "term": v} for i, j, v in e.top(top)],
    }
    return assemble(data, store, SCRIPTS + ("explain.js",))
