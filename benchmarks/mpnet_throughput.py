"""MPNet (issue 24): sentences per second of vectorize's encoder against sentence-transformers' encode on the same
folder, side by side in one process, alternating rounds, best round of each. The folder is a random MPNetModel
(base size by default: all-mpnet-base-v2's shape, hidden 768, 12 layers, 12 heads, d_ff 3072; its relative
attention bias drawn with std 1 so that it counts) with a WordPiece tokenizer trained on sample_inputs/english.txt,
saved by sentence-transformers itself (mean pooling, Normalize). Both are timed around encode alone (load
excluded). Not a test: a measurement, written by hand to benchmarks/README.md ("MPNet").

    python benchmarks/mpnet_throughput.py                  # base size, 512 sentences, 2 rounds
    python benchmarks/mpnet_throughput.py --tiny           # hidden 32, 2 layers, 4 heads
"""

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def folder(out: Path, tiny: bool, max_len: int) -> tuple[Path, object]:
    """The test's builder (tests/test_mpnet.py), at the size asked -> (folder, sentence-transformers' model)."""
    from test_mpnet import build, train_wordpiece

    sizes = {} if tiny else dict(d=768, layers=12, heads=12, d_ff=3072)  # all-mpnet-base-v2's shape
    return build(train_wordpiece(), out, max_len=max_len, **sizes)[:2]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tiny", action="store_true")
    p.add_argument("-n", type=int, default=512, help="sentences from sample_inputs/sentences-10k.txt")
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    import torch

    from vectorize_cli.config import ModelConfig
    from vectorize_cli.encoder import Encoder

    texts = (ROOT / "sample_inputs" / "sentences-10k.txt").read_text(encoding="utf-8").splitlines()[: args.n]
    with tempfile.TemporaryDirectory() as tmp:
        path, st = folder(Path(tmp), args.tiny, 128)
        ref = st.encode(texts, batch_size=32)
        contenders = {"sentence-transformers, encode(batch_size=32)": lambda: st.encode(texts, batch_size=32)}
        for backend, attention in [("numpy", "multi-head"), ("numpy", "flash"), ("torch", "flash")]:
            enc = Encoder.open(str(path), ModelConfig(backend=backend, attention=attention))
            contenders[f"vectorize ({backend}, {attention})"] = lambda enc=enc: enc.encode(texts).vectors
        times = {name: [] for name in contenders}
        cos = {}
        for _ in range(args.rounds):
            for name, run in contenders.items():
                t0 = time.perf_counter()
                v = run()
                times[name].append(time.perf_counter() - t0)
                cos[name] = float(((v * ref).sum(1) / np.linalg.norm(v, axis=1) / np.linalg.norm(ref, axis=1)).min())
    size = "hidden 32, 2 layers, 4 heads" if args.tiny else "hidden 768, 12 layers, 12 heads"
    print(f"MPNet, random weights ({size}), {len(texts)} sentences (max 128 tokens); {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, torch threads {torch.get_num_threads()}; load {os.getloadavg()[0]:.1f} at the end\n")
    print("| contender | best s | sentences/s | vs sentence-transformers | min cosine | every round, s |")
    print("|---|---:|---:|---:|---:|---|")
    st_best = min(next(iter(times.values())))
    for name, ts in times.items():
        best = min(ts)
        print(f"| {name} | {best:.2f} | {len(texts) / best:.3g} | {st_best / best:.2f}x | {cos[name]:.7f} | "
              f"{' / '.join(f'{t:.1f}' for t in ts)} |")


if __name__ == "__main__":
    main()
