"""`vectorize explain --format json`: the record of one Explanation (kind "explain"; schema
docs/explain-json-schema.json, documented in README.md). Every term is there, in float64, so anyone can check
that they sum to the cosine."""

from vectorize_cli.explain import Explanation

EXPLAIN_SCHEMA_VERSION = 2  # 2: the model record of schema 4 (n_kv_head, causal); bump on any change a consumer could notice, and document it in README.md


def explain_record(e: Explanation, top: int = 10) -> dict:
    a, b = e.shares
    layered = e.model != "toy"
    return {
        "schema_version": EXPLAIN_SCHEMA_VERSION,
        "kind": "explain",
        "model": e.about if layered else None,
        "config": None if layered else e.about,
        "texts": list(e.texts),
        "tokens": [list(t) for t in e.tokens],
        "truncated": list(e.truncated),
        "pool": e.pool,
        "method": e.method,
        "statement": e.statement,
        "cosine": e.cosine,
        "pairs_sum": e.total,
        "pairs_delta": e.delta,
        "pairs": e.pairs,  # (n, m) float64
        "shares": [a, b],  # (n,), (m,)
        "top_pairs": [{"a": i, "b": j, "a_token": e.tokens[0][i], "b_token": e.tokens[1][j], "term": v}
                      for i, j, v in e.top(top)],
        "layers": [{"name": name, "cosine": c} for name, c in e.layers],
    }
