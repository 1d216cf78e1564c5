"""Start-up: how long `vectorize` takes to answer, against importing what it is built on.

    python benchmarks/startup.py            # 15 interleaved rounds, medians and ratios

The baseline is `python -c "import numpy, rich, typer"`; every command runs in a fresh process,
one after another in each round, so that drift on a shared machine hits them all alike.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

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
    a = p.parse_args()
    times = {name: [] for name in COMMANDS}
    for _ in range(a.rounds):
        for name, cmd in COMMANDS.items():
            t = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                           env={**os.environ, "COLUMNS": "120"})
            times[name].append(time.perf_counter() - t)
    base = statistics.median(times["import numpy, rich, typer (baseline)"])
    print("| command | median s | vs baseline | target |\n|---|---|---|---|")
    for name, ts in times.items():
        m = statistics.median(ts)
        target = f"<= {TARGETS[name]}x" if name in TARGETS else ""
        print(f"| `{name}` | {m:.3f} | {m / base:.2f}x | {target} |")


if __name__ == "__main__":
    main()
