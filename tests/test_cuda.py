"""On a CUDA GPU: the model path and the toy's variants on the GPU against references computed on the CPU
(sentence-transformers, numpy float32 and float64). Skipped where torch sees no GPU, as on CI; on a GPU machine:
`python -m pytest tests/test_cuda.py`. benchmarks/README.md records where they last ran."""

import json

import numpy as np
import pytest

from test_backends import TOLERANCE, _x
from test_cli import invoke
from test_model import FILES, assert_matches, lines
from vectorize_cli.attention.sdpa import SDPA_OPS
from vectorize_cli.attention.variants import VARIANTS
from vectorize_cli.config import Config, ModelConfig
from vectorize_cli.pipelines.bert import encode, trace
from vectorize_cli.pipelines.toy import attend

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch sees none here)")

# the least cosine per sentence against sentence-transformers' float32 on the CPU: float16 keeps 11 bits of
# mantissa, bfloat16 8 (the range of float32), so bfloat16's is the looser
HALF_COSINE = {"float16": 0.999, "bfloat16": 0.99}
SENTENCE = "The quick brown fox jumps over the lazy dog near the riverbank."


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.mark.parametrize("name", FILES)
def test_model_in_float32_on_cuda_matches_sentence_transformers(minilm, reference, name):
    texts = lines(name)
    ours, _ = encode(minilm, texts, ModelConfig("multi-head", "torch", "cuda"))
    assert_matches(ours, reference.encode(texts, batch_size=32))


@pytest.mark.parametrize("dtype", list(HALF_COSINE))
def test_model_in_half_precision_on_cuda_is_close_to_float32(minilm, reference, dtype):
    texts = [t for name in FILES for t in lines(name)]
    ours, _ = encode(minilm, texts, ModelConfig("multi-head", "torch", "cuda", dtype))
    full = reference.encode(texts, batch_size=32)
    cos = cosines(ours, full)
    print(f"{dtype} on cuda against float32: min cosine {cos.min():.6f}, mean {cos.mean():.6f}")
    assert cos.min() >= HALF_COSINE[dtype] and cos.max() < 1.0 + 1e-6
    assert np.abs(ours - full).max() > 1e-4  # computed in half precision, not float32


def test_model_flash_on_cuda_runs_the_flash_kernel_and_says_it_cast(minilm, reference):
    res = trace(minilm, SENTENCE, ModelConfig("flash", "torch", "cuda", strict=True))
    ran = res.blocks[0].ran
    assert ran.device == "cuda" and ran.op == SDPA_OPS["FLASH_ATTENTION", "cuda"]
    assert ran.dtype in HALF_COSINE and "cast" in ran.notes[0]  # float32 asked for: flash takes half precision
    cos = cosines(res.sentence_vector[None], reference.encode([SENTENCE]))
    assert cos.min() >= HALF_COSINE[ran.dtype]


def test_model_flash_on_cuda_in_float32_stays_float32_and_says_flash_could_not_run(minilm, reference):
    """Without --strict, float32 is not cast: the memory-efficient fused kernel runs it, and the note gives
    torch's reason for flash; the vectors are float32's (sentence-transformers' to 1e-5)."""
    texts = lines("english.txt")
    ours, _ = encode(minilm, texts, ModelConfig("flash", "torch", "cuda"))
    assert_matches(ours, reference.encode(texts, batch_size=32))
    res = trace(minilm, SENTENCE, ModelConfig("flash", "torch", "cuda"))
    ran = res.blocks[0].ran
    assert ran.dtype == "float32" and ran.op == SDPA_OPS["EFFICIENT_ATTENTION", "cuda"]
    assert any("could not run (flash_attention:" in n for n in ran.notes) and not any("cast" in n for n in ran.notes)
    x = _x(np.random.default_rng(0), 200, 64)
    toy = attend("flash", x, Config(dim=64, heads=4, backend="torch", device="cuda"))
    assert toy.ran.dtype == "float32" and toy.ran.op == SDPA_OPS["EFFICIENT_ATTENTION", "cuda"]


def test_model_on_cuda_gives_a_sentence_the_same_vector_alone_and_in_a_batch(minilm, rng):
    texts = lines("english.txt") + lines("punctuation.txt")
    config = ModelConfig("multi-head", "torch", "cuda", batch_size=int(rng.integers(2, 9)))
    batched, _ = encode(minilm, texts, config)
    for i in rng.choice(len(texts), size=5, replace=False):
        alone, _ = encode(minilm, [texts[i]], config)
        assert np.abs(alone[0] - batched[i]).max() <= 1e-5


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_toy_variant_on_cuda_agrees_with_numpy(rng, variant):
    x = _x(rng, int(rng.integers(5, 300)), 64)
    c = dict(dim=64, heads=4, causal=bool(rng.integers(2)))
    ours = attend(variant, x, Config(**c))
    gpu = attend(variant, x, Config(**c, backend="torch", device="cuda"))
    assert gpu.ran.device == "cuda"
    tol = TOLERANCE[gpu.ran.dtype] * max(np.abs(ours.output).max(), 1.0)
    assert np.abs(gpu.output - ours.output).max() <= tol, (variant, gpu.ran.dtype)
    if gpu.weights is not None:
        np.testing.assert_allclose(gpu.weights, ours.weights, atol=1e-5)


def test_the_commands_run_on_cuda(minilm, tmp_path):
    r = invoke("run", SENTENCE, "-m", "minilm", "-b", "torch", "--device", "cuda", "-F", "json")
    assert r.exit_code == 0, r.stderr
    cfg = json.loads(r.stdout)["config"]
    assert (cfg["backend"], cfg["device"], cfg["dtype"]) == ("torch", "cuda", "float32")
    r = invoke("similarity", "a cat", "a dog", "-b", "torch", "--device", "cuda", "-F", "json")
    assert r.exit_code == 0, r.stderr
    r = invoke("bench", "-b", "torch", "--device", "cuda", "-a", "flash", "-T", "256", "--repeat", "2", "-F", "json")
    assert r.exit_code == 0 and '"cuda"' in r.stdout, r.stderr
    (tmp_path / "in.txt").write_text("\n".join(lines("english.txt")) + "\n", encoding="utf-8")
    r = invoke("embed", str(tmp_path / "in.txt"), "-o", str(tmp_path / "ds"), "-b", "torch", "--device", "cuda",
               "--dtype", "float16")
    assert r.exit_code == 0, r.stderr
    import pyarrow.parquet as pq

    meta = json.loads(pq.read_schema(tmp_path / "ds" / "part-00000.parquet").metadata[b"vectorize"])
    assert meta["dtype"] == "float16" and meta["options"]["device"] == "cuda"
