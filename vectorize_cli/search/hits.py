"""Search results as the user sees them: one record per query, its hits best first.

    {"query": "...", "hits": [{"id": 7, "score": 0.83, "text": "...", "source": "a.txt", "line": 8}, ...]}

`text` is there when the dataset stores it (not with `embed --no-text`). Tables show the same fields.
"""

from dataclasses import dataclass


from vectorize_cli.views.matrix import new_table, printable, titled
from vectorize_cli.dataset import reader
from vectorize_cli.search.topk import Top


@dataclass(frozen=True)
class Result:
    query: str
    hits: list[dict]  # {id, score, text?, source, line}, best first


def results(ds: reader.Dataset, queries: list[str], top: Top) -> list[Result]:
    """Each query's hits with their stored fields (read once for all the queries)."""
    fields = reader.rows_by_id(ds, set(top.ids.ravel().tolist()))
    out = []
    for q, scores, ids in zip(queries, top.scores, top.ids):
        hits = [{"id": int(i), "score": s, **fields.get(int(i), {})} for s, i in zip(scores, ids)]
        out.append(Result(q, hits))
    return out


def hits_record(r: Result) -> dict:
    return {"query": r.query, "hits": r.hits}


def hits_table(renderer, r: Result, what: str):
    """One query's hits: rank, score, id, source:line, text."""
    t = new_table()
    for name in ("#", "score", "id", "source:line"):
        t.add_column(name, justify="right" if name != "source:line" else "left")
    with_text = any("text" in h for h in r.hits)
    if with_text:
        t.add_column("text", overflow="fold")
    for rank, h in enumerate(r.hits, 1):
        cells = [str(rank), f"{h['score']:.{renderer.precision}f}", str(h["id"]),
                 f"{h.get('source', '')}:{h.get('line', '')}"]
        t.add_row(*cells, *([printable(h.get("text", ""), 200)] if with_text else []))
    return titled(f"{printable(r.query, 80)}  ({what})", t)
