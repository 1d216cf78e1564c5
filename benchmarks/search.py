"""`vectorize search` at scale: exact search time and peak RSS per query and per batch of 100 queries over
100,000 and 1,000,000 generated vectors (d = 384), float32 / int8 / binary; the HNSW index's build time,
query time and recall@10 against exact.

    python benchmarks/search.py --sizes 100000 1000000 --ann-sizes 100000 --work /tmp/search-bench

Vectors: unit vectors clustered around 2,000 random centers (sentence embeddings gather by topic; uniform
random vectors, every distance alike, are the worst case of any graph index and are measured too with
--uniform). Queries are fresh draws from the same distribution. Every case runs in its own process, so
its peak RSS (ru_maxrss) is its own. Results go to stdout as Markdown rows for benchmarks/README.md.
"""

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

D, CENTERS, SEED = 384, 2000, 0


def vectors(n: int, uniform: bool, seed: int) -> np.ndarray:
    from corpus_fixtures import clustered_vectors, unit_vectors

    rng = np.random.default_rng(SEED)
    centers = unit_vectors(rng, CENTERS, D)
    rng = np.random.default_rng(seed)
    return unit_vectors(rng, n, D) if uniform else clustered_vectors(rng, n, D, centers)


def write(work: Path, n: int, precision: str, uniform: bool) -> Path:
    from corpus_fixtures import write_dataset

    out = work / f"{'u' if uniform else 'c'}{n}-{precision}"
    if (out / "_SUCCESS").exists():
        return out
    shutil.rmtree(out, ignore_errors=True)
    write_dataset(out, vectors(n, uniform, 1), precision, part_rows=100_000)
    return out


def peak_rss_mib() -> float:
    """This process's peak RSS: VmHWM (ru_maxrss would carry the parent's peak across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def case(args) -> None:
    """One measurement in this process: prints JSON {seconds, peak_rss_mib, ...}."""
    from vectorize_cli.search import ann, exact
    from vectorize_cli.dataset.reader import open_dataset

    ds = open_dataset(Path(args.case))
    q = vectors(args.queries, args.uniform, 2)
    rescore = args.rescore or None
    result = {}
    if args.what == "exact":
        t = time.perf_counter()
        top = exact.exact_search(ds, q, 10, rescore)
        result["seconds"] = time.perf_counter() - t
        np.save(Path(args.case) / f"exact-{args.queries}-{args.rescore}.npy", top.ids)
    elif args.what == "build":
        t = time.perf_counter()
        ann.build_index(ds)
        result["seconds"] = time.perf_counter() - t
    else:  # ann: query time and recall against the exact ids saved by an exact case
        index = ann.load_index(ds, args.ef)
        t = time.perf_counter()
        top = ann.ann_search(ds, index, q, 10, rescore)
        result["seconds"] = time.perf_counter() - t
        truth = np.load(Path(args.case) / f"exact-{args.queries}-{args.rescore}.npy")
        result["recall"] = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(top.ids, truth)]))
    result["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(result))


def run(ds: Path, what: str, queries: int, uniform: bool, rescore: int = 0, ef: int = 256) -> dict:
    cmd = [sys.executable, __file__, "--case", str(ds), "--what", what, "--queries", str(queries),
           "--rescore", str(rescore), "--ef", str(ef)] + (["--uniform"] if uniform else [])
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    p.add_argument("--ann-sizes", type=int, nargs="*", default=[100_000])
    p.add_argument("--precisions", nargs="*", default=["float32", "int8", "binary"])
    p.add_argument("--efs", type=int, nargs="*", default=[64, 256])
    p.add_argument("--work", type=Path, default=Path("/tmp/search-bench"))
    p.add_argument("--uniform", action="store_true")
    p.add_argument("--keep", action="store_true", help="keep the datasets (disk) after each size")
    p.add_argument("--case"), p.add_argument("--what"), p.add_argument("--queries", type=int)
    p.add_argument("--rescore", type=int, default=0), p.add_argument("--ef", type=int, default=256)
    args = p.parse_args()
    if args.case:
        return case(args)
    import platform

    print(f"machine: {platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores; "
          f"load average at start {__import__('os').getloadavg()[0]:.1f}", flush=True)
    print("| vectors | precision | queries | exact s | peak RSS MiB |\n|---|---|---|---|---|", flush=True)
    for n in args.sizes:
        for precision in args.precisions:
            ds = write(args.work, n, precision, args.uniform)
            for queries in (1, 100):
                for rescore in ([0, 4] if precision == "binary" else [0]):
                    r = run(ds, "exact", queries, args.uniform, rescore)
                    label = precision + (f" --rescore {rescore}" if rescore else "")
                    print(f"| {n:,} | {label} | {queries} | {r['seconds']:.2f} | {r['peak_rss_mib']:.0f} |",
                          flush=True)
            if n in args.ann_sizes:
                b = run(ds, "build", 1, args.uniform)
                print(f"| {n:,} | {precision} | HNSW build | {b['seconds']:.1f} | {b['peak_rss_mib']:.0f} |",
                      flush=True)
                for ef in args.efs:
                    for rescore in ([0, 4] if precision == "binary" else [0]):
                        if ef < 10 * max(rescore, 1):
                            continue
                        a = run(ds, "ann", 100, args.uniform, rescore, ef)
                        label = precision + (f" --rescore {rescore}" if rescore else "")
                        print(f"| {n:,} | {label} | 100, --ann --ef {ef} | {a['seconds']:.3f} "
                              f"(recall@10 {a['recall']:.3f}) | {a['peak_rss_mib']:.0f} |", flush=True)
            if not args.keep:
                shutil.rmtree(ds)


if __name__ == "__main__":
    main()
