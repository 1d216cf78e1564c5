"""PICTURES: `--format` -> one function, (traces, token, layer, head, title, max_memory) -> the file's bytes,
for the self-contained HTML page (html.py) and the static figures (figure.py: SVG, PNG, PDF). Each imports
what it needs only when called (matplotlib only for a figure)."""

from vectorize_cli.errors import UsageError
from vectorize_cli.trace import Trace


def html_page(traces: list[Trace], *, token=None, layer: int | None = None, head: int | None = None,
              title: str = "vectorize", max_memory: int | None = None) -> bytes:
    """Every sentence, variant, layer and head; opens focused on `token` (an index, or one per trace)."""
    from vectorize_cli.views.html import page

    return page(traces, token=token, title=title)


def _figure(fmt: str):
    def draw(traces: list[Trace], *, token=None, layer: int | None = None, head: int | None = None,
             title: str | None = None, max_memory: int | None = None) -> bytes:
        """`--layer` (a model's, default 1) or the toy's variants; every head or `--head`; refused beyond
        max_memory (bytes)."""
        from vectorize_cli.views.figure import figure

        if len(traces) != 1:
            raise UsageError(f"--format {fmt} draws one sentence, not {len(traces)}: give one text, or use "
                             "--format html")
        return figure(traces[0], layer=layer, head=head, fmt=fmt, title=title, max_memory=max_memory)

    return draw


PICTURES = {"html": html_page, "svg": _figure("svg"), "png": _figure("png"), "pdf": _figure("pdf")}
