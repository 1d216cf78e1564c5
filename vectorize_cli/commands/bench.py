"""`vectorize bench`: time and memory of the attention variants against sequence length."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from vectorize_cli.commands.options import (
    ATTENTION, OUTPUT, AttentionName, BackendName, CausalOpt, DeviceName, DimOpt, DtypeName, DtypeOpt, HeadsOpt,
    MaxMemoryOpt, OutputOpt, format_option, values)

BenchFormat, BenchFormatOpt = format_option("BenchFormat", "bench")

EPILOG = """
\b
Examples:
  vectorize bench                                              # multi-head vs flash, numpy, T = 128 ... 4096
  vectorize bench -a multi-head -a flash -b numpy -b torch -T 256 -T 1024 --plot bench.png
  vectorize bench -T 512 --format json | jq '.results[] | {variant, T, median_s}'
  vectorize bench -T 256 -T 512 -o bench.txt --plot bench.svg           # the table to a file, the plot beside it
"""


def bench(
    attention: Annotated[list[AttentionName], typer.Option(
        "--attention", "-a", help="Variants to time (repeat).", rich_help_panel=ATTENTION)] = [
        AttentionName("multi-head"), AttentionName("flash")],
    lengths: Annotated[list[int], typer.Option("--length", "-T", min=1, help="Sequence lengths (repeat).")] = [
        128, 512, 1024, 2048, 4096],
    backends: Annotated[list[BackendName], typer.Option(
        "--backend", "-b", help="Backends (repeat).", rich_help_panel=ATTENTION)] = [BackendName("numpy")],
    devices: Annotated[list[DeviceName], typer.Option(
        "--device", help="Devices (repeat); cuda needs -b torch and a GPU.", rich_help_panel=ATTENTION)] = [
        DeviceName("cpu")],
    dim: DimOpt = 512,
    heads: HeadsOpt = 8,
    dtype: DtypeOpt = DtypeName("float32"),
    causal: CausalOpt = False,
    repeat: Annotated[int, typer.Option("--repeat", "-r", min=1, help="Timed runs per case.")] = 5,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Untimed runs first.")] = 1,
    max_memory: MaxMemoryOpt = "4GiB",
    output_format: BenchFormatOpt = BenchFormat("table"),
    output: OutputOpt = None,
    plot: Annotated[Optional[Path], typer.Option(
        "--plot", help="Also write the plot to FILE (.png, .svg, .pdf).", show_default=False, rich_help_panel=OUTPUT)
    ] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Let --output and --plot replace existing files.", rich_help_panel=OUTPUT)] = False,
) -> None:
    """Time and memory of the variants against sequence length: explicit grows as T², flash as T."""
    from vectorize_cli import bench as b
    from vectorize_cli import plot as plots
    from vectorize_cli import progress, sink
    from vectorize_cli.backend import resolve_device
    from vectorize_cli.output import console_for, write_json
    from vectorize_cli.config import Config
    from vectorize_cli.errors import UsageError, tell
    from vectorize_cli.memory import parse_size

    base = Config(dim=dim, heads=heads, causal=causal, dtype=dtype.value, max_memory=parse_size(max_memory))
    if output is not None:
        sink.check_target(output, force)  # before the cases run, not after
    if plot is not None:
        plots.check_file(str(plot), force)
    backend_names, device_names = values(backends), values(devices)
    todo = b.cases(values(attention), backend_names, device_names, sorted(set(lengths)))
    if not todo:
        raise UsageError("--device cuda needs -b torch (numpy runs on the CPU only)")
    if "cuda" in device_names and "torch" in backend_names:
        resolve_device("cuda", "torch")  # no GPU: an error before any case runs, as with `run`
    rows = []
    with progress.steps(len(todo), progress.wanted()) as step:
        for case in todo:
            step(f"{case.variant} {case.backend} {case.device} T={case.T}")
            rows.append(b.measure(case, base, repeat, warmup).to_dict())
    with sink.open_sink(output, force) as to:
        if output_format.value != "table":
            write_json(b.bench_record(base, repeat, warmup, rows), pretty=output_format.value == "json", sink=to)
        else:
            out = console_for(to)
            out.print(b.table(rows, b.machine()))
            chart = plots.terminal(rows, out.width, color=out.is_terminal and not out.no_color)
            if chart is None:
                out.print("[dim]pip install 'vectorize-cli\\[bench]' for plots[/dim]")  # rich markup: \\[: a literal [
            else:
                out.file.write(chart + "\n")
    if plot is not None:  # the results are out first: a plot that fails to write does not lose them
        plots.to_file(rows, str(plot), force)
        tell("note", f"plot written to {plot}")
