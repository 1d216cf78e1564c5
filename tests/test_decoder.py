"""Issue 24, decoder family: tiny random Qwen3Model (GQA: 4 query heads, 2 key/value heads, head_dim 16, q/k norm),
Qwen2Model (q/k/v bias) and LlamaModel, with a byte-level BPE tokenizer trained here that appends <|endoftext|> (a
TemplateProcessing post-processor, as Qwen3-Embedding's tokenizer.json) and pads on the left (its
tokenizer_config.json), saved as sentence-transformers folders (Transformer, Pooling lasttoken, Normalize, the query
prompt); against sentence-transformers' encode / encode_query / encode_document and transformers' own hidden states
and attention weights layer by layer; numpy and torch, multi-head and flash; the CLI end to end."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from test_cli import invoke
from test_families import one_line, same

torch = pytest.importorskip("torch")
st = pytest.importorskip("sentence_transformers")

ROOT = Path(__file__).resolve().parents[1]
MAX = 24  # max_seq_length
EOS = "<|endoftext|>"
PROMPTS = {"query": "Instruct: find\nQuery:", "document": ""}
TEXTS = ["A man is eating food.", "x", "The quick brown fox jumps over the lazy dog " * 8,  # cut at MAX tokens
         "Two words", "A longer sentence about cats and dogs, with some punctuation; and numbers 1 2 3.", ""]
KINDS = ("qwen3", "qwen2", "llama")
OPTIONS = [dict(backend=b, attention=a) for b in ("numpy", "torch") for a in ("multi-head", "flash")]


@pytest.fixture(scope="module")
def tok():
    """Byte-level BPE trained on english.txt, <|endoftext|> id 0 appended to every text (Qwen3-Embedding's template)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    lines = (ROOT / "sample_inputs" / "english.txt").read_text(encoding="utf-8").splitlines()
    t = Tokenizer(models.BPE())
    t.normalizer = normalizers.NFC()
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    t.decoder = decoders.ByteLevel()
    t.train_from_iterator(lines, trainers.BpeTrainer(vocab_size=400, special_tokens=[EOS],
                                                     initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    assert t.token_to_id(EOS) == 0
    t.post_processor = processors.TemplateProcessing(single=f"$A {EOS}", special_tokens=[(EOS, 0)])
    return t


def randomize(model, seed: int) -> None:
    """Every weight drawn again, larger than transformers' init (std 0.02 leaves attention near uniform): linear
    weights ~ N(0, 1/fan_in), embeddings ~ N(0, 1), norm gains ~ 1 + N(0, 0.2), biases ~ N(0, 0.1)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=g)
            p.copy_(1 + 0.2 * r if "norm" in name else r * 0.1 if name.endswith("bias") else
                    r if "embed" in name else r / p.shape[-1] ** 0.5)


def build(tok, out, kind="qwen3", seed=0, prompts=PROMPTS):
    """A sentence-transformers folder: Transformer (random Qwen3Model / Qwen2Model / LlamaModel: hidden 48, 2 layers,
    4 query heads, 2 key/value heads, head_dim 16), Pooling lasttoken, Normalize, prompts; the tokenizer pads on the
    left -> (folder, sentence-transformers' model, the HF folder)."""
    from sentence_transformers import SentenceTransformer, models
    from transformers import (LlamaConfig, LlamaModel, PreTrainedTokenizerFast, Qwen2Config, Qwen2Model, Qwen3Config,
                              Qwen3Model)

    Config, Model = {"qwen3": (Qwen3Config, Qwen3Model), "qwen2": (Qwen2Config, Qwen2Model),
                     "llama": (LlamaConfig, LlamaModel)}[kind]
    config = Config(vocab_size=tok.get_vocab_size(), hidden_size=48, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, head_dim=16, intermediate_size=37, max_position_embeddings=64,
                    rope_theta=100.0, rms_norm_eps=1e-6, pad_token_id=0, bos_token_id=0, eos_token_id=0)
    if kind == "qwen2":
        config.hidden_size = 64  # Qwen2: head_dim = hidden_size / heads
    model = Model(config)
    randomize(model, seed)
    hf = out / "hf"
    model.save_pretrained(hf)
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=EOS, padding_side="left",
                            model_max_length=MAX).save_pretrained(hf)
    d = config.hidden_size
    mods = [models.Transformer(str(hf), max_seq_length=MAX), models.Pooling(d, pooling_mode="lasttoken"),
            models.Normalize()]
    st_model = SentenceTransformer(modules=mods, prompts=prompts, device="cpu")
    assert st_model.tokenizer.padding_side == "left"
    st_model.save(str(out / "st"))
    return out / "st", st_model, hf


def ours(folder, task=None, **options):
    from vectorize_cli.config import ModelConfig
    from vectorize_cli.encoder import Encoder

    enc = Encoder.open(str(folder), ModelConfig(**options))
    return enc.for_task(task) if task else enc


def check(folder, model, task=None, what="", texts=TEXTS, **options):
    """Ours against sentence-transformers: a batch padded to very different lengths with a text cut at MAX and an
    empty text, each text alone (batch invariance), batches of one."""
    enc = ours(folder, task, **options)
    ref = {None: model.encode, "query": model.encode_query, "document": model.encode_document}[task]
    e = enc.encode(texts)
    assert e.truncated[2] and not e.truncated[0], what  # a text at max length: cut, <|endoftext|> kept last
    same(e.vectors, ref(texts), what)
    alone = np.stack([enc.encode([t]).vectors[0] for t in texts])
    assert np.allclose(alone, e.vectors, atol=1e-6), what  # a vector does not depend on its batch
    same(enc.with_options(batch_size=1).encode(texts).vectors, e.vectors, what)
    return e.vectors
