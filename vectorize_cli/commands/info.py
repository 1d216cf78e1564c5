"""`vectorize example` (the article's worked example, then real attention) and `vectorize variants`
(the registry, as a table or JSON)."""

from typing import Annotated

import typer

from vectorize_cli.commands.options import (
    DecimalsOpt, DeprecatedPrecisionOpt, ForceOpt, OutputOpt, check_reads, format_option)

ExampleFormat, ExampleFormatOpt = format_option("ExampleFormat", "example")
VariantsFormat, VariantsFormatOpt = format_option("VariantsFormat", "variants")

EPILOG = """
\b
Examples:
  vectorize example                                   # the article's numbers, then real attention
  vectorize example --decimals 2
  vectorize example --format html -o example.html     # a page; --force replaces it
"""


def example(
    ctx: typer.Context,
    seed: Annotated[int, typer.Option("--seed", "-s", help="Seeds the real attention's parameters.")] = 0,
    output_format: ExampleFormatOpt = ExampleFormat("table"),
    output: OutputOpt = None,
    force: ForceOpt = False,
    decimals: DecimalsOpt = 4,
    deprecated_precision: DeprecatedPrecisionOpt = None,
) -> None:
    """The article's worked example, number for number, then what real attention computes."""
    from vectorize_cli import example as article
    from vectorize_cli.sink import open_sink

    check_reads(ctx, output_format.value, ("example",))
    ex = article.build(seed)
    write = {"table": _example_table, "json": _example_json, "jsonl": _example_json, "html": _example_page}
    with open_sink(output, force) as out:
        write[output_format.value](ex, output_format.value, decimals, out)


def _example_table(ex, fmt: str, decimals: int, out) -> None:
    from vectorize_cli import example as article
    from vectorize_cli.output import console_for
    from vectorize_cli.views.matrix import Renderer

    con = console_for(out)
    con.print(article.render(ex, Renderer(con, decimals, trim=True)))


def _example_page(ex, fmt: str, decimals: int, out) -> None:
    from vectorize_cli.output import write_picture
    from vectorize_cli.views.html import example_page

    write_picture(example_page(ex), fmt, out)


def _example_json(ex, fmt: str, decimals: int, out) -> None:
    from vectorize_cli import example as article
    from vectorize_cli.output import write_json

    write_json(article.record(ex), fmt == "json", out)


def variants(
    output_format: VariantsFormatOpt = VariantsFormat("table"),
    output: OutputOpt = None,
    force: ForceOpt = False,
) -> None:
    """List the attention variants: what each computes and where it comes from."""
    from vectorize_cli.attention.variants import VARIANTS
    from vectorize_cli.output import console_for, write_json
    from vectorize_cli.sink import open_sink

    rows = [
        {"variant": name, "summary": v.summary, "reference": v.reference, "weights": v.materialises_weights}
        for name, v in VARIANTS.items()
    ]
    with open_sink(output, force) as out:
        if output_format.value != "table":
            return write_json(rows, output_format.value == "json", out)
        from vectorize_cli.views.matrix import new_table, titled

        table = new_table()
        for col in ("variant", "what it computes", "reference", "weights"):
            table.add_column(col)
        for r in rows:
            table.add_row(r["variant"], r["summary"], r["reference"], "yes" if r["weights"] else "never held")
        console_for(out).print(titled("Attention variants (-a NAME)", table))
