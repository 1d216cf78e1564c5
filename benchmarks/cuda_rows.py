"""The rows a GPU adds to benchmarks/README.md, in ONE process on one device, side by side:

    python benchmarks/cuda_rows.py                       # on a CUDA machine: the whole set
    python benchmarks/cuda_rows.py --device cpu --lines 300 --lengths 512 --dtypes float32 bfloat16  # a dry run

1. peak: torch's matrix product n x n x n (n = --peak-n) in each dtype, TFLOP/s: the ceiling the rest is read against.
2. flash: vectorize's fused attention (attention/sdpa.fused_attention, --strict: the flash kernel itself),
   B x H x T x 64, not causal, TFLOP/s counted as 4 B H T^2 hs (QK^T and PV), and its share of the peak.
3. the model path: all-MiniLM-L6-v2 over the first --lines of sample_inputs/sentences-10k.txt, in process and
   warmed up: vectorize's encode (-b torch --device DEVICE --dtype D) against sentence-transformers on the
   same device in the same dtype (model.to(dtype)), the same batch size, sentences/s (median of --repeat, the
   contenders in a rotating order), and the cost of each dtype against float32 (vectorize's float32 for
   vectorize, sentence-transformers' float32 for it): min and mean cosine per sentence, recall@10 of a search (benchmarks/recall.py).
4. split: where vectorize's time goes on the model path, per dtype and batch size (best of 3): tokenizing all
   --lines (model.tokenizer.encode, the Rust tokenizer on every core), then the batches given those tokens
   (encode(..., encodings): padding, the model, pooling on the device, the vectors back), and the batches'
   speed-up over float32's: the half-precision gain of the model itself, which tokenizing dilutes.
Times on CUDA are taken after torch.cuda.synchronize(); encode returns numpy arrays, which synchronizes too.
"""

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from model_dtype import CORPUS  # noqa: E402
from recall import cosine_recall  # noqa: E402

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed(f, device: str, repeat: int) -> list[float]:
    f()  # warm-up: kernels chosen, caches filled
    sync(device)
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        sync(device)
        out.append(time.perf_counter() - t)
    return out


def peak(device: str, n: int, dtypes: list[str], repeat: int) -> dict[str, float]:
    """TFLOP/s of an n x n x n product per dtype (float32 in full float32: TF32 off, torch's default)."""
    print(f"\n## peak: {n} x {n} x {n} matrix product, median of {repeat}\n")
    print("| dtype | ms | TFLOP/s |\n|---|---:|---:|")
    got = {}
    for d in dtypes:
        a, b = (torch.randn(n, n, device=device, dtype=DTYPES[d]) for _ in range(2))
        ms = statistics.median(timed(lambda: a @ b, device, repeat)) * 1e3
        got[d] = 2 * n**3 / ms / 1e9
        print(f"| {d} | {ms:.2f} | {got[d]:.3g} |")
    return got


def flash(device: str, lengths: list[int], dtypes: list[str], repeat: int, ceiling: dict[str, float]) -> None:
    from vectorize_cli.attention.sdpa import fused_attention

    B, H, hs = 4, 16, 64
    print(f"\n## flash: vectorize's fused attention (--strict), B={B}, H={H}, head size {hs}, not causal, "
          f"median of {repeat}\n")
    print("| dtype | T | op | ms | TFLOP/s | of the matmul peak |\n|---|---:|---|---:|---:|---:|")
    for d in dtypes:
        for T in lengths:
            q, k, v = (torch.randn(B, H, T, hs, device=device, dtype=DTYPES[d]) for _ in range(3))
            try:
                _, op, _ = fused_attention(q, k, v, strict=True)
            except Exception as e:  # the flash kernel does not take this dtype here: say so, go on
                print(f"| {d} | {T} | none: {str(e).splitlines()[0][:80]} | | | |")
                continue
            ms = statistics.median(timed(lambda: fused_attention(q, k, v, strict=True), device, repeat)) * 1e3
            tflops = 4 * B * H * T * T * hs / ms / 1e9
            print(f"| {d} | {T} | {op.removeprefix('aten::')} | {ms:.3f} | {tflops:.3g} | "
                  f"{tflops / ceiling[d]:.0%} |")


def corpus(lines: int) -> list[str]:
    """The first `lines` non-blank lines of the sample corpus."""
    return [t for t in CORPUS.read_text(encoding="utf-8").splitlines() if t.strip()][:lines]


