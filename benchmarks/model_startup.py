"""The README's --model workloads as whole processes, this checkout against another commit, in alternating
rounds: what loading the compiled loops (numba, and its cache) costs a run, with numba's cache warm and cold.

    python benchmarks/model_startup.py --against ac5bea8 --rounds 3
    python benchmarks/model_startup.py --against 7bd7881 --rounds 5 --lines 1 3000 --warm-only
    python benchmarks/model_startup.py --against 7bd7881 --rounds 10 --lines 3000 --only "first batch"

Workloads (sample_inputs/sentences-10k.txt): `vectorize run - --model minilm -F npy` on its first 100 and
3,000 lines (or --lines), the same ended where its first batch would start ("to the first batch": imports, the
model's read, tokenizing, the loops' load), and a one-pair `vectorize similarity`. Contenders, each workload's in a rotating order every
round: this checkout as it runs by default and with VECTORIZE_COMPILED=0 (3,000 lines), and --against
(read with `git archive` into a temporary folder); "warm" runs share a cache folder filled by an untimed
run first, "cold" ones get an empty one each (NUMBA_CACHE_DIR here; VECTORIZE_CACHE, the object file's
folder, before numba's own cache). The vectors of every npy run are checked to be the same bytes.
Wall time and CPU time (user + system, the process and its threads): on a shared machine the CPU time
drifts less. Python's bytecode caches are written (PYTHONDONTWRITEBYTECODE dropped) by the untimed warm-up run,
for both trees alike, as an installed package has them; --warm-only leaves out the cold and
VECTORIZE_COMPILED=0 runs.
"""

