"""A paper-ready static figure of attention weights: SVG, PNG or PDF, through matplotlib (the `bench` extra).

One heat map per head (columns) and per variant (rows; a model: the chosen layer), rows queries,
columns keys, tokens as axis labels, one shared colour scale (a sequential map, 0 to the largest
weight shown) with its legend. The same input gives the same bytes: SVG ids from a fixed hash
salt, no date or software stamp in any format. SVG keeps text as text (searchable, editable).
"""

import io
import warnings

import numpy as np

from vectorize_cli.errors import UsageError, VectorizeError
from vectorize_cli.trace import Trace

FORMATS = {  # format -> savefig metadata that would otherwise stamp a date or a version
    "svg": {"Date": None, "Creator": None},
    "png": {"Software": None},
    "pdf": {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None},
}
CELL = 0.26  # inches per token in each heat map


def _matplotlib():
    try:
        import matplotlib
    except ImportError:
        raise VectorizeError("figures need matplotlib: pip install 'vectorize-cli[bench]'") from None
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return matplotlib, Figure


def _label(token: str) -> str:
    """A token as literal text: no mathtext ($), no control characters (shown as \\xNN)."""
    shown = "".join(c if c.isprintable() or c == " " else f"\\x{ord(c):02x}" for c in token)
    return shown.replace("$", r"\$")


def panels(trace: Trace, layer: int | None = None, head: int | None = None) -> list[tuple[str, np.ndarray]]:
    """The (title, (T, T) weights) of each heat map: a model's `layer` (1-based, default 1), the toy's
    variants with weights; every head, or only `head` (1-based)."""
    if trace.layered:
        layer = layer or 1
        if not 1 <= layer <= len(trace.blocks):
            raise UsageError(f"--layer {layer}: the model has layers 1 to {len(trace.blocks)}")
        blocks = [trace.blocks[layer - 1]]
    else:
        blocks = trace.blocks
    blocks = [b for b in blocks if b.weights is not None]
    if not blocks:
        raise VectorizeError("no attention weights to draw: fused kernels never hold them; add --weights")
    out = []
    for b in blocks:
        H = b.weights.shape[0]
        if head is not None and not 1 <= head <= H:
            raise UsageError(f"--head {head}: {b.name} has heads 1 to {H}")
        for h in [head] if head is not None else range(1, H + 1):
            out.append((f"{b.name}, head {h}" if H > 1 or head is not None else b.name, b.weights[h - 1]))
    return out


def figure(trace: Trace, *, layer: int | None = None, head: int | None = None, fmt: str = "svg") -> bytes:
    """The attention weights of `trace` as a figure file's bytes (fmt: svg | png | pdf)."""
    if fmt not in FORMATS:
        raise UsageError(f"figure format {fmt}: use one of {', '.join(FORMATS)}")
    matplotlib, Figure = _matplotlib()
    maps = panels(trace, layer, head)
    T = len(trace.tokens)
    labels = [_label(t) for t in trace.tokens]
    per_row = min(len(maps), 4 if T <= 24 else 2)
    n_rows = -(-len(maps) // per_row)
    side = max(1.6, CELL * T)
    vmax = float(max(w.max() for _, w in maps))
    with matplotlib.rc_context({"svg.hashsalt": "vectorize", "svg.fonttype": "none", "pdf.compression": 6,
                                "font.size": 8, "axes.titlesize": 9}), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # glyphs missing from the font (CJK, emoji) are drawn as boxes
        fig = Figure(figsize=(per_row * (side + 1.2) + 1.0, n_rows * (side + 1.2) + 0.4), layout="constrained")
        axes = fig.subplots(n_rows, per_row, squeeze=False)
        for ax in axes.flat[len(maps):]:
            ax.set_visible(False)
        for ax, (title, w) in zip(axes.flat, maps):
            image = ax.imshow(w, cmap="Blues", vmin=0.0, vmax=vmax, interpolation="nearest")
            ax.set_title(title)
            ticks = range(T) if T <= 64 else range(0, T, -(-T // 64))
            ax.set_xticks(list(ticks), [labels[i] for i in ticks], rotation=90)
            ax.set_yticks(list(ticks), [labels[i] for i in ticks])
            ax.set_xlabel("key")
            ax.set_ylabel("query")
        bar = fig.colorbar(image, ax=axes.ravel().tolist(), shrink=min(1.0, 3.0 / max(side, 1)), aspect=30)
        bar.set_label("attention weight (each row sums to 1)")
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, metadata=FORMATS[fmt], dpi=200)
    return buffer.getvalue()
