"""Sentences per second of a decoder embedding model (Qwen3-style: GQA, RoPE, q/k norm, last-token pooling,
Normalize): vectorize's Encoder.encode against sentence-transformers' encode(batch_size=32) on the same folder, side
by side in one process, alternating rounds (the best round of each counts); both timed around encode alone, the
tokenizing included. vectorize's numpy contenders run twice: their steps between the products compiled
(VECTORIZE_COMPILED=1, compiled.py) and in numpy's passes (VECTORIZE_COMPILED=0). No weights are downloaded: random Qwen3Model folders of two sizes, the tokenizer trained here
(tests/test_decoder.py's). Not a test: a measurement, written to benchmarks/README.md by hand.

    python benchmarks/decoder_throughput.py [--n 1000] [--repeat 2] [--size tiny|small|qwen3-0.6b-layers]
                                            [--torch-threads N] [--before COMMIT]

--before COMMIT adds vectorize's numpy contenders with the forward pass of that commit (model/decoder.py and
decoder_nn.py read by `git show`, the rest of today's pipeline around them): before/after in the same process.

--torch-threads sets torch's threads for both torch contenders (sentence-transformers and vectorize's torch backend);
on a shared, loaded machine torch's default (one a core) can run ten times slower than one thread.

    tiny                hidden 48, 2 layers, 4 query heads, 2 key/value heads, head_dim 16 (the tests' model)
    small               hidden 256, 4 layers, 8 query heads, 4 key/value heads, head_dim 32, d_ff 768
    qwen3-0.6b-layers   Qwen3-Embedding-0.6B's layer shape (hidden 1024, 16 query heads, 8 key/value heads,
                        head_dim 128, d_ff 3072), 2 layers of its 28
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SIZES = {
    "tiny": dict(hidden_size=48, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                 intermediate_size=37),
    "small": dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=4, head_dim=32,
                  intermediate_size=768),
    "qwen3-0.6b-layers": dict(hidden_size=1024, num_hidden_layers=2, num_attention_heads=16, num_key_value_heads=8,
                              head_dim=128, intermediate_size=3072),
}
# name: (options, VECTORIZE_COMPILED while it runs): the numpy contenders with their steps between the products
# compiled (1: SwiGLU, residual + RMSNorm, explicit attention's causal softmax) and in numpy's passes (0)
CONTENDERS = {"vectorize (numpy, multi-head, compiled)": (dict(backend="numpy", attention="multi-head"), "1"),
              "vectorize (numpy, multi-head, numpy's passes)": (dict(backend="numpy", attention="multi-head"), "0"),
              "vectorize (numpy, flash, compiled)": (dict(backend="numpy", attention="flash"), "1"),
              "vectorize (numpy, flash, numpy's passes)": (dict(backend="numpy", attention="flash"), "0"),
              "vectorize (torch, flash)": (dict(backend="torch", attention="flash"), "auto")}


def build(size: str, out: Path):
    """A sentence-transformers folder with a random Qwen3Model of the size -> (folder, SentenceTransformer)."""
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3Model

    import test_decoder

    tok = test_decoder.tok.__wrapped__() if hasattr(test_decoder.tok, "__wrapped__") else \
        test_decoder.tok._get_wrapped_function()()
    config = Qwen3Config(vocab_size=tok.get_vocab_size(), max_position_embeddings=512, rope_theta=1e6,
                         pad_token_id=0, bos_token_id=0, eos_token_id=0, **SIZES[size])
    model = Qwen3Model(config)
    test_decoder.randomize(model, 0)
    model.save_pretrained(out / "hf")
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=test_decoder.EOS, pad_token=test_decoder.EOS,
                            padding_side="left", model_max_length=256).save_pretrained(out / "hf")
    st = SentenceTransformer(modules=[models.Transformer(str(out / "hf"), max_seq_length=256),
                                      models.Pooling(config.hidden_size, pooling_mode="lasttoken"),
                                      models.Normalize()], device="cpu")
    st.save(str(out / "st"))
    del model
    return out / "st", st


def forward_at(commit: str):
    """model/decoder.py's forward as it was at the commit, with that commit's decoder_nn.py."""
    import subprocess
    import types

    def module(name: str, path: str, **renames) -> types.ModuleType:
        src = subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:{path}"], check=True, capture_output=True,
                             text=True).stdout
        for old, new in renames.items():
            src = src.replace(old, new)
        m = sys.modules[name] = types.ModuleType(name)
        exec(compile(src, f"{commit}:{path}", "exec"), m.__dict__)
        return m

    module("decoder_nn_before", "vectorize_cli/model/decoder_nn.py")
    return module("decoder_before", "vectorize_cli/model/decoder.py",
                  **{"vectorize_cli.model.decoder_nn import": "decoder_nn_before import"}).forward


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="sentences of sample_inputs/sentences-10k.txt")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--size", choices=SIZES, default="small")
    ap.add_argument("--torch-threads", type=int, default=None, help="torch's threads (default: torch's own)")
    ap.add_argument("--before", metavar="COMMIT", help="also time the numpy forward pass of this commit")
    args = ap.parse_args()
    import torch

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    from vectorize_cli.config import ModelConfig
    from vectorize_cli.encoder import Encoder
    from vectorize_cli.pipelines import decoder as pipeline

    texts = [t for t in (ROOT / "sample_inputs" / "sentences-10k.txt").read_text().splitlines() if t.strip()][: args.n]
    folder, st = build(args.size, Path(tempfile.mkdtemp()))
    ours = {name: Encoder.open(str(folder), ModelConfig(**o)) for name, (o, _) in CONTENDERS.items()}
    forwards = dict.fromkeys(ours, pipeline.forward)
    told = {name: env for name, (_, env) in CONTENDERS.items()}  # VECTORIZE_COMPILED, read by each encode
    if args.before:
        old = forward_at(args.before)
        for name, (o, env) in CONTENDERS.items():
            if o["backend"] == "numpy":
                ours[f"{name[:-1]}, {args.before}'s forward)"] = ours[name]
                forwards[f"{name[:-1]}, {args.before}'s forward)"] = old
                told[f"{name[:-1]}, {args.before}'s forward)"] = env
    best, ref, cos = {}, None, {}
    for r in range(args.repeat):
        t0 = time.perf_counter()
        ref = st.encode(texts, batch_size=32, show_progress_bar=False)
        best["sentence-transformers, encode(batch_size=32)"] = min(time.perf_counter() - t0, best.get(
            "sentence-transformers, encode(batch_size=32)", np.inf))
        for name, enc in ours.items():
            pipeline.forward = forwards[name]  # pipelines/decoder.encode reads it at each call
            os.environ["VECTORIZE_COMPILED"] = told[name]  # backend.resolve reads it at each encode
            t0 = time.perf_counter()
            v = enc.encode(texts).vectors
            best[name] = min(time.perf_counter() - t0, best.get(name, np.inf))
            cos[name] = float(((v * ref).sum(1) / np.linalg.norm(v, axis=1) / np.linalg.norm(ref, axis=1)).min())
        print(f"round {r + 1}: " + ", ".join(f"{k} {v:.2f} s" for k, v in best.items()), file=sys.stderr)
    base = best["sentence-transformers, encode(batch_size=32)"]
    print(f"\n{args.size}: {SIZES[args.size]}, {len(texts)} sentences, best of {args.repeat}, torch threads "
          f"{torch.get_num_threads()}; load average {os.getloadavg()[0]:.2f}\n")
    print("| contender | best s | sentences/s | vs sentence-transformers | min cosine |\n|---|---:|---:|---:|---:|")
    for name, s in best.items():
        print(f"| {name} | {s:.2f} | {len(texts) / s:.0f} | {base / s:.2f}x | {cos.get(name, float('nan')):.7f} |")


if __name__ == "__main__":
    main()