import argparse
import io
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEXT = ROOT / "sample_inputs" / "sentences-10k.txt"
PAIR = ["A man is eating food.", "A man eats a meal."]
RUN = ["run", "-", "--model", "minilm", "-F", "npy", "--force", "-o"]
# the same command, ended where its first batch would start (just after compiled.for_run has chosen, and
# loaded, the run's loops: its second call, the first is Encoder.open's probe sentence) and exiting as the CLI
# exits (SystemExit through it: the interpreter's shutdown included): its start-up and shutdown alone, without
# the batches' minutes of noise on a shared machine
TO_FIRST_BATCH = """
import sys
from vectorize_cli import compiled
chosen, calls = compiled.for_run, []
def stop(*args):
    backend = chosen(*args)
    calls.append(args)
    if len(calls) == 2:
        sys.exit(0)
    return backend
compiled.for_run = stop
from vectorize_cli.__main__ import main
sys.argv = ["vectorize", *sys.argv[1:]]
main()
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--against", required=True, help="the commit to compare with")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--lines", type=int, nargs="+", default=[100, 3000])
    p.add_argument("--warm-only", action="store_true", help="only the runs with numba's cache warm")
    p.add_argument("--only", help="only the workloads whose name holds this (e.g. 'first batch')")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        old = tmp / "old"
        tar = subprocess.run(["git", "-C", str(ROOT), "archive", a.against], capture_output=True, check=True).stdout
        tarfile.open(fileobj=io.BytesIO(tar)).extractall(old)
        for n in a.lines:
            head = "".join(TEXT.read_text(encoding="utf-8").splitlines(True)[:n])
            (tmp / f"{n}.txt").write_text(head, encoding="utf-8")
        cases = _cases(tmp, old, a.against, a.lines, a.warm_only)
        cases = {name: case for name, case in cases.items() if a.only is None or a.only in name}
        for name, (cmd, stdin, env, cache) in cases.items():  # warm: the cache filled once, untimed
            if cache == "warm":
                _run(cmd, stdin, env)
        times = {name: [] for name in cases}  # (wall s, CPU s) a run
        loads = [os.getloadavg()[0]]  # the 1-minute load average at the start and after each round
        for r in range(a.rounds):
            names = list(cases)
            for name in names[r % len(names):] + names[: r % len(names)]:
                cmd, stdin, env, cache = cases[name]
                if cache == "cold":
                    env = {**env, **_cold_cache(tmp, env)}
                times[name].append(_run(cmd, stdin, env))
                print(f"round {r + 1}: {name}: {times[name][-1][0]:.2f} s, CPU {times[name][-1][1]:.2f} s, "
                      f"load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
            loads.append(os.getloadavg()[0])
        outputs = {}
        for name in cases:
            if "lines," in name:
                npy = (tmp / (name.replace(" ", "_") + ".npy")).read_bytes()
                outputs.setdefault(name.split(",")[0], set()).add(npy)
    print(f"median of {a.rounds} rounds, rotating order; vectors the same bytes across contenders: "
          f"{'yes' if all(len(v) == 1 for v in outputs.values()) else 'NO'}; load average "
          f"{' / '.join(f'{x:.1f}' for x in loads)} (start, each round)\n")
    print("| workload, contender | median s | every round, s | median CPU s | every round, CPU s |\n"
          "|---|---:|---|---:|---|")
    for name, ts in times.items():
        wall, cpu = ([t[i] for t in ts] for i in (0, 1))
        print(f"| {name} | {statistics.median(wall):.2f} | {' / '.join(f'{t:.2f}' for t in wall)} | "
              f"{statistics.median(cpu):.2f} | {' / '.join(f'{t:.2f}' for t in cpu)} |")


def _cases(tmp: Path, old: Path, against: str, lines: list[int], warm_only: bool) -> dict:
    """name -> (argv, stdin file or None, environment, warm | cold)."""
    base = {k: v for k, v in os.environ.items()
            if k not in ("VECTORIZE_COMPILED", "NUMBA_CACHE_DIR", "VECTORIZE_CACHE", "PYTHONDONTWRITEBYTECODE")}
    here = {**base, "PYTHONPATH": str(ROOT), "NUMBA_CACHE_DIR": str(tmp / "numba-warm")}
    there = {**base, "PYTHONPATH": str(old), "VECTORIZE_CACHE": str(tmp / "old-warm")}
    contenders = {"this checkout": here, against: there}
    cases = {}
    for n in lines:
        variants = [("this checkout", here, "warm"), (against, there, "warm")]
        if n >= 1000 and not warm_only:
            variants += [("this checkout, VECTORIZE_COMPILED=0", {**here, "VECTORIZE_COMPILED": "0"}, "warm"),
                         ("this checkout, cold", here, "cold"), (f"{against}, cold", there, "cold")]
        for who, env, cache in variants:
            name = f"{n} lines, {who}"
            out = tmp / (name.replace(" ", "_") + ".npy")
            cases[name] = ([sys.executable, "-m", "vectorize_cli", *RUN, str(out)], tmp / f"{n}.txt", env, cache)
            if cache == "warm" and "VECTORIZE_COMPILED" not in env:
                cases[f"{n} lines to the first batch, {who}"] = (
                    [sys.executable, "-c", TO_FIRST_BATCH, *RUN, str(tmp / "never-written.npy")], tmp / f"{n}.txt", env, cache)
    for who, env in contenders.items():
        cases[f"similarity of one pair, {who}"] = ([sys.executable, "-m", "vectorize_cli", "similarity", *PAIR,
                                                    "--model", "minilm"], None, env, "warm")
    return cases


def _cold_cache(tmp: Path, env: dict) -> dict:
    """An empty cache folder for this run, in the variable its tree reads."""
    fresh = tempfile.mkdtemp(dir=tmp, prefix="cold-")
    return {"VECTORIZE_CACHE": fresh} if "VECTORIZE_CACHE" in env else {"NUMBA_CACHE_DIR": fresh}


def _run(cmd: list[str], stdin: Path | None, env: dict) -> tuple[float, float]:
    """(wall s, CPU s) of one process."""
    before, t = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    with open(stdin or os.devnull, "rb") as f:
        subprocess.run(cmd, stdin=f, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                       cwd=tempfile.gettempdir(), env=env)
    wall, after = time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


if __name__ == "__main__":
    main()
