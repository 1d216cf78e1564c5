"""`vectorize bench`: time and memory of the attention variants against sequence length."""

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from vectorize_cli.commands.options import (
    AttentionName, BackendName, CausalOpt, DeviceName, DimOpt, DtypeName, DtypeOpt, Format, FormatOpt, HeadsOpt,
    MaxMemoryOpt, values)

EPILOG = """
\b
Examples:
  vectorize bench                                              # multi-head vs flash, numpy, T = 128 ... 4096
  vectorize bench -a multi-head -a flash -b numpy -b torch -T 256 -T 1024 --plot bench.png
  vectorize bench -T 512 --format json | jq '.results[] | {variant, T, median_s}'
"""


def bench(
    attention: Annotated[list[AttentionName], typer.Option("--attention", "-a", help="Variants to time (repeat).")] = [
        AttentionName("multi-head"), AttentionName("flash")],
    lengths: Annotated[list[int], typer.Option("--length", "-T", min=1, help="Sequence lengths (repeat).")] = [
        128, 512, 1024, 2048, 4096],
    backends: Annotated[list[BackendName], typer.Option("--backend", "-b", help="Backends (repeat).")] = [
        BackendName("numpy")],
    devices: Annotated[list[DeviceName], typer.Option("--device", help="Devices (repeat; cuda needs torch).")] = [
        DeviceName("cpu")],
    dim: DimOpt = 512,
    heads: HeadsOpt = 8,
    dtype: DtypeOpt = DtypeName("float32"),
    causal: CausalOpt = False,
    repeat: Annotated[int, typer.Option("--repeat", "-r", min=1, help="Timed runs per case.")] = 5,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Untimed runs first.")] = 1,
    max_memory: MaxMemoryOpt = "4GiB",
    plot: Annotated[
        Optional[Path], typer.Option("--plot", help="Also write the plot to FILE (.png, .svg, .pdf).", show_default=False)
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Let --plot replace an existing file.")] = False,
    output_format: FormatOpt = Format("table"),
) -> None:
    """Time and memory of the variants against sequence length: explicit grows as T², flash as T."""
    from vectorize_cli import bench as b
    from vectorize_cli import plot as plots
    from vectorize_cli import progress
    from vectorize_cli.backend import resolve_device
    from vectorize_cli.output import stdout_console, write_json
    from vectorize_cli.config import Config
    from vectorize_cli.errors import UsageError, tell
    from vectorize_cli.memory import parse_size

    base = Config(dim=dim, heads=heads, causal=causal, dtype=dtype.value, max_memory=parse_size(max_memory))
    if plot is not None:
        plots.check_file(str(plot), force)  # before the cases run, not after
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
    if output_format.value != "table":
        write_json(b.bench_record(base, repeat, warmup, rows), pretty=output_format.value == "json")
    else:
        out = stdout_console()
        out.print(b.table(rows, b.machine()))
        chart = plots.terminal(rows, out.width, color=out.is_terminal and not out.no_color)
        if chart is None:
            out.print("[dim]pip install 'vectorize-cli\\[bench]' for plots[/dim]")  # rich markup: \\[ is a literal [
        else:
            sys.stdout.write(chart + "\n")
    if plot is not None:  # the results are out first: a plot that fails to write does not lose them
        plots.to_file(rows, str(plot), force)
        tell("note", f"plot written to {plot}")
