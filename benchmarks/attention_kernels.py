"""Flash attention against explicit attention: time and peak memory per sequence length.

Kernels (8 heads, head size 64 unless changed), each run in a fresh subprocess so that its peak
memory is its own:
  numpy-flash     vectorize's tiled online softmax on numpy (kernels.flash_attention)
  torch-flash     vectorize's torch path: attention/sdpa.py fused_attention(strict=True), torch's fused kernel
  sdpa-direct     F.scaled_dot_product_attention called directly, flash backend (the baseline for our overhead)
  numpy-explicit  softmax(Q Kᵀ/√hs) V with the H x T x T weights materialised (kernels.explicit_attention)

    python benchmarks/attention_kernels.py                       # T = 512 ... 16384, writes nothing
    python benchmarks/attention_kernels.py --markdown            # a table for benchmarks/README.md
    python benchmarks/attention_kernels.py --device cuda --dtype bfloat16 --lengths 1024 4096 16384 32768

Time: median of --repeat runs after one warm-up. Memory: peak RSS (CPU) or peak CUDA memory during
the runs, minus what the inputs already held. GPU runs also report TFLOP/s (4 T² H hs FLOPs for the
non-causal forward pass, halved when causal).
"""

import argparse
import json
import platform
import subprocess
import sys

CHILD = r'''
import json, statistics, sys, time
import numpy as np
kernel, T, H, hs, causal, repeat, device, dtype, block = json.loads(sys.argv[1])

def rss_kib():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))

def peak_kib():  # VmHWM: this process's own peak (ru_maxrss would carry the parent's across fork and exec)
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))

rng = np.random.default_rng(0)
q, k, v = (rng.standard_normal((H, T, hs)).astype(np.float32) for _ in range(3))
if kernel.startswith(("torch", "sdpa")):
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from vectorize_cli.attention.sdpa import fused_attention
    q, k, v = (torch.from_numpy(a).to(device=device, dtype=getattr(torch, dtype)) for a in (q, k, v))
    if kernel == "torch-flash":
        run = lambda: fused_attention(q, k, v, causal, strict=True)[0]
    else:
        def run():
            with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
                return torch.nn.functional.scaled_dot_product_attention(q[None], k[None], v[None], is_causal=causal)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
else:
    from vectorize_cli.attention.kernels import explicit_attention, flash_attention
    run = (lambda: flash_attention(q, k, v, causal, block)) if kernel == "numpy-flash" else \
          (lambda: explicit_attention(q, k, v, causal))
    sync = lambda: None
if device == "cuda":
    torch.cuda.reset_peak_memory_stats(); before = torch.cuda.memory_allocated()
else:
    before = rss_kib() * 1024
run(); sync()
times = []
for _ in range(repeat):
    t = time.perf_counter(); out = run(); sync(); times.append(time.perf_counter() - t); del out
peak = torch.cuda.max_memory_allocated() if device == "cuda" else peak_kib() * 1024
print(json.dumps({"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
                  "extra_mib": max(peak - before, 0) / 2**20}))
'''

KERNELS = ["numpy-flash", "torch-flash", "sdpa-direct", "numpy-explicit"]


def measure(kernel, T, a) -> dict:
    if kernel == "numpy-explicit" and 3 * a.heads * T * T * 4 > a.explicit_limit:
        return {"skipped": f"needs {3 * a.heads * T * T * 4 / 2**30:.0f} GiB"}
    if kernel.startswith("numpy") and a.device == "cuda":
        return {"skipped": "numpy runs on the CPU"}
    args = json.dumps([kernel, T, a.heads, a.head_size, a.causal, a.repeat, a.device, a.dtype, a.block_size])
    r = subprocess.run([sys.executable, "-c", CHILD, args], capture_output=True, text=True)
    if r.returncode:
        return {"skipped": r.stderr.strip().splitlines()[-1][:120]}
    return json.loads(r.stdout)


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    import os
    import numpy
    import torch
    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return (f"{cpu}, {os.cpu_count()} cores{gpu}; Python {platform.python_version()}, numpy {numpy.__version__}, "
            f"torch {torch.__version__}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lengths", type=int, nargs="+", default=[512, 1024, 2048, 4096, 8192, 16384])
    p.add_argument("--kernels", nargs="+", default=KERNELS, choices=KERNELS)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--head-size", type=int, default=64)
    p.add_argument("--causal", action="store_true")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    p.add_argument("--block-size", type=int, default=256)
    p.add_argument("--explicit-limit", type=float, default=12 * 2**30, help="skip explicit runs needing more bytes")
    p.add_argument("--markdown", action="store_true")
    a = p.parse_args()
    rows = []
    for T in a.lengths:
        for kernel in a.kernels:
            r = {"T": T, "kernel": kernel, **measure(kernel, T, a)}
            if "median_s" in r:
                r["tflops"] = 4 * T * T * a.heads * a.head_size / (2 if a.causal else 1) / r["median_s"] / 1e12
            rows.append(r)
            print(json.dumps(r), file=sys.stderr, flush=True)
    if not a.markdown:
        return
    print(f"Machine: {machine()}. H={a.heads}, hs={a.head_size}, {a.dtype}, {a.device}, "
          f"{'causal' if a.causal else 'not causal'}, median of {a.repeat} after a warm-up.\n")
    print("| T | kernel | median s | spread s | extra memory MiB | TFLOP/s |\n|---|---|---|---|---|---|")
    for r in rows:
        if "skipped" in r:
            print(f"| {r['T']} | {r['kernel']} | skipped: {r['skipped']} | | | |")
        else:
            print(f"| {r['T']} | {r['kernel']} | {r['median_s']:.3f} | {r['min_s']:.3f}-{r['max_s']:.3f} | "
                  f"{r['extra_mib']:.0f} | {r['tflops']:.3f} |")
    by = {(r["T"], r["kernel"]): r.get("median_s") for r in rows}
    print("\nRatios, measured side by side in this run:\n")
    for T in a.lengths:
        nf, tf, sd = by.get((T, "numpy-flash")), by.get((T, "torch-flash")), by.get((T, "sdpa-direct"))
        parts = []
        if nf and tf:
            parts.append(f"numpy-flash / torch-flash = {nf / tf:.2f}")
        if tf and sd:
            parts.append(f"torch-flash / sdpa-direct = {tf / sd:.3f}")
        if parts:
            print(f"- T = {T}: " + "; ".join(parts))


if __name__ == "__main__":
    main()
