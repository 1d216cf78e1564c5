"""Plots of `vectorize bench`: time and memory against sequence length, one line per variant and
backend, log-log so that quadratic (explicit) and linear (flash) growth show as different slopes.

In the terminal with plotext, to a PNG/SVG/PDF file with matplotlib; both are the optional extra
`vectorize-cli[bench]` and are imported only here. A plot file is written by sink.open_file, as
--output is (no clobber without --force, never through a link, the umask's mode); matplotlib's
warnings never reach stderr.
"""

import warnings
from collections import defaultdict
from pathlib import Path

from vectorize_cli.errors import UsageError, VectorizeError


def _series(rows: list[dict], key: str) -> dict[str, tuple[list[int], list[float]]]:
    lines = defaultdict(lambda: ([], []))
    for r in rows:
        if r.get(key) is not None:
            label = f"{r['variant']} ({r['backend']}{', cuda' if r['device'] == 'cuda' else ''})"
            lines[label][0].append(r["T"])
            lines[label][1].append(r[key] if key != "median_s" else r[key] * 1000)
    return dict(lines)


MARKERS = ["o", "x", "+", "*", "#", "@", "%", "&"]  # told apart without colour
PANELS = [("median_s", "time (ms)"), ("peak_mib", "peak memory (MiB)")]


def terminal(rows: list[dict], width: int, color: bool) -> str | None:
    """Both panels as text (ANSI colours only when asked), or None when plotext is not installed;
    a note when no case has a number to plot (every case skipped)."""
    try:
        import plotext as plt
    except ImportError:
        return None
    if not any(_series(rows, key) for key, _ in PANELS):
        return "(nothing to plot: every case was skipped)"
    out = []
    for key, label in PANELS:
        plt.clear_figure()
        plt.plotsize(min(width, 100), 20)
        plt.xscale("log")
        plt.yscale("log")
        for (name, (xs, ys)), marker in zip(_series(rows, key).items(), MARKERS * 4):
            plt.plot(xs, [max(y, 1e-3) for y in ys], label=name, marker=marker if not color else "braille")
        plt.title(f"{label} against sequence length T (log-log)")
        plt.xlabel("T")
        plt.theme("clear")
        out.append(plt.build() if color else plt.uncolorize(plt.build()))
    return "\n".join(out)


def _pyplot():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
    except ImportError:
        raise VectorizeError("--plot needs matplotlib: pip install 'vectorize-cli[bench]'") from None
    return plt


def check_file(path: str, force: bool = False) -> None:
    """Refuse up front a --plot that could not be written: no matplotlib, a folder that is not
    there, a file or link already there (without --force), or a format matplotlib does not know."""
    import os

    from vectorize_cli.sink import check_target

    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        raise VectorizeError(f"cannot write the plot to {path}: no folder {folder}")
    plt = _pyplot()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        formats = plt.figure().canvas.get_supported_filetypes()
        plt.close("all")
    suffix = path.rpartition(".")[2].lower() if "." in path.rpartition("/")[2] else ""
    if suffix not in formats:
        raise UsageError(f"--plot {path}: name a file ending in one of {', '.join('.' + f for f in sorted(formats))}")
    if not os.path.isdir(path):  # a folder in the way is found at the end, once the results are out
        check_target(Path(path), force)


def to_file(rows: list[dict], path: str, force: bool = False) -> None:
    """Both panels side by side, written as the file name's format (png, svg, pdf), by sink.open_file."""
    import io

    from vectorize_cli.sink import open_file, write_all

    plt = _pyplot()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. no data for a log axis, or tight_layout giving up
        data = _draw(plt, rows, path.rpartition(".")[2].lower(), io.BytesIO())
    try:
        with open_file(Path(path), force) as f:
            write_all(f, data)
    except VectorizeError as e:  # UsageError too: the results are already out, so this is exit 1
        raise VectorizeError(f"cannot write the plot to {path}: {e}") from None


def _draw(plt, rows: list[dict], fmt: str, buf) -> bytes:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, (key, label) in zip(axes, PANELS):
        for name, (xs, ys) in _series(rows, key).items():
            ax.loglog(xs, ys, marker="o", label=name)
        ax.set_xlabel("sequence length T")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("vectorize bench: explicit attention grows as T², flash as T")
    fig.tight_layout()
    try:
        fig.savefig(buf, format=fmt)
    except (OSError, ValueError) as e:
        raise VectorizeError(f"cannot draw the plot as {fmt}: {e}") from None
    finally:
        plt.close(fig)
    return buf.getvalue()
