"""What a figure of attention weights shows and how big it is, decided before anything is drawn (numpy only):
the heat maps (a model's --layer, or the toy's variants; every head or --head; at most MAX_MAPS), their size,
the tick labels that can be read at that size, a model's model view (every layer x head as a thumbnail, as
bertviz's model view), the title in lines, the notes that say what was left out, and the dpi:

    side  = clamp(CELL * T, MIN_SIDE, MAX_SIDE)         inches per heat map, whatever T
    step  = ceil(T * LABEL_IN / side)                   a tick label every `step` tokens
    dpi   = min(DPI, MAX_PX / max(width, height))       so that no side exceeds MAX_PX pixels
    tile  = min(T, thumbnail inches * dpi)              the model view's cells per map: block means of T / tile tokens

So the pixels, the time and the memory of a figure are bounded whatever T, layers and heads; `needs` says
its biggest arrays before they are allocated (views/figure.py refuses beyond --max-memory).
"""

import math
import textwrap
from dataclasses import dataclass, field

import numpy as np

from vectorize_cli.errors import UsageError, VectorizeError
from vectorize_cli.trace import Block, Trace
from vectorize_cli.views.headline import wrap_words

CELL = 0.26  # inches per token in a heat map, while it fits MAX_SIDE
MIN_SIDE, MAX_SIDE = 1.6, 4.5  # inches per heat map
PAD = 1.2  # inches around each heat map: its title and tick labels
LABEL_IN = 0.125  # inches per tick label: 8 pt text and a gap
LABEL_CHARS = 32  # longer tokens are cut with … in the tick labels
MAX_MAPS, PER_ROW = 16, 4  # heat maps drawn in full, and per row
THUMB = 0.9  # inches per model-view thumbnail, at most
DPI, MAX_PX = 200, 8000  # dots per inch, unless a side would exceed MAX_PX pixels
TITLE_LINES = 3
# bytes per pixel of the whole figure, per weight given to imshow, per pixel of the image being resampled:
# measured peaks (benchmarks/README.md, "The static figure"), rounded up
FIGURE_BYTES = {"png": 5, "svg": 1, "pdf": 9}
DATA_BYTES, IMAGE_BYTES, ARTISTS = 40, 60, 20 * 2**20
LINE_IN = 0.2  # inches per line of title or notes


def _chosen(trace: Trace, layer: int | None, head: int | None) -> list[tuple[Block, list[int]]]:
    """The blocks to draw, each with its heads (1-based): a model's `layer` (default 1), the toy's variants
    with weights; every head, or only `head`."""
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
        out.append((b, [head] if head is not None else list(range(1, H + 1))))
    return out


def _maps(chosen: list[tuple[Block, list[int]]], head: int | None, label=lambda h: f"head {h}"
          ) -> list[tuple[str, np.ndarray]]:
    """(title, weights) of each map; label(h): the head's name (Trace.head_label: its key/value head, if shared)."""
    return [(f"{b.name}, {label(h)}" if len(heads) > 1 or head is not None or b.weights.shape[0] > 1 else b.name,
             b.weights[h - 1]) for b, heads in chosen for h in heads]


def panels(trace: Trace, layer: int | None = None, head: int | None = None) -> list[tuple[str, np.ndarray]]:
    """The (title, (T, T) weights) of every heat map chosen, before MAX_MAPS: a model's `layer` (1-based,
    default 1), the toy's variants with weights; every head, or only `head` (1-based)."""
    return _maps(_chosen(trace, layer, head), head, trace.head_label)


def ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def block_means(w: np.ndarray, n: int) -> np.ndarray:
    """(..., T, T) -> (..., n, n): the mean of each block of about T / n x T / n weights (n <= T)."""
    T = w.shape[-1]
    edges = (np.arange(n) * T) // n  # block i covers tokens edges[i] .. edges[i + 1] - 1
    counts = np.diff(np.append(edges, T))
    return np.add.reduceat(np.add.reduceat(w, edges, axis=-2), edges, axis=-1) / np.outer(counts, counts)


def model_view(blocks: list[Block], n: int, gap: int) -> np.ndarray:
    """Every layer (rows) x head (columns) as an n x n thumbnail, NaN between them: (L n + (L-1) gap, H n + ...)."""
    L, H = len(blocks), blocks[0].weights.shape[0]
    out = np.full((L * n + (L - 1) * gap, H * n + (H - 1) * gap), np.nan, np.float32)
    for i, b in enumerate(blocks):
        m = block_means(b.weights, n)  # (H, n, n), each map divided by its largest weight
        top = m.max(axis=(1, 2), keepdims=True)
        for h, m in enumerate(m / np.where(top > 0, top, 1.0)):
            out[i * (n + gap): i * (n + gap) + n, h * (n + gap): h * (n + gap) + n] = m
    return out


