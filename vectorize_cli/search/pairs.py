"""`search --explain`: each hit's top token pairs with its query, by `explain`'s split (explain.py) of the cosine
of the two texts as traced (full precision: the hit's score may come from quantized vectors and differ a little).

    hit["pairs"] = [{"query_token": "reset", "hit_token": "reset", "term": 0.061}, ...]   the largest terms first
"""

from rich.console import Group

from vectorize_cli.errors import UsageError
from vectorize_cli.explain import explain_pair
from vectorize_cli.search.hits import Result
from vectorize_cli.views.matrix import new_table, printable, titled

PAIRS = 3  # token pairs per hit


def with_pairs(results: list[Result], encoder, k: int = PAIRS) -> list[Result]:
    """The results, each hit with its k largest pair terms (the hits' text needed: not `embed --no-text`)."""
    for r in results:
        q = encoder.trace(r.query)
        for h in r.hits:
            if "text" not in h:
                raise UsageError("--explain needs the hits' text, which this dataset does not store "
                                 "(it was embedded with --no-text)")
            e = explain_pair(q, encoder.trace(h["text"]))
            h["pairs"] = [{"query_token": e.tokens[0][i], "hit_token": e.tokens[1][j], "term": v}
                          for i, j, v in e.top(k)]
    return results


def hits_pairs_table(renderer, r: Result, hits_table) -> Group:
    """hits_table (the hits), then each hit's pairs: rank, query token, hit token, term."""
    t = new_table()
    for name in ("#", "query token", "hit token", "term"):
        t.add_column(name, justify="right" if name in ("#", "term") else "left")
    for rank, h in enumerate(r.hits, 1):
        for n, p in enumerate(h.get("pairs", [])):
            t.add_row(str(rank) if n == 0 else "", printable(p["query_token"]), printable(p["hit_token"]),
                      f"{p['term']:.{renderer.precision}f}")
    return Group(hits_table, titled("Why: each hit's largest token-pair terms (vectorize explain)", t))
