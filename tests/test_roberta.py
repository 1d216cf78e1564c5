"""Issue 24, RoBERTa / XLM-RoBERTa family: tiny random RobertaModel and XLMRobertaModel (tokenizers trained here on
sample_inputs/english.txt: byte-level BPE, SentencePiece-like Unigram; <s> ... </s>), saved as sentence-transformers
folders, against sentence-transformers' encode (padding, max length, a batch of one, batch invariance) and against
transformers' own hidden states and attention weights layer by layer; numpy and torch; the CLI end to end."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from layerwise import against_transformers
from test_cli import invoke
from test_families import check, check_prefixed, check_search_cli, check_similarity_cli, one_line, ours, same

torch = pytest.importorskip("torch")
st = pytest.importorskip("sentence_transformers")

ROOT = Path(__file__).resolve().parents[1]
MAX = 24  # max_seq_length; the position table holds exactly pad+1+MAX rows: a text at max length reads the last
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # ids 0..4, XLM-R's order: <pad> 1, the padding index
TEXTS = ["A man is eating food.", "x", "The quick brown fox jumps over the lazy dog " * 8,  # cut at MAX tokens
         "Two words", "A longer sentence about cats and dogs, with some punctuation; and numbers 1 2 3."]
FAMILIES = ("roberta", "xlm-roberta")


def tokenizer(kind: str):
    """RoBERTa's byte-level BPE or XLM-R's Unigram over Metaspace (SentencePiece's layout), trained on english.txt;
    <s> $A </s> after (RobertaProcessing, or a template as XLM-R's tokenizer.json has)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    lines = (ROOT / "sample_inputs" / "english.txt").read_text(encoding="utf-8").splitlines()
    if kind == "roberta":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=SPECIALS,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    else:
        tok = Tokenizer(models.Unigram())
        tok.normalizer = normalizers.NFKC()
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.decoder = decoders.Metaspace()
        trainer = trainers.UnigramTrainer(vocab_size=300, special_tokens=SPECIALS, unk_token="<unk>")
    tok.train_from_iterator(lines, trainer)
    assert [tok.token_to_id(s) for s in SPECIALS] == list(range(5))
    if kind == "roberta":
        tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    else:
        tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 0),
                                                                                                ("</s>", 2)])
    return tok


@pytest.fixture(scope="module")
def tokenizers_():
    return {kind: tokenizer(kind) for kind in FAMILIES}


def build(tokenizers_, out, kind="roberta", mode="mean", seed=0):
    """A sentence-transformers folder: Transformer (random RobertaModel / XLMRobertaModel, hidden 32, 2 layers,
    4 heads, one token type), Pooling(mode), Normalize -> (folder, sentence-transformers' model, the HF folder)."""
    from sentence_transformers import SentenceTransformer, models
    from transformers import PreTrainedTokenizerFast, RobertaConfig, RobertaModel, XLMRobertaConfig, XLMRobertaModel

    tok = tokenizers_[kind]
    Config, Model = {"roberta": (RobertaConfig, RobertaModel), "xlm-roberta": (XLMRobertaConfig, XLMRobertaModel)}[kind]
    torch.manual_seed(seed)
    config = Config(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                    intermediate_size=37, max_position_embeddings=MAX + 2, type_vocab_size=1, pad_token_id=1,
                    bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5)
    hf = out / "hf"
    Model(config).save_pretrained(hf)
    PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                            pad_token="<pad>", mask_token="<mask>", cls_token="<s>", sep_token="</s>",
                            model_max_length=MAX).save_pretrained(hf)
    mods = [models.Transformer(str(hf), max_seq_length=MAX), models.Pooling(32, pooling_mode=mode),
            models.Normalize()]
    model = SentenceTransformer(modules=mods, device="cpu")
    model.save(str(out / "st"))
    return out / "st", model, hf


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("mode", ["mean", "cls"])
@pytest.mark.parametrize("kind", FAMILIES)
def test_against_sentence_transformers(tokenizers_, tmp_path, kind, mode, backend):
    folder, model, _ = build(tokenizers_, tmp_path, kind, mode)
    check(folder, model, what=f"{kind} {mode} {backend}", texts=TEXTS, backend=backend)
    assert ours(folder).model.folder.config.model_type == kind