def model_rows(device: str, lines: int, dtypes: list[str], batch_sizes: list[int], repeat: int, queries: int):
    from sentence_transformers import SentenceTransformer

    from vectorize_cli.config import ModelConfig
    from vectorize_cli.model.bert import load
    from vectorize_cli.model.files import locate
    from vectorize_cli.pipelines.bert import encode

    texts = corpus(lines)
    model = load("minilm")
    folder = str(locate("minilm")[0])
    st = {d: SentenceTransformer(folder, device=device).to(DTYPES[d]) for d in dtypes}
    contenders = {}
    for bs in batch_sizes:
        for d in dtypes:
            config = ModelConfig("multi-head", "torch", device, d, batch_size=bs)
            contenders[f"vectorize {d} b{bs}"] = (lambda c=config: encode(model, texts, c)[0])
            contenders[f"sentence-transformers {d} b{bs}"] = (
                lambda m=st[d], b=bs: m.encode(texts, batch_size=b, convert_to_numpy=True).astype(np.float32))
    vectors = {name: f() for name, f in contenders.items()}  # warm-up, and the vectors compared below
    times: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for r in range(repeat):
        for name in names[r % len(names):] + names[: r % len(names)]:
            sync(device)
            t = time.perf_counter()
            contenders[name]()
            sync(device)
            times[name].append(time.perf_counter() - t)
    print(f"\n## the model path: all-MiniLM-L6-v2, {len(texts)} sentences of {CORPUS.name}, in process, warmed "
          f"up, median of {repeat}, rotating order; cost against the same tool's float32\n")
    print("| contender | sentences/s | median s | vs sentence-transformers, same dtype and batch | min cosine | "
          "mean cosine | recall@10 |\n|---|---:|---:|---:|---:|---:|---:|")
    for name in contenders:
        tool, d, bs = name.rsplit(" ", 2)
        ref = vectors[f"{tool} float32 {bs}"].astype(np.float64)
        v = vectors[name].astype(np.float64)
        cos = (v * ref).sum(1) / np.linalg.norm(v, axis=1) / np.linalg.norm(ref, axis=1)
        recall = cosine_recall(ref, v, min(queries, len(ref) - 1))
        med = statistics.median(times[name])
        other = statistics.median(times[f"sentence-transformers {d} {bs}"])
        print(f"| {name} | {len(texts) / med:,.0f} | {med:.3f} | {other / med:.2f}x | {cos.min():.6f} | "
              f"{cos.mean():.6f} | {recall:.3f} |")
    v32 = vectors[f"vectorize float32 b{batch_sizes[0]}"].astype(np.float64)
    s32 = vectors[f"sentence-transformers float32 b{batch_sizes[0]}"].astype(np.float64)
    cos = (v32 * s32).sum(1) / np.linalg.norm(v32, axis=1) / np.linalg.norm(s32, axis=1)
    print(f"\nvectorize float32 against sentence-transformers float32 on {device}: min cosine {cos.min():.7f}, "
          f"max |delta| {np.abs(v32 - s32).max():.2e}")


def split_rows(device: str, lines: int, dtypes: list[str], batch_sizes: list[int]) -> None:
    from vectorize_cli.config import ModelConfig
    from vectorize_cli.model.bert import load
    from vectorize_cli.pipelines.bert import encode

    texts = corpus(lines)
    model = load("minilm")
    print(f"\n## where the time goes: {len(texts)} sentences, best of 3 (tokenizing, then the batches)\n")
    print("| batch | dtype | tokenize s | batches s | sentences/s | batches vs float32 |\n"
          "|---:|---|---:|---:|---:|---:|")
    for bs in batch_sizes:
        base = None
        for d in dtypes:
            config = ModelConfig("multi-head", "torch", device, d, batch_size=bs, max_memory=64 << 30)
            encode(model, texts[:2000], config)  # warm-up
            best = (math.inf, math.inf)
            for _ in range(3):
                t = time.perf_counter()
                encodings = model.tokenizer.encode(texts, tokens=False)
                t1 = time.perf_counter()
                encode(model, texts, config, encodings)
                sync(device)
                best = min(best, (time.perf_counter() - t1, t1 - t))
            batches, tokenize = best
            base = batches if d == "float32" else base
            gain = f"{base / batches:.2f}x" if base else ""
            rate = len(texts) / (tokenize + batches)
            print(f"| {bs} | {d} | {tokenize:.3f} | {batches:.3f} | {rate:,.0f} | {gain} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--lines", type=int, default=10000)
    p.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16", "float16"])
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 256])
    p.add_argument("--lengths", type=int, nargs="+", default=[1024, 4096, 16384])
    p.add_argument("--peak-n", type=int, default=8192)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--split-batch-sizes", type=int, nargs="+", default=[32, 256, 1024])
    p.add_argument("--skip", nargs="*", default=[], choices=["peak", "flash", "model", "split"])
    a = p.parse_args()
    name = torch.cuda.get_device_name() if a.device == "cuda" else "CPU"
    print(f"# {name}; torch {torch.__version__}; {torch.get_num_threads()} CPU threads")
    ceiling = peak(a.device, a.peak_n, a.dtypes, a.repeat) if "peak" not in a.skip else {}
    if "flash" not in a.skip:
        flash(a.device, a.lengths, [d for d in a.dtypes if d != "float32" or a.device == "cpu"], a.repeat, ceiling)
    if "model" not in a.skip:
        model_rows(a.device, a.lines, a.dtypes, a.batch_sizes, a.repeat, a.queries)
    if "split" not in a.skip:
        split_rows(a.device, a.lines, a.dtypes, a.split_batch_sizes)


if __name__ == "__main__":
    main()
