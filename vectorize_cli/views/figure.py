"""A paper-ready static figure of attention weights: SVG, PNG or PDF, through matplotlib (the `bench` extra).

One heat map per head (a model: the chosen layer's; the toy: each variant's), rows queries, columns keys,
one shared colour scale (a sequential map, 0 to the largest weight shown) with its legend; for a model
without --head, below them every layer x head as a thumbnail (the model view), the chosen layer framed.
The title wraps between words; a note line says what was left out. What is drawn and at which size is
decided first (figure_plan.py), so the figure is at most MAX_PX pixels a side whatever T, layers and heads,
and its memory is estimated, and refused beyond --max-memory, before matplotlib is imported.
The same input gives the same bytes: SVG ids from a fixed hash salt, no date or software stamp in any
format. SVG keeps text as text (searchable, editable).
"""

import io
import warnings

from vectorize_cli.errors import UsageError, VectorizeError
from vectorize_cli.memory import refuse_over
from vectorize_cli.trace import Trace
from vectorize_cli.views.figure_plan import Plan, needs, panels, plan  # noqa: F401 (panels: the maps chosen)

SAVEFIG_METADATA = {  # format -> savefig metadata that would otherwise stamp a date or a version
    "svg": {"Date": None, "Creator": None},
    "png": {"Software": None},
    "pdf": {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None},
}
STYLE = {"svg.hashsalt": "vectorize", "svg.fonttype": "none", "pdf.compression": 6, "font.size": 8,
         "axes.titlesize": 9, "figure.titlesize": 10}


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


def _full_maps(sub, p: Plan) -> None:
    """The heat maps drawn in full, one colour scale and its legend."""
    T = len(p.labels)
    n_rows = -(-len(p.maps) // p.per_row)
    axes = sub.subplots(n_rows, p.per_row, squeeze=False)
    for ax in axes.flat[len(p.maps):]:
        ax.set_visible(False)
    maps = p.drawn()
    vmax = float(max(w.max() for _, w in maps))
    ticks = list(range(0, T, p.step))
    labels = [_label(p.labels[i]) for i in ticks]
    for ax, (title, w) in zip(axes.flat, maps):
        image = ax.imshow(w, cmap="Blues", vmin=0.0, vmax=vmax, interpolation="nearest",  # (T, T) or block means
                          extent=(-0.5, T - 0.5, T - 0.5, -0.5))  # in tokens either way
        ax.set_title(title)
        ax.set_xticks(ticks, labels, rotation=90)
        ax.set_yticks(ticks, labels)
        ax.set_xlabel("key")
        ax.set_ylabel("query")
    bar = sub.colorbar(image, ax=axes.ravel().tolist(), shrink=min(1.0, 3.0 / p.side), aspect=30)
    bar.set_label("attention weight (each row sums to 1)")


def _model_view(sub, p: Plan, cmap) -> None:
    """Every layer x head as a thumbnail: one image of p.mosaic, the layer drawn above framed."""
    from matplotlib.patches import Rectangle

    n, gap, mosaic = p.tile, p.gap, p.mosaic()
    L, H = p.grid
    ax = sub.subplots()
    ax.imshow(mosaic, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")  # (L n + ..., H n + ...)
    centre = [i * (n + gap) + (n - 1) / 2 for i in range(max(L, H))]
    ax.set_xticks(centre[:H], [str(h) for h in range(1, H + 1)])
    ax.set_yticks(centre[:L], [str(i) for i in range(1, L + 1)])
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    T = len(p.labels)
    how = "" if n == T else f"; each thumbnail the mean of blocks of about {T / n:.2g} x {T / n:.2g} weights"
    ax.set_title(f"Model view: every layer x head, each scaled to its own largest weight{how}; framed: layer "
                 f"{p.layer}, drawn above")
    top = (p.layer - 1) * (n + gap) - 0.5 - gap / 2
    ax.add_patch(Rectangle((-0.5 - gap / 2, top), mosaic.shape[1] + gap, n + gap, fill=False, edgecolor="#d62728",
                           linewidth=1.2, clip_on=False))


def figure(trace: Trace, *, layer: int | None = None, head: int | None = None, fmt: str = "svg",
           title: str | None = None, max_memory: int | None = None) -> bytes:
    """The attention weights of `trace` as a figure file's bytes (fmt: svg | png | pdf); refused with one
    line where its estimated memory exceeds max_memory (bytes)."""
    if fmt not in SAVEFIG_METADATA:
        raise UsageError(f"figure format {fmt}: use one of {', '.join(SAVEFIG_METADATA)}")
    p = plan(trace, layer, head, title)
    if max_memory is not None:
        refuse_over(needs(p, fmt), max_memory, "this figure",
                    lambda what: "draw one head (--head N), give a shorter text, or raise --max-memory")
    matplotlib, Figure = _matplotlib()
    with matplotlib.rc_context(STYLE), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # glyphs missing from the font (CJK, emoji) are drawn as boxes
        fig = Figure(figsize=(p.width, p.height), layout="constrained")
        if p.title:
            fig.suptitle("\n".join(_label(line) for line in p.title))
        if p.notes:
            fig.supxlabel("\n".join(_label(line) for line in p.notes), fontsize=7, color="#57606a")
        if not p.layers:
            _full_maps(fig, p)
        else:
            top, bottom = fig.subfigures(2, 1, height_ratios=[p.maps_height, p.height - p.maps_height])
            _full_maps(top, p)
            _model_view(bottom, p, matplotlib.colormaps["Blues"].with_extremes(bad="white"))
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, metadata=SAVEFIG_METADATA[fmt], dpi=p.dpi)
    return buffer.getvalue()