@pytest.mark.parametrize("kind", FAMILIES)
def test_fresh_seed(tokenizers_, tmp_path, kind):
    seed = int.from_bytes(os.urandom(4), "little")
    folder, model, _ = build(tokenizers_, tmp_path, kind, ("mean", "cls")[seed % 2], seed=seed)
    check(folder, model, what=f"{kind}, seed {seed}", texts=TEXTS)
    odd = ["a <pad> in the text", "<pad>", "</s> <s>"]  # the padding id among real tokens: positions as transformers'
    same(ours(folder).encode(odd).vectors, model.encode(odd), f"{kind}, seed {seed}, <pad> in the text")


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("kind", FAMILIES)
def test_layer_by_layer_against_transformers(tokenizers_, tmp_path, kind, backend):
    """Every layer's output (hidden_states) and every head's weights (eager attentions) equal transformers' own,
    on a padded batch: the padding offset of the positions shows from the embeddings on."""
    from vectorize_cli.model.bert import forward, load

    seed = int.from_bytes(os.urandom(4), "little")
    folder, _, hf = build(tokenizers_, tmp_path, kind, seed=seed)
    mine, _, _ = against_transformers(forward, load(str(folder)), hf, TEXTS, backend, f"{kind} seed {seed}")
    assert len(mine) == 3


@pytest.mark.parametrize("kind", FAMILIES)
def test_trace_names_its_stages(tokenizers_, tmp_path, kind):
    folder, model, _ = build(tokenizers_, tmp_path, kind)
    t = ours(folder).trace(TEXTS[0])
    assert t.tokens[0] == "<s>" and t.tokens[-1] == "</s>"
    names = {s.key: s.title for s in t.stages}
    assert "offset by the padding index" in names["position_embedding"]
    assert t.stages[1].values.shape == (len(t.tokens), 32)
    same(np.array([t.sentence_vector], dtype=np.float32), model.encode(TEXTS[:1]))


def test_cli_end_to_end(tokenizers_, tmp_path):
    pytest.importorskip("pyarrow")
    folder, model, _ = build(tokenizers_, tmp_path, "xlm-roberta")
    r = invoke("run", TEXTS[0], "--model", str(folder))
    assert r.exit_code == 0 and "offset by the padding index" in r.stdout and "<s>" in r.stdout, r.stderr
    from test_model_cli import validate

    r = invoke("run", TEXTS[0], "--model", str(folder), "-F", "json")
    assert r.exit_code == 0, r.stderr
    rec = json.loads(r.stdout)
    validate(rec, "model-json-schema.json")
    assert rec["tokens"][0] == "<s>" and rec["model"]["pool"] == "mean"
    same(np.array([rec["sentence_vector"]], dtype=np.float32), model.encode(TEXTS[:1]))
    r = invoke("run", TEXTS[0], "--model", str(folder), "-F", "html", "-o", str(tmp_path / "page.html"))
    assert r.exit_code == 0 and "offset by the padding index" in (tmp_path / "page.html").read_text(), r.stderr
    check_similarity_cli(folder, model, *TEXTS[:2], tmp_path)
    docs = TEXTS[:2] + TEXTS[3:]
    check_search_cli(folder, model, docs, tmp_path)


def test_other_model_types_refused_by_name(tokenizers_, tmp_path):
    from vectorize_cli.model.bert import load

    folder, _, _ = build(tokenizers_, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    for model_type in ("deberta-v2", "gpt2", ["roberta"], {"a": 1}, None):
        (folder / "config.json").write_text(json.dumps({**config, "model_type": model_type}))
        load.cache_clear()
        r = invoke("run", "A text.", "--model", str(folder), "-F", "npy", "-o", str(tmp_path / "o.npy"))
        one_line(r, 1, "config.json", f"model_type {model_type!r} is not supported", "bert, roberta, xlm-roberta")
    (folder / "config.json").write_text(json.dumps({**config, "max_position_embeddings": 2}))  # pad 1: no row left
    load.cache_clear()
    r = invoke("run", "A text.", "--model", str(folder), "-F", "npy", "-o", str(tmp_path / "o.npy"))
    one_line(r, 1, "config.json", "leaves no room for tokens after the padding index 1")


def test_weights_under_the_roberta_prefix(tokenizers_, tmp_path):
    """A RobertaForMaskedLM-style file (roberta.embeddings..., lm_head...) reads as the base model."""
    folder, model, _ = build(tokenizers_, tmp_path, "roberta")
    check_prefixed(folder, model, "roberta", TEXTS)


def test_max_length_leaves_the_rows_before_the_padding_offset(tokenizers_, tmp_path):
    """max_seq_length past the table: cut to max_position_embeddings - pad - 1 tokens (MAX here), not an index
    error, the vectors those MAX tokens give."""
    from vectorize_cli.model.bert import load

    folder, model, _ = build(tokenizers_, tmp_path, "xlm-roberta")
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 100}))
    load.cache_clear()
    enc = ours(folder)
    assert enc.max_length == MAX
    same(enc.encode(TEXTS).vectors, model.encode(TEXTS), "clamped")
