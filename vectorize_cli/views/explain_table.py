"""`vectorize explain`'s tables for the terminal, a function of one Explanation: the cosine and what its terms sum
to, the top token pairs, the cosine after each layer, each token's share, and the pair matrix as a heat table
(a long text's rows and columns thinned to the tokens of largest |share|, saying how many were left out).
The house style is views/matrix.py's."""

import math

import numpy as np
from rich.console import Group
from rich.rule import Rule
from rich.text import Text

from vectorize_cli.explain import Explanation, largest
from vectorize_cli.views.matrix import Renderer, new_table, printable, titled

BAR = 24  # characters of a per-layer bar at cosine 1


def digits(r: Renderer, values: np.ndarray) -> Renderer:
    """A renderer with enough decimals for the largest |value| to show two significant digits (a 256 x 256
    matrix's terms are near 1e-5), never fewer than --decimals."""
    top = float(np.abs(values).max()) if values.size else 0.0
    need = 1 - math.floor(math.log10(top)) if top > 0 else 0
    return Renderer(r.console, min(max(r.precision, need), 12), r.max_rows, r.trim)


def headline(e: Explanation) -> list:
    n, m = e.pairs.shape
    parts = [Text(f"cos(A, B) = {e.cosine:.7f}   ({e.model}, {e.pool} pooling, {n} x {m} tokens)", style="bold"),
             Text(f"the {n * m} pair terms ({e.method}) sum to {e.total:.7f}; minus the cosine: {e.delta:.2g}"
                  " (float32 rounding)"),
             Text(e.statement, style="yellow" if e.method != "exact" else "dim")]
    for side, cut in zip("AB", e.truncated):
        if cut:
            parts.append(Text(f"{side} was longer than the model reads: truncated to its first tokens", style="bold"))
    return parts + [Text("")]


def _pair(tokens: list[str], i: int) -> str:
    return f"{i} {printable(tokens[i])}"


def pairs_table(r: Renderer, e: Explanation, k: int) -> Group:
    """The k largest terms, then the 3 most negative."""
    r = digits(r, e.pairs)
    table = new_table()
    for name, justify in (("A token", "left"), ("B token", "left"), ("term", "right"), ("of the cosine", "right")):
        table.add_column(name, justify=justify)
    rows = e.top(k)
    lowest = [p for p in e.top(3, lowest=True) if p[2] < 0 and p not in rows]
    for n, (i, j, v) in enumerate([*rows, *lowest]):
        if n == len(rows) and lowest:
            table.add_row(*["…"] * 4)
        share = f"{100 * v / e.cosine:.1f}%" if e.cosine else "n/a"
        table.add_row(_pair(e.tokens[0], i), _pair(e.tokens[1], j), r.number(v), share)
    return titled(f"Top {len(rows)} token pairs (A's token i, B's token j)", table,
                  "term (i, j) = (s_i h_i) . (t_j g_j) / (|u| |v|); after … the most negative" if lowest else
                  "term (i, j) = (s_i h_i) . (t_j g_j) / (|u| |v|)")


def layers_table(r: Renderer, e: Explanation) -> Group:
    table = new_table()
    for name, justify in (("after", "left"), ("cosine", "right"), ("change", "right"), ("", "left")):
        table.add_column(name, justify=justify)
    previous = None
    for name, c in e.layers:
        change = "" if previous is None else f"{c - previous:+.{r.precision}f}"
        table.add_row(name, r.number(c), change, "█" * round(BAR * max(c, 0.0)))
        previous = c
    return titled(f"Where the two texts come together: the cosine of the {e.pool}-pooled hidden states", table,
                  "the last row is the sentence vectors' cosine (before the split above)")


def shares_table(r: Renderer, e: Explanation, side: int) -> Group:
    """One text's tokens and their shares (row or column sums), thinned to the max_rows largest |share|."""
    share = e.shares[side]
    keep = largest(share, r.max_rows)
    r = digits(r, share)
    table = new_table()
    for name, justify in (("#", "right"), ("token", "left"), ("share", "right"), ("", "left")):
        table.add_column(name, justify=justify, style="dim" if name == "#" else None)
    top = float(np.abs(share).max()) or 1.0
    for i in keep:
        table.add_row(str(i), printable(e.tokens[side][i]), r.number(float(share[i])),
                      ("█" if share[i] >= 0 else "░") * round(12 * abs(float(share[i])) / top))
    n = len(share)
    left = f"showing {len(keep)} of {n} tokens, those of largest |share|; " if len(keep) < n else ""
    return titled(f"{'AB'[side]}'s tokens: each one's share of the cosine ({'row' if side == 0 else 'column'} "
                  "summed)", table, f"{left}░: a negative share; the shares sum to the cosine")


def heat_table(r: Renderer, e: Explanation) -> Group:
    """The pair matrix, rows A's tokens, columns B's, thinned to the tokens of largest |share|."""
    (a, b), (n, m) = e.shares, e.pairs.shape
    rows = largest(a, r.max_rows)
    cols = largest(b, max(4, (r.console.width - 24) // 8))
    sub = e.pairs[np.ix_(rows, cols)]
    compact = digits(Renderer(r.console, 0, len(rows) + 1), sub)
    left = "" if (len(rows), len(cols)) == (n, m) else \
        (f"showing {len(rows)} of A's {n} tokens and {len(cols)} of B's {m}, those of largest |share| "
         f"({n * m - len(rows) * len(cols)} terms left out: every one is in -F json); ")
    return compact.matrix("The pair terms (rows: A's tokens, columns: B's)", [_pair(e.tokens[0], i) for i in rows],
                          sub, col_labels=[printable(e.tokens[1][j], 7) for j in cols], heat=True, index=False,
                          caption=f"{left}shade relative to the largest term; negative terms unshaded")


def explain_tables(r: Renderer, e: Explanation, top: int = 10) -> Group:
    """Every table of an explanation."""
    a, b = (printable(t, 50) for t in e.texts)
    return Group(Rule(Text(f"A: {a}   B: {b}"), style="bold"), *headline(e), pairs_table(r, e, top),
                 layers_table(r, e), shares_table(r, e, 0), shares_table(r, e, 1), heat_table(r, e))
