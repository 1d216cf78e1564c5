"""Fuzz `vectorize run` with hostile text and options: 10,000+ cases by default (issue 4).

    python benchmarks/fuzz.py                        # 10,000 cases, a fresh random seed
    python benchmarks/fuzz.py --cases 20000 --seed 7 --subprocess-every 25
    python benchmarks/fuzz.py --model-folders --cases 2000   # crafted model folders (issue 14)
    python benchmarks/fuzz.py --datasets --cases 2000        # damaged datasets and indexes (issue 26)

Every case runs in-process through CliRunner and is checked by tests/fuzzing.py's `check` (no
traceback, documented exit code, one error line, valid JSON matching the schema, finite numbers
recomputed in float64, ...). Every --subprocess-every-th case also runs as a real process with a
random PYTHONHASHSEED, its input as bytes on stdin or argv, and must give the same bytes; every
--repeat-every-th runs twice in-process and must give the same bytes. Prints the cases run, the
failures grouped by what broke, and one example of each. Exits 1 when anything failed.
"""

import argparse
import random
import re
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402

import dataset_fuzzing  # noqa: E402
import fuzzing  # noqa: E402
import model_fuzzing  # noqa: E402


class Failures:
    """What broke, grouped by kind (a message's first line, its numbers written N, 160 characters), each with the
    cases that broke it; progress on stderr every `every` cases, and the report at the end."""

    def __init__(self, every: int):
        self.kinds, self.every, self.start = defaultdict(list), every, time.perf_counter()

    def add(self, why: str, item) -> None:
        self.kinds[re.sub(r"\d+", "N", why.splitlines()[0] if why else "")[:160]].append(item)

    def __len__(self) -> int:
        return sum(map(len, self.kinds.values()))

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def progress(self, n: int) -> None:
        if n % self.every == 0:
            print(f"  {n} cases, {len(self)} failures, {self.elapsed():.0f} s", file=sys.stderr, flush=True)

    def report(self, show: int, line, key=None) -> int:
        """Prints each kind, most frequent first, with `show` examples (line(item) each; key: which first) -> the
        exit code: 1 when anything failed."""
        print(f"failures: {len(self)} ({len(self.kinds)} kinds)")
        for kind, items in sorted(self.kinds.items(), key=lambda kv: -len(kv[1])):
            print(f"\n[{len(items)}x] {kind}")
            for item in (sorted(items, key=key) if key else items)[:show]:
                print(line(item))
        return 1 if len(self) else 0


def model_folders(cases: int, run_seed: int, every: int, show: int) -> int:
    """tests/model_fuzzing.py's cases: each a crafted folder, run in-process (CliRunner) and every
    `every`-th also as a real process (which a FIFO or /dev/zero could hang: it has a timeout)."""
    import shutil

    tmp = Path(tempfile.mkdtemp(prefix="vectorize-model-fuzz-"))
    counts, failures, slowest = defaultdict(int), Failures(250), []

    def report(case, how: str, why: str) -> None:
        failures.add(why, (case, f"{how}: {why}"))
        print(f"FAILED ({how}): {case.changes} {case.command}\n    {why[:1500]}", file=sys.stderr, flush=True)

    @settings(max_examples=cases, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @seed(run_seed)
    @given(case=model_fuzzing.cases())
    def one(case):
        counts["cases"] += 1
        n = counts["cases"]
        folder = model_fuzzing.build(case, tmp / f"m{n}", seed=n)
        t = time.perf_counter()
        rc, out, err = model_fuzzing.run_in_process(case, folder)
        slowest.append((time.perf_counter() - t, rc, case))
        slowest.sort(key=lambda s: -s[0])
        del slowest[3:]
        counts[f"exit {rc}"] += 1
        why = model_fuzzing.check(case, rc, out, err)
        if why:
            report(case, "in-process", why)
        if n % every == 0:
            counts["subprocess"] += 1
            rc, out, err = model_fuzzing.run_case(case, folder)
            why = model_fuzzing.check(case, rc, out, err)
            if why:
                report(case, "subprocess", why)
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(tmp / f"m{n}-outside", ignore_errors=True)
        failures.progress(n)

    one()
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"model folders run: {counts['cases']} in {failures.elapsed():.0f} s "
          f"({counts['subprocess']} also as a real process); seed {run_seed}")
    print("exit codes (in-process): " + ", ".join(f"{k.split()[1]}: {v}" for k, v in sorted(counts.items())
                                                  if k.startswith("exit")))
    for seconds, rc, case in slowest:
        print(f"slow: {seconds:.1f} s, exit {rc}: {case.changes} {case.command}"[:300])
    return failures.report(show, lambda item: f"  {item[0].changes} {item[0].command}\n    {item[1][:1500]}")