@dataclass(frozen=True)
class Plan:
    """Sizes and choices only: the arrays drawn are made from it after the memory check (drawn, mosaic)."""

    maps: list[tuple[str, np.ndarray]]  # the heat maps drawn in full: (title, (T, T) weights of the trace)
    cells: int  # cells per heat map side: T, or fewer where pixels are fewer (block means)
    labels: list[str]  # T tick labels: the tokens, cut to LABEL_CHARS
    step: int  # a tick label every `step` tokens
    per_row: int
    side: float  # inches per heat map
    title: list[str]  # the title's lines
    notes: list[str]  # the note's lines: what was left out, and how to see it
    width: float  # inches
    height: float
    dpi: float
    layers: list[Block] = field(default_factory=list)  # the model view's rows (none: no model view)
    tile: int = 0  # its cells per thumbnail
    gap: int = 0  # its cells between thumbnails
    layer: int = 0  # its row drawn in full above (1-based)
    thumb: float = 0.0  # inches per thumbnail

    @property
    def pixels(self) -> tuple[int, int]:
        return round(self.width * self.dpi), round(self.height * self.dpi)

    @property
    def maps_height(self) -> float:
        return -(-len(self.maps) // self.per_row) * (self.side + PAD)

    @property
    def grid(self) -> tuple[int, int]:
        """The model view's layers and heads."""
        return (len(self.layers), self.layers[0].weights.shape[0]) if self.layers else (0, 0)

    def drawn(self) -> list[tuple[str, np.ndarray]]:
        """The heat maps as drawn: (cells, cells) each."""
        return [(name, w if self.cells == w.shape[-1] else block_means(w, self.cells)) for name, w in self.maps]

    def mosaic(self) -> np.ndarray | None:
        """The model view as drawn (model_view), or None."""
        return model_view(self.layers, self.tile, self.gap) if self.layers else None


def _capped(chosen: list[tuple[Block, list[int]]]) -> tuple[list[tuple[Block, list[int]]], list[str]]:
    """At most MAX_MAPS heat maps (one per block at the least): the first `per` heads of each block, `per` as
    large as fits; a note names the blocks cut."""
    if sum(len(heads) for _, heads in chosen) <= MAX_MAPS:
        return chosen, []
    per = max([p for p in range(1, MAX_MAPS + 1) if sum(min(len(h), p) for _, h in chosen) <= MAX_MAPS] or [1])
    cut = [f"{b.name}: {f'heads 1-{per}' if per > 1 else 'head 1'} of {len(heads)}" for b, heads in chosen
           if len(heads) > per]
    return [(b, heads[:per]) for b, heads in chosen], [", ".join(cut) + " in full (--head N for another)"]


def plan(trace: Trace, layer: int | None = None, head: int | None = None, title: str | None = None) -> Plan:
    """What the figure of `trace` draws, and at which size (see the module's equations)."""
    chosen, notes = _capped(_chosen(trace, layer, head))
    maps = _maps(chosen, head, trace.head_label)
    T = len(trace.tokens)
    side = min(max(CELL * T, MIN_SIDE), MAX_SIDE)
    step = max(1, math.ceil(T * LABEL_IN / side))
    labels = [t if len(t) <= LABEL_CHARS else t[: LABEL_CHARS - 1] + "…" for t in trace.tokens]
    if step > 1:
        notes.append(f"labels: every {ordinal(step)} token of {T}")
    if any(len(labels[i]) < len(trace.tokens[i]) for i in range(0, T, step)):
        notes.append(f"tokens over {LABEL_CHARS} characters cut with …")
    if trace.truncated:
        notes.append(f"the text was truncated to the model's {T} tokens")
    averaged = "each pixel of a heat map the mean of about {0:.2g} x {0:.2g} weights"
    if T > side * DPI:  # may have fewer pixels than weights: its line is reserved now, its numbers known below
        notes.append(averaged.format(T / (side * DPI)))
    layers = [b for b in trace.blocks if b.weights is not None] if trace.layered and head is None else []
    layers = layers if len(layers) > 1 else []
    per_row = min(len(maps), PER_ROW)
    width = per_row * (side + PAD) + 1.0
    lines = wrap_words(title, int(width * 72 / 7.5), TITLE_LINES) if title else []  # 10 pt: 7.5 pt a character
    note_width = int(width * 72 / 5)  # 7 pt: 5 pt a character
    thumb = min(THUMB, (width - 1.5) / layers[0].weights.shape[0]) if layers else 0.0
    height = (-(-len(maps) // per_row) * (side + PAD) + 0.2
              + LINE_IN * (len(lines) + len(textwrap.wrap("; ".join(notes), note_width)))
              + (len(layers) * thumb + 1.0 if layers else 0.0))
    dpi = min(DPI, math.floor(100 * MAX_PX / max(width, height)) / 100)
    px = int(side * dpi)  # pixels per heat map, about
    if T > side * DPI:
        notes.pop()
    if px < T:  # fewer pixels than weights: each pixel the mean of its block (none dropped, none repeated)
        notes.append(averaged.format(T / px))
    n = min(T, max(2, int(thumb * dpi)))
    return Plan(maps, min(T, px), labels, step, per_row, side, lines, textwrap.wrap("; ".join(notes), note_width),
                width, height, dpi, layers, n, max(1, n // 12), layer or 1, thumb)


def needs(p: Plan, fmt: str) -> list[tuple[str, int]]:
    """The figure's memory, (what, bytes), before anything is drawn: the whole figure's pixels (png: its RGBA
    canvas and the encoding; pdf: its images, held until the file is written), the weights given to matplotlib
    (its float64 and masked copies) and the largest image while it is resampled (float RGBA and copies)."""
    W, H = p.pixels
    side = round(p.side * p.dpi)
    parts = [(f"figure {W:,} x {H:,} px as {fmt}", W * H * FIGURE_BYTES[fmt]),
             (f"{len(p.maps)} heat maps of {p.cells} x {p.cells} cells", len(p.maps) * p.cells**2 * DATA_BYTES)]
    images = [side * side]  # one heat map
    if p.layers:
        (L, H), n, g = p.grid, p.tile, p.gap
        rows, cols = L * n + (L - 1) * g, H * n + (H - 1) * g  # model_view's shape
        parts.append((f"model view of {rows:,} x {cols:,} cells", rows * cols * DATA_BYTES))
        images.append(round(L * p.thumb * p.dpi) * round(H * p.thumb * p.dpi))
    parts.append((f"the largest image resampled, {max(images):,} px", max(images) * IMAGE_BYTES))
    return parts + [("matplotlib's axes, text and layout", ARTISTS)]
