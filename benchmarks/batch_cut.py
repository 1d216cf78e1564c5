"""encode's batches cut by sentences (as now) or by a budget of padded tokens, side by side in one process:
the model loaded and the texts tokenized once, then `encode` timed, the cuts alternating each round.

    python benchmarks/batch_cut.py [--lines 3000] [--rounds 3]

Prints each cut's padding fraction (pipelines.bert.padding_fraction), batch count, and median time.
"""

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

from vectorize_cli.config import ModelConfig
from vectorize_cli.model.bert import load
from vectorize_cli.pipelines import bert

CORPUS = Path(__file__).resolve().parent.parent / "sample_inputs" / "sentences-10k.txt"


def by_tokens(budget: int):
    """Batches, longest first, of as many sentences as fit budget padded tokens (at least one)."""
    def cut(lengths: list[int], batch_size: int) -> list[np.ndarray]:
        order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
        out, start = [], 0
        while start < len(order):
            n = max(1, budget // lengths[order[start]])
            out.append(order[start : start + n])
            start += n
        return out
    return cut


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lines", type=int, default=3000)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    model = load("minilm")
    texts = CORPUS.read_text(encoding="utf-8").splitlines()[: a.lines]
    encs = model.tokenizer.encode(texts, tokens=False)
    lengths = [len(e.ids) for e in encs]
    by_sentences = bert.batches
    cuts = {"32 sentences (as now)": by_sentences, "640 tokens": by_tokens(640), "1,024 tokens": by_tokens(1024),
            "2,048 tokens": by_tokens(2048), "64 sentences": lambda n, _: by_sentences(n, 64)}
    times: dict[str, list[float]] = {c: [] for c in cuts}
    names = list(cuts)
    bert.encode(model, texts[:200], encodings=encs[:200])  # warm: numba's loops loaded, threads started
    try:
        for r in range(a.rounds):
            for c in names[r % len(names) :] + names[: r % len(names)]:
                bert.batches = cuts[c]
                t = time.perf_counter()
                bert.encode(model, texts, ModelConfig(batch_size=32), encodings=encs)
                times[c].append(time.perf_counter() - t)
    finally:
        bert.batches = by_sentences
    print(f"{a.lines} lines, {a.rounds} rounds alternating; load average "
          f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())}\n")
    print("| batches | padding | batches | median s | every round, s | vs 32 sentences |\n|---|---:|---:|---:|---|---:|")
    base = statistics.median(times[names[0]])
    for c, cut in cuts.items():
        todo = cut(lengths, 32)
        med = statistics.median(times[c])
        print(f"| {c} | {bert.padding_fraction(lengths, todo):.3f} | {len(todo)} | {med:.2f} | "
              f"{' / '.join(f'{t:.2f}' for t in times[c])} | {base / med:.2f}x |")


if __name__ == "__main__":
    main()
