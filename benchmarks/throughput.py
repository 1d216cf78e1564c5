"""Batch throughput of `vectorize run - --format jsonl`: sentences/s and MB/s per variant, peak memory.

    python benchmarks/throughput.py                                   # this checkout, every variant
    python benchmarks/throughput.py --before /tmp/old-checkout         # interleaved with an older checkout
    python benchmarks/throughput.py --lines 1000 10000                 # does throughput hold with size?

Each measurement is one `python -m vectorize_cli run - --format jsonl` process reading the sentence
file on stdin with its output counted (not stored); runs of the checkouts alternate, and the table
gives the median of --repeat runs. Default: d = 64, 4 heads, sample_inputs/sentences-10k.txt.
"""

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ["additive", "scaled-dot", "self", "multi-head", "flash"]
PEAK = ("import runpy, sys\nsys.argv = ['vectorize'] + sys.argv[1:]\ntry:\n"
        "    runpy.run_module('vectorize_cli', run_name='__main__')\nfinally:\n"
        "    peak = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM'))\n"
        "    sys.stderr.write(f'{peak}\\n')\n")  # VmHWM: ru_maxrss would carry this parent's peak across exec


def once(checkout: Path, variant: str, data: bytes, extra: list[str]) -> tuple[float, int, int]:
    """(seconds, bytes written, peak RSS KiB) of one run."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    cmd = [sys.executable, "-c", PEAK, "run", "-", "--format", "jsonl", "--dim", "64", "--heads", "4",
           "-a", variant, *extra]
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    feeder = threading.Thread(target=lambda: (p.stdin.write(data), p.stdin.close()))  # write while we read
    feeder.start()
    n = 0
    while chunk := p.stdout.read(1 << 20):
        n += len(chunk)
    feeder.join()
    if p.wait():
        raise SystemExit(f"vectorize run -a {variant} failed: {p.stderr.read().decode()}")
    return time.perf_counter() - t, n, int(p.stderr.read().split()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--file", type=Path, default=ROOT / "sample_inputs" / "sentences-10k.txt")
    p.add_argument("--lines", type=int, nargs="+", default=[10_000])
    p.add_argument("--variants", nargs="+", default=VARIANTS, choices=VARIANTS)
    p.add_argument("--before", type=Path, help="another checkout to measure interleaved with this one")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--omit", nargs="*", default=["params"], help="--omit values passed to vectorize (default: params)")
    a = p.parse_args()
    lines = a.file.read_bytes().splitlines(keepends=True)
    extra = [x for o in a.omit for x in ("--omit", o)]
    checkouts = {"after": ROOT} if a.before is None else {"before": a.before, "after": ROOT}
    print("| lines | variant | checkout | sentences/s | MB/s | peak RSS MiB |\n|---|---|---|---|---|---|")
    for n in a.lines:
        data = b"".join(lines[:n])
        for variant in a.variants:
            runs = {name: [] for name in checkouts}
            for _ in range(a.repeat):
                for name, path in checkouts.items():  # interleaved, so drift hits both alike
                    runs[name].append(once(path, variant, data, extra))
            for name, rs in runs.items():
                secs = statistics.median(r[0] for r in rs)
                print(f"| {n} | {variant} | {name} | {n / secs:,.0f} | {rs[0][1] / secs / 1e6:.1f} | "
                      f"{max(r[2] for r in rs) / 1024:.0f} |", flush=True)


if __name__ == "__main__":
    main()
