"""`vectorize verify DIR`: a dataset (and its index) checked whole, one line per problem (dataset/verify.py).

The report goes to stdout (a table: one line per problem, or one line saying the dataset is sound; json / jsonl:
its record); a dataset with problems then ends with one error line on stderr and exit 1, as search and index
refuse it.
"""

from pathlib import Path
from typing import Annotated

import typer

from vectorize_cli.commands.options import ForceOpt, OutputOpt, format_option

VerifyFormat, VerifyFormatOpt = format_option("VerifyFormat", "verify")

EPILOG = """
\b
Examples:
  vectorize embed sample_inputs/english.txt -o vectors/   # a dataset (see embed --help)
  vectorize index vectors/                                # and its HNSW index, checked too when there
  vectorize verify vectors/                               # every part, page, digest and id, the model, the index
  vectorize verify vectors/ --format json                 # {"dataset", "sound", "rows", ..., "problems": [...]}
  vectorize verify vectors/ || vectorize embed sample_inputs/english.txt -o vectors/ --force
"""


def verify(
    directory: Annotated[Path, typer.Argument(help="The dataset directory `vectorize embed` wrote.",
                                              show_default=False)],
    output_format: VerifyFormatOpt = VerifyFormat("table"),
    output: OutputOpt = None,
    force: ForceOpt = False,
) -> None:
    """Check a dataset whole: metadata, every part's digest and pages, its vectors, its index; one line per problem."""
    from vectorize_cli.dataset.verify import check_dataset
    from vectorize_cli.errors import VectorizeError
    from vectorize_cli.output import write_json
    from vectorize_cli.sink import check_target, open_sink, write_record

    if output is not None:
        check_target(output, force)
    report = check_dataset(directory)
    with open_sink(output, force) as out:
        if output_format.value == "table":
            index = "" if report.index == "none" else f", index {report.index}"
            lines = report.problems or [f"{directory}: sound: {report.rows:,} rows in {report.parts} part"
                                        f"{'s' * (report.parts != 1)} ({report.precision}, d={report.d}){index}"]
            write_record(out, "".join(line + "\n" for line in lines).encode("utf-8"))
        else:
            write_json(report.record(), output_format.value == "json", out)
    if not report.sound:
        n = len(report.problems)
        raise VectorizeError(f"dataset {directory}: {n} problem{'s' * (n != 1)}"
                             f"{' (listed on stdout)' if output is None else f' (listed in {output})'}")
