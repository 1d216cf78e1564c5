"""A matrix as a rich table for the terminal: rows are tokens, numbers right-aligned; the house style
every table view shares (views/table.py).

Attention weights are heat-shaded on a single-hue ramp (light -> dark blue) with query rows and
key columns. Wide or long matrices show their first and last rows/columns around an ellipsis.
Colour follows rich: off when stdout is not a terminal or NO_COLOR is set.
"""

import unicodedata

import numpy as np
from rich import box
from rich.console import Console, Group
from rich.style import Style
from rich.table import Table
from rich.text import Text

ELLIPSIS = "…"
_LIGHT, _DARK = np.array([247, 251, 255]), np.array([8, 48, 107])  # ColorBrewer "Blues" ends


def printable(token: str, width: int = 16) -> str:
    """A token as a label: control and format characters escaped (\\x00, \\u200b), cut to width."""
    label = "".join(
        c.encode("unicode_escape").decode("ascii") if unicodedata.category(c) in ("Cc", "Cf", "Cs") else c
        for c in token
    )
    return label if len(label) <= width else label[: width - 1] + ELLIPSIS


def _keep(n: int, limit: int) -> list[int | None]:
    """Indices to show of n, at most limit: the first and last halves around None (the ellipsis)."""
    if n <= limit:
        return list(range(n))
    head = (limit + 1) // 2
    return list(range(head)) + [None] + list(range(n - (limit - head), n))


def _heat(value: float) -> Style:
    """Background shade for a weight in [0, 1] relative to its table's maximum (below 0: lightest)."""
    value = min(max(value, 0.0), 1.0)
    rgb = (_LIGHT + (_DARK - _LIGHT) * value).astype(int)
    return Style(bgcolor=f"rgb({rgb[0]},{rgb[1]},{rgb[2]})", color="white" if value > 0.5 else "black")


def new_table() -> Table:
    """The house style: a rule under the header, no outer frame, columns two spaces apart.
    Title and caption are set above and below as plain lines so they never wrap to the table's width."""
    return Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)


def titled(title: str, table: Table, caption: str | None = None) -> Group:
    return Group(Text(title, style="bold"), table, *([Text(caption, style="dim")] if caption else []), Text(""))


class Renderer:
    """Turns matrices into rich renderables sized to the console."""

    def __init__(self, console: Console, precision: int = 3, max_rows: int = 24, trim: bool = False):
        self.console = console
        self.precision = precision
        self.max_rows = max_rows
        self.trim = trim  # drop trailing zeros (0.0330 -> 0.033), as the article prints its numbers

    def number(self, v: float) -> str:
        s = f"{v:.{self.precision}f}"
        return s.rstrip("0").rstrip(".") if self.trim and "." in s else s

    def _fit_columns(self, widths: dict[int, int], C: int, used: int) -> list[int | None]:
        """Columns that fit beside `used` characters: all of them, or as many from both ends as the
        console allows around None (the ellipsis). widths: candidate column -> its width."""
        budget = self.console.width - used
        if len(widths) == C and sum(widths.values()) <= budget:
            return list(range(C))
        budget -= 3  # the ellipsis column
        cand = sorted(widths)
        head, tail = [], []
        while len(head) + len(tail) < len(cand):
            c = cand[len(head)] if len(head) <= len(tail) else cand[-1 - len(tail)]
            if widths[c] > budget:
                break
            budget -= widths[c]
            (head if len(head) <= len(tail) else tail).append(c)
        return head + [None] + tail[::-1]

    def matrix(self, title, row_labels, values, col_labels=None, heat=False, caption=None,
               row_header="token", index=True, row_width: int | None = 16) -> Group:
        """A (R, C) matrix as a table: labelled rows, right-aligned numbers, elided when too big. Row labels
        are cut to row_width characters (None: what the console leaves beside every column, at least 16)."""
        values = np.atleast_2d(values)
        R, C = values.shape
        col_labels = [str(c) for c in col_labels] if col_labels is not None else [str(c) for c in range(C)]
        rows = _keep(R, self.max_rows)
        shown = [r for r in rows if r is not None]
        cand = [c for c in _keep(C, self.console.width // 2) if c is not None]  # no more could fit
        strings = {r: {c: self.number(float(values[r, c])) for c in cand} for r in shown}
        widths = {c: max(len(col_labels[c]), *(len(strings[r][c]) for r in shown)) + 2 for c in cand}
        number = len(str(R - 1)) + 2 if index else 0  # the index column
        if row_width is None:
            row_width = max(16, self.console.width - sum(widths.values()) - number - 2)
        row_labels = [printable(str(r), row_width) for r in row_labels]
        used = max(len(row_header), *(len(row_labels[r]) for r in shown)) + 2 + number
        cols = self._fit_columns(widths, C, used)
        notes = [caption] if caption else []
        if len(shown) < R or len(cols) - (None in cols) < C:
            notes.append(f"showing {len(shown)} of {R} rows, {len(cols) - (None in cols)} of {C} columns")
        table = new_table()
        if index:
            table.add_column("#", justify="right", style="dim")
        table.add_column(row_header)
        for c in cols:
            table.add_column(ELLIPSIS if c is None else col_labels[c], justify="right")
        top = float(values.max()) if heat and values.size else 1.0
        for r in rows:
            if r is None:
                table.add_row(*[ELLIPSIS] * (len(cols) + 1 + index))
                continue
            cells = []
            for c in cols:
                if c is None:
                    cells.append(Text(ELLIPSIS))
                    continue
                v = float(values[r, c])
                style = _heat(v / top if top > 0 else 0.0) if heat else ""
                cells.append(Text(strings[r][c], style=style))
            table.add_row(*([str(r)] if index else []), Text(row_labels[r]), *cells)
        return titled(title, table, "; ".join(notes) or None)
