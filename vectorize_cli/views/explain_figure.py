"""`vectorize explain --format svg | png`: one figure of an Explanation through matplotlib (views/figure.py's
way: no date or software stamp, SVG text as text): the pair terms as a heat map (imshow, a diverging map
centred on 0; at most LABELS token labels per axis, the rest named in the note), the cosine after each layer,
and the method's statement under them. Its size is bounded, whatever the texts' lengths."""

import io
import textwrap
import warnings

import numpy as np

from vectorize_cli.explain import Explanation
from vectorize_cli.views.figure import SAVEFIG_METADATA, _label, _matplotlib

LABELS = 48  # token labels per axis at most
SIDE = (3.0, 8.0)  # inches of the heat map, least and most


def _ticks(tokens: list[str]) -> tuple[list[int], int]:
    """The token positions labelled (every step-th) and the step."""
    step = -(-len(tokens) // LABELS)
    return list(range(0, len(tokens), step)), step


def explain_figure(e: Explanation, fmt: str = "svg") -> bytes:
    matplotlib, Figure = _matplotlib()
    n, m = e.pairs.shape
    side = min(max(SIDE[0], 0.16 * max(n, m)), SIDE[1])
    top = float(np.abs(e.pairs).max()) or 1.0
    rows, rstep = _ticks(e.tokens[0])
    cols, cstep = _ticks(e.tokens[1])
    thinned = "" if rstep == cstep == 1 else f" Labels: every {rstep}th of A's tokens, every {cstep}th of B's."
    note = (f"The {n * m} pair terms ({e.method}) sum to {e.total:.7f} (minus the cosine: {e.delta:.2g}).{thinned} "
            + e.statement)
    with matplotlib.rc_context({"svg.hashsalt": "vectorize", "svg.fonttype": "none", "font.size": 8,
                                "axes.titlesize": 9}), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # glyphs missing from the font (CJK, emoji) are drawn as boxes
        fig = Figure(figsize=(side + 4.6, side + 2.2), layout="constrained")
        grid = fig.add_gridspec(1, 2, width_ratios=[side, 3.0])
        ax, curve = fig.add_subplot(grid[0]), fig.add_subplot(grid[1])
        image = ax.imshow(e.pairs, cmap="RdBu_r", vmin=-top, vmax=top, interpolation="nearest", aspect="auto")
        ax.set_yticks(rows, [_label(e.tokens[0][i]) for i in rows])
        ax.set_xticks(cols, [_label(e.tokens[1][j]) for j in cols], rotation=90)
        ax.set_ylabel("A's tokens")
        ax.set_xlabel("B's tokens")
        ax.set_title("term (i, j) of each token pair")
        fig.suptitle(f"cos(A, B) = {e.cosine:.4f}  ({e.model}, {e.pool} pooling)", fontsize=10)
        fig.colorbar(image, ax=ax, shrink=0.8, aspect=30).set_label("term (i, j)")
        names = [name for name, _ in e.layers]
        curve.plot(range(len(names)), [c for _, c in e.layers], marker="o", color="#08306b")
        curve.set_xticks(range(len(names)), [_label(s) for s in names], rotation=90)
        curve.set_ylabel("cosine of the pooled hidden states")
        curve.set_title("after each layer")
        curve.grid(alpha=0.3)
        fig.text(0.01, 0.01, "\n".join(textwrap.wrap(note, int(15 * (side + 4.6)))), fontsize=7, va="bottom")
        fig.get_layout_engine().set(rect=(0, 0.12, 1, 0.88))
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, metadata=SAVEFIG_METADATA[fmt], dpi=150)
    return buffer.getvalue()
