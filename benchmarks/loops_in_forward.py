"""The whole in-process forward pass of MiniLM over the first --lines sample sentences (every batch of 32, sorted
by length as `vectorize run` cuts them), on one thread, with this checkout's compiled loops against another
checkout's numba_loops.py (--against): a change to the loops measured where it counts, side by side in one run.

    python benchmarks/loops_in_forward.py --against OTHER/vectorize_cli/numba_loops.py [--lines 3000] [--rounds 6]

The two contenders alternate (which goes first swaps each round) after one warm-up round each; the best and the
median round of each are printed, with the ratio, and whether their last layers are the same bits. Tokenizing
is done once, outside the timing; BLAS runs on one thread (threadpoolctl), as each loop does.
"""

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
from fused_steps import other_loops
from threadpoolctl import threadpool_limits

from vectorize_cli import compiled
from vectorize_cli.config import ModelConfig
from vectorize_cli.model.bert import forward, load
from vectorize_cli.pipelines.bert import backend_for, batches

SENTENCES = Path(__file__).resolve().parents[1] / "sample_inputs" / "sentences-10k.txt"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--against", required=True, help="another checkout's vectorize_cli/numba_loops.py")
    p.add_argument("--lines", type=int, default=3000)
    p.add_argument("--rounds", type=int, default=6)
    a = p.parse_args()
    model = load("minilm")
    texts = SENTENCES.read_text().splitlines()[: a.lines]
    ids_of = [e.ids for e in model.tokenizer.encode(texts, tokens=False)]
    lengths = [len(i) for i in ids_of]
    backend, attention = backend_for(ModelConfig())
    backend = compiled.for_run(backend, sum(lengths))
    if backend.fused != "compiled":
        raise SystemExit("numba's loops did not load (pip install numba)")
    contenders = {"ours": compiled._load(), "--against": compiled.checked(other_loops(a.against))}

    def run():  # -> each batch's last layer (B, T, d)
        out = []
        for batch in batches(lengths, 32):
            n = [lengths[i] for i in batch]
            ids = np.zeros((len(batch), max(n)), np.int64)
            for row, i in enumerate(batch):
                ids[row, : n[row]] = ids_of[i]
            pad = np.arange(max(n))[None, :] >= np.asarray(n)[:, None]
            out.append(forward(model, backend, ids, np.zeros_like(ids), pad, attention, every_layer=False)[1][-1][1])
        return out

    times, last = {k: [] for k in contenders}, {}
    with threadpool_limits(1, user_api="blas"):
        for r in range(a.rounds + 1):  # round 0: warm-up, not counted
            for name in list(contenders)[:: 1 if r % 2 else -1]:
                compiled._loaded["loops"] = contenders[name]  # what compiled.fused(backend) returns
                t = time.perf_counter()
                last[name] = run()
                if r:
                    times[name].append(time.perf_counter() - t)
    compiled._loaded["loops"] = contenders["ours"]
    same = all(x.tobytes() == y.tobytes() for x, y in zip(*last.values()))
    print(f"{a.lines} sentences, {sum(lengths)} tokens, one thread, {a.rounds} rounds alternating; load average "
          f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())}; last layers: {'the same bits' if same else 'DIFFER'}")
    for name, v in times.items():
        print(f"{name}: best {min(v):.3f} s, median {statistics.median(v):.3f} s")
    best, median = (f(times["--against"]) / f(times["ours"]) for f in (min, statistics.median))
    print(f"--against / ours: best {best:.3f}x, median {median:.3f}x")


if __name__ == "__main__":
    main()
