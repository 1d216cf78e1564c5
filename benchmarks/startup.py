"""Start-up: how long `vectorize` takes to answer, against importing what it is built on.

    python benchmarks/startup.py                   # 15 interleaved rounds, medians and ratios
    python benchmarks/startup.py --against HEAD~1  # and each command of another commit, in the same rounds

The baseline is `python -c "import numpy, rich, typer"`; every command runs in a fresh process,
one after another in each round, so that drift on a shared machine hits them all alike.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SENTENCE = "My deskmate and I made an appointment to play games at his house tomorrow."
COMMANDS = {
    "import numpy, rich, typer (baseline)": [sys.executable, "-c", "import numpy, rich, typer"],
    "vectorize --version": [sys.executable, "-m", "vectorize_cli", "--version"],
    "vectorize --help": [sys.executable, "-m", "vectorize_cli", "--help"],
    "vectorize run SENTENCE --format json": [sys.executable, "-m", "vectorize_cli", "run", SENTENCE, "--format", "json"],
    "vectorize run SENTENCE (tables)": [sys.executable, "-m", "vectorize_cli", "run", SENTENCE],
}
TARGETS = {"vectorize --version": 1.5, "vectorize --help": 1.5, "vectorize run SENTENCE --format json": 2.0,
           "vectorize run SENTENCE (tables)": 2.5}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--against", help="also time the commands of this commit (a git worktree), interleaved")
    a = p.parse_args()
    trees = {"": ROOT}
    with tempfile.TemporaryDirectory() as tmp:
        if a.against:
            trees[f" @ {a.against}"] = Path(tmp) / "other"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(trees[f" @ {a.against}"]),
                            a.against], check=True, capture_output=True)
        try:
            times = _time(trees, a.rounds)
        finally:
            if a.against:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(trees[f" @ {a.against}"])],
                               check=True)
    base = statistics.median(times["import numpy, rich, typer (baseline)"])
    print("| command | median s | vs baseline | target |\n|---|---|---|---|")
    for name, ts in times.items():
        m = statistics.median(ts)
        target = TARGETS.get(name.split(" @ ")[0])
        print(f"| `{name}` | {m:.3f} | {m / base:.2f}x | {f'<= {target}x' if target else ''} |")


def _time(trees: dict[str, Path], rounds: int) -> dict[str, list[float]]:
    runs = {name + (suffix if "baseline" not in name else ""): (cmd, tree) for suffix, tree in trees.items()
            for name, cmd in COMMANDS.items()}
    times = {name: [] for name in runs}
    for _ in range(rounds):
        for name, (cmd, tree) in runs.items():
            t = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, cwd=tempfile.gettempdir(),
                           env={**os.environ, "COLUMNS": "120", "PYTHONPATH": str(tree)})
            times[name].append(time.perf_counter() - t)
    return times


if __name__ == "__main__":
    main()
