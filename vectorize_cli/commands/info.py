"""`vectorize example` (the article's worked example, then real attention) and `vectorize variants`
(the registry, as a table or JSON)."""

from typing import Annotated

import typer

from vectorize_cli.commands.options import Format, FormatOpt


def example(
    seed: Annotated[int, typer.Option("--seed", "-s", help="Seeds the real attention's parameters.")] = 0,
    precision: Annotated[int, typer.Option("--precision", min=0, max=12, help="Most decimals shown.")] = 4,
    output_format: FormatOpt = Format("table"),
) -> None:
    """The article's worked example, number for number, then what real attention computes."""
    from vectorize_cli import example as article
    from vectorize_cli.output import stdout_console, write_json
    from vectorize_cli.views.matrix import Renderer

    ex = article.build(seed)
    if output_format.value == "html":
        from vectorize_cli.output import write_picture
        from vectorize_cli.sink import stdout
        from vectorize_cli.views.html import example_page

        return write_picture(example_page(ex), "html", stdout())
    if output_format.value == "table":
        con = stdout_console()
        con.print(article.render(ex, Renderer(con, precision, trim=True)))
    else:
        write_json(article.record(ex), pretty=output_format.value == "json")


def variants(output_format: FormatOpt = Format("table")) -> None:
    """List the attention variants: what each computes and where it comes from."""
    from vectorize_cli.attention.variants import VARIANTS
    from vectorize_cli.output import stdout_console, write_json

    rows = [
        {"variant": name, "summary": v.summary, "reference": v.reference, "weights": v.materialises_weights}
        for name, v in VARIANTS.items()
    ]
    if output_format.value != "table":
        return write_json(rows, pretty=output_format.value == "json")
    from vectorize_cli.views.matrix import new_table, titled

    table = new_table()
    for col in ("variant", "what it computes", "reference", "weights"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["variant"], r["summary"], r["reference"], "yes" if r["weights"] else "never held")
    stdout_console().print(titled("Attention variants (-a NAME)", table))