def datasets(cases: int, run_seed: int, concurrent_every: int, show: int) -> int:
    """tests/dataset_fuzzing.py's cases: a made dataset copied and damaged, searched and verified in-process;
    every `concurrent_every`-th case also two real `embed --force` processes into one directory."""
    import shutil

    tmp = Path(tempfile.mkdtemp(prefix="vectorize-dataset-fuzz-"))
    rng = random.Random(run_seed)
    counts, failures = defaultdict(int), Failures(250)
    bases = dataset_fuzzing.make_bases(tmp / "bases")
    for n in range(1, cases + 1):
        case, found = dataset_fuzzing.run_case(rng, bases, tmp, n)
        counts["cases"] += 1
        for d in case.damage:
            counts["damage " + d.split(":")[0]] += 1
        counts["exits search %s, --ann %s, verify %s" % case.exits] += 1
        if concurrent_every and n % concurrent_every == 0:
            what, more = dataset_fuzzing.concurrent(rng, tmp / "bases", tmp, n)
            counts["two writers"] += 1
            found += [f"{what}: {m}" for m in more]
        for why in found:
            failures.add(why, (case, why))
            print(f"FAILED: {case!r}\n    {why[:1500]}", file=sys.stderr, flush=True)
        failures.progress(n)
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"datasets damaged: {counts['cases']} in {failures.elapsed():.0f} s "
          f"({counts['two writers']} also two writers at once); seed {run_seed}")
    print("damages: " + ", ".join(f"{k.split(' ', 1)[1]}: {v}" for k, v in sorted(counts.items())
                                  if k.startswith("damage ")))
    print("exit codes (search, search --ann, verify): " + ", ".join(
        f"{k.replace('exits search ', '').replace(', --ann ', '/').replace(', verify ', '/')}: {v}"
        for k, v in sorted(counts.items()) if k.startswith("exits ")))
    return failures.report(show, lambda item: f"  {item[0]!r}\n    {item[1][:1500]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: random, printed)")
    ap.add_argument("--subprocess-every", type=int, default=40, help="every N-th case also as a real process")
    ap.add_argument("--repeat-every", type=int, default=10, help="every N-th case run twice in-process")
    ap.add_argument("--log", help="append each case to this file before running it (to find a crash)")
    ap.add_argument("--show", type=int, default=3, help="examples printed per kind of failure")
    ap.add_argument("--model-folders", action="store_true", help="fuzz crafted --model folders instead (issue 14)")
    ap.add_argument("--model-subprocess-every", type=int, default=20,
                    help="--model-folders: every N-th case also as a real process")
    ap.add_argument("--datasets", action="store_true", help="fuzz damaged datasets and indexes instead (issue 26)")
    ap.add_argument("--concurrent-every", type=int, default=100,
                    help="--datasets: every N-th case also two real embed processes into one directory")
    args = ap.parse_args()
    run_seed = random.randrange(2**32) if args.seed is None else args.seed
    if args.datasets:
        print(f"fuzzing {args.cases} damaged datasets, seed {run_seed}", flush=True)
        return datasets(args.cases, run_seed, args.concurrent_every, args.show)
    if args.model_folders:
        print(f"fuzzing {args.cases} model folders, seed {run_seed}", flush=True)
        return model_folders(args.cases, run_seed, args.model_subprocess_every, args.show)
    print(f"fuzzing {args.cases} cases, seed {run_seed}", flush=True)

    counts = defaultdict(int)
    failures = Failures(500)  # what broke -> [(how, case, message)]
    slowest = []  # (seconds, exit code, case): the three slowest in-process runs
    tmp = Path(tempfile.mkdtemp(prefix="vectorize-fuzz-"))
    rng = random.Random(run_seed)

    def fail(how: str, case, e: BaseException) -> None:
        message = f"{type(e).__name__}: {e}".strip()
        failures.add(message, (how, case, message))

    @settings(max_examples=args.cases, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @seed(run_seed)
    @given(case=fuzzing.cases())
    def one(case):
        counts["cases"] += 1
        n = counts["cases"]
        if args.log:
            with open(args.log, "a") as log:
                log.write(f"{n} {case!r}\n")
        try:
            t = time.perf_counter()
            code, out, err = fuzzing.in_process(case, tmp)
            slowest.append((time.perf_counter() - t, code, case))
            slowest.sort(key=lambda s: -s[0])
            del slowest[3:]
            counts[f"exit {code}"] += 1
            fuzzing.check(case, code, out, err)
        except Exception as e:  # noqa: BLE001 - every failure is collected, none stops the run
            fail("in-process", case, e)
            return
        try:
            if n % args.repeat_every == 0:
                counts["repeated in-process"] += 1
                assert fuzzing.in_process(case, tmp) == (code, out, err), "a second run differs"
            if n % args.subprocess_every == 0 and fuzzing.argv_safe(case):
                counts["subprocess"] += 1
                sub = fuzzing.in_subprocess(case, tmp, hash_seed=rng.randrange(2**32))
                fuzzing.check(case, *sub)
                if case.mode != "argument" or sub[0] == 0:  # argv errors name bytes the OS passed
                    assert sub[0] == code and sub[1] == out, f"subprocess differs: exit {sub[0]} vs {code}"
        except Exception as e:  # noqa: BLE001
            fail("subprocess / repeat", case, e)
        failures.progress(n)

    one()
    elapsed = failures.elapsed()
    print(f"cases run: {counts['cases']} in {elapsed:.0f} s ({counts['subprocess']} also as a subprocess, "
          f"{counts['repeated in-process']} repeated); seed {run_seed}")
    print("exit codes: " + ", ".join(f"{k.split()[1]}: {v}" for k, v in sorted(counts.items()) if k.startswith("exit")))
    for seconds, code, case in slowest:
        print(f"slow: {seconds:.1f} s, exit {code}: {case!r}"[:300])
    return failures.report(args.show, lambda item: f"  {item[0]}: {item[1]!r}"[:2000] + "\n    "
                           + item[2].replace("\n", "\n    ")[:1500], key=lambda item: len(repr(item[1])))


if __name__ == "__main__":
    sys.exit(main())
