"""`vectorize index` at a given size: build seconds, peak RSS, and recall@10 at a few --ef against the exact
search, for the current build settings and the previous ones side by side on the same dataset.

    python benchmarks/index_build.py --n 1000000 --work /tmp/index-bench
    python benchmarks/index_build.py --n 100000 --settings f16:12:96 f16:8:128 f32:16:128 i8:16:64

The data are benchmarks/search.py's: unit vectors (d = 384) clustered around 2,000 centers, queries fresh draws
of the same distribution; recall@10 is |ann ids & exact ids| / 10 over 100 queries, as benchmarks/search.py
measures it. A setting is dtype:connectivity:expansion_add; "f16:12:96" is the current default,
"f16:16:128" the previous one ("f32:16:128" the one before that). Every build and every search runs in its own process (its peak RSS its
own), settings alternate in the order given (--rounds R: R times over); the load average is printed with
each row (the machine may be shared).
Results go to stdout as Markdown rows for benchmarks/README.md.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search import peak_rss_mib, vectors, write  # noqa: E402  (benchmarks/search.py: the same data)

NEW, OLD = "f16:12:96", "f16:16:128"  # the default, and the one before it


def case(args) -> None:
    """One measurement in this process: prints JSON."""
    from vectorize_cli.search import ann, exact
    from vectorize_cli.dataset.reader import open_dataset

    ds = open_dataset(Path(args.case))
    result = {}
    truth_file = Path(args.case) / f"exact-{args.queries}.npy"
    if args.what == "exact":
        q = vectors(args.queries, False, 2)
        t = time.perf_counter()
        np.save(truth_file, exact.exact_search(ds, q, 10).ids)
        result["seconds"] = time.perf_counter() - t
    elif args.what == "build":
        dtype, m, ea = args.setting.split(":")
        t = time.perf_counter()
        ann.build_index(ds, int(m), int(ea), dtype=dtype)
        result["seconds"] = time.perf_counter() - t
    else:  # search: query seconds and recall@10 for each ef, on the index built last
        q = vectors(args.queries, False, 2)
        truth = np.load(truth_file)
        result["efs"] = {}
        for ef in args.efs:
            index = ann.load_index(ds, ef)
            t = time.perf_counter()
            top = ann.ann_search(ds, index, q, 10)
            seconds = time.perf_counter() - t
            recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(top.ids, truth)]))
            result["efs"][ef] = {"seconds": seconds, "recall": recall}
    result["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(result))


def run(ds: Path, what: str, args, setting: str = "") -> dict:
    cmd = [sys.executable, __file__, "--case", str(ds), "--what", what, "--queries", str(args.queries),
           "--setting", setting, "--efs", *map(str, args.efs)]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, nargs="*", default=[1_000_000], help="dataset sizes")
    p.add_argument("--settings", nargs="*", default=[NEW, OLD], help="dtype:connectivity:expansion_add each")
    p.add_argument("--efs", type=int, nargs="*", default=[64, 128, 256])
    p.add_argument("--queries", type=int, default=100)
    p.add_argument("--rounds", type=int, default=1, help="the settings run this many times, alternating")
    p.add_argument("--work", type=Path, default=Path("/tmp/index-bench"))
    p.add_argument("--keep", action="store_true", help="keep the datasets (disk) after each size")
    p.add_argument("--case"), p.add_argument("--what"), p.add_argument("--setting", default="")
    args = p.parse_args()
    if args.case:
        return case(args)
    import platform

    import usearch

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; usearch "
          f"{usearch.__version__}; load average at start {os.getloadavg()[0]:.1f}", flush=True)
    efs = " | ".join(f"recall@10 --ef {ef} (100 queries s)" for ef in args.efs)
    print(f"| vectors | graph dtype:M:efConstruction | build s | vectors/s | peak RSS MiB (build) | {efs} | "
          f"load (1 min) |\n|---|---|---|---|---|{'---|' * len(args.efs)}---|", flush=True)
    for n in args.n:
        ds = write(args.work, n, "float32", False)
        exact = run(ds, "exact", args)
        print(f"| {n:,} | exact search, {args.queries} queries | {exact['seconds']:.2f} s | | | | "
              f"{os.getloadavg()[0]:.1f} |", flush=True)
        for setting in args.settings * args.rounds:
            load0 = os.getloadavg()[0]
            b = run(ds, "build", args, setting)
            load1 = os.getloadavg()[0]
            s = run(ds, "search", args, setting)
            cells = " | ".join(f"{s['efs'][str(ef)]['recall']:.3f} ({s['efs'][str(ef)]['seconds']:.3f})"
                               for ef in args.efs)
            print(f"| {n:,} | {setting}{' (default)' if setting == NEW else ' (before)' if setting == OLD else ''} | "
                  f"{b['seconds']:.1f} | {n / b['seconds']:,.0f} | {b['peak_rss_mib']:,.0f} | {cells} | "
                  f"{load0:.1f} -> {load1:.1f} |", flush=True)
        if not args.keep:
            import shutil

            shutil.rmtree(ds)


if __name__ == "__main__":
    main()
