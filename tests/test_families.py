"""Issue 24, BERT family: a sentence-transformers folder read in full (every Pooling mode, include_prompt, Dense
with its activation, Normalize), its prompts and --truncate-dim, each against sentence-transformers' own encode /
encode_query / encode_document on small random BERTs saved by sentence-transformers itself (fixed and fresh seeds);
embed + search end to end with a prompt model; every refusal as one line."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from test_cli import invoke

torch = pytest.importorskip("torch")
st = pytest.importorskip("sentence_transformers")

MODES = ("cls", "mean", "max", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")
PROMPTS = {"query": "query: ", "document": "passage: "}
MAX = 24  # max_seq_length of every model here
TEXTS = ["A man is eating food.", "x", "The quick brown fox jumps over the lazy dog " * 8,  # cut at MAX tokens
         "Two words", "A longer sentence about cats and dogs, with some punctuation; and numbers 1 2 3."]


@pytest.fixture(scope="module")
def bert_dir(minilm_path, tmp_path_factory):
    """A tiny BERT's tokenizer (minilm's WordPiece) and config, to be initialised per seed."""
    from transformers import AutoTokenizer

    path = tmp_path_factory.mktemp("tok")
    AutoTokenizer.from_pretrained(minilm_path).save_pretrained(path)
    return path


def build(bert_dir, out, mode="mean", dense=(), normalize=True, prompts=None, include_prompt=True, seed=0,
          default_prompt_name=None):
    """A sentence-transformers folder: Transformer (random BERT, hidden 32, 2 layers, 4 heads), Pooling(mode),
    Dense layers ((out, activation) each), Normalize; saved by sentence-transformers -> (folder, the model)."""
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=37, max_position_embeddings=64)
    hf = out / "hf"
    BertModel(config).save_pretrained(hf)
    for f in bert_dir.iterdir():
        (hf / f.name).write_bytes(f.read_bytes())
    mods, d = [models.Transformer(str(hf), max_seq_length=MAX),
               models.Pooling(32, pooling_mode=mode, include_prompt=include_prompt)], 32
    for n, act in dense:
        mods.append(models.Dense(d, n, activation_function=act))
        d = n
    mods += [models.Normalize()] if normalize else []
    model = SentenceTransformer(modules=mods, prompts=prompts, default_prompt_name=default_prompt_name, device="cpu")
    model.save(str(out / "st"))
    return out / "st", model


def ours(folder, task=None, **options):
    from vectorize_cli.config import ModelConfig
    from vectorize_cli.encoder import Encoder

    enc = Encoder.open(str(folder), ModelConfig(**options))
    return enc.for_task(task) if task else enc


def same(v, r, what=""):
    """Every row: cos >= 0.99999, float32, the same shape."""
    assert v.dtype == np.float32 and v.shape == r.shape, (what, v.shape, r.shape)
    cos = (v * r).sum(1) / np.linalg.norm(v, axis=1) / np.linalg.norm(r, axis=1)
    assert cos.min() >= 0.99999, (what, cos)
    assert np.allclose(v, r, atol=1e-5), (what, np.abs(v - r).max())


def check(folder, model, task=None, what="", texts=TEXTS, uncut=0, **options):
    """Ours against sentence-transformers (encode, or encode_query / encode_document for a task): the batch, padded
    to very different lengths with texts[2] cut at the model's maximum length (it reads the position table's last
    row, or keeps a decoder's last token) and texts[uncut] not cut, each text alone (batch invariance), batches of
    one. The family tests pass their own texts (an empty one, one of nothing but special tokens)."""
    enc = ours(folder, task, **options)
    ref = {None: model.encode, "query": model.encode_query, "document": model.encode_document}[task]
    kw = {"truncate_dim": options["truncate_dim"]} if "truncate_dim" in options else {}
    e = enc.encode(texts)
    assert e.truncated[2] and not e.truncated[uncut], what  # one text at max length, cut
    same(e.vectors, ref(texts, **kw), what)
    alone = np.stack([enc.encode([t]).vectors[0] for t in texts])
    assert np.allclose(alone, e.vectors, atol=1e-6), what  # a vector does not depend on its batch
    same(enc.with_options(batch_size=1).encode(texts).vectors, e.vectors, what)
    return e.vectors


@pytest.mark.parametrize("mode", MODES)
def test_each_pooling_mode(bert_dir, tmp_path, mode):
    # no Normalize where it would hide a scale (mean_sqrt_len is mean times sqrt(n)); max's signs show both ways
    folder, model = build(bert_dir, tmp_path, mode, normalize=mode not in ("max", "mean_sqrt_len_tokens"))
    check(folder, model, what=mode)
    assert ours(folder).model.folder.pool == {"cls": "first", "mean_sqrt_len_tokens": "mean_sqrt_len"}.get(mode, mode)


def test_dense_two_activations_chained(bert_dir, tmp_path):
    folder, model = build(bert_dir, tmp_path, "mean", dense=((24, torch.nn.Tanh()), (16, torch.nn.Identity())))
    assert ours(folder).d == 16
    v = check(folder, model, what="tanh then identity")
    same(ours(folder, backend="torch").encode(TEXTS).vectors, v, "torch")  # the Dense on torch's tensors


@pytest.mark.parametrize("act", ["GELU", "ReLU"])
def test_dense_without_normalize(bert_dir, tmp_path, act):
    folder, model = build(bert_dir, tmp_path, "cls", dense=((20, getattr(torch.nn, act)()),), normalize=False)
    check(folder, model, what=act)


def test_fresh_seeds(bert_dir, tmp_path):
    seed = int.from_bytes(os.urandom(4), "little")
    rng = np.random.default_rng(seed)
    mode = MODES[rng.integers(len(MODES))]
    folder, model = build(bert_dir, tmp_path, mode, dense=((12, torch.nn.Tanh()),), seed=seed, prompts=PROMPTS,
                          include_prompt=bool(rng.integers(2)))
    for task in (None, "query", "document"):
        check(folder, model, task, what=f"seed {seed}, {mode}, {task}")


@pytest.mark.parametrize("mode", ["mean", "cls", "weightedmean", "lasttoken"])
def test_prompts_and_include_prompt(bert_dir, tmp_path, mode):
    """encode_query / encode_document pick the model's prompts; include_prompt false pools the text alone."""
    folder, model = build(bert_dir, tmp_path, mode, prompts=PROMPTS, include_prompt=False)
    q = check(folder, model, "query", what=mode)
    d = check(folder, model, "document", what=mode)
    plain = check(folder, model, what=mode)
    assert not np.allclose(q, d) and not np.allclose(q, plain)  # the prompts do change the vectors
    assert ours(folder, "query").skip == 3  # [CLS] query : -- its [SEP] not counted
    t = ours(folder, "query").trace(TEXTS[0])  # one sentence, stage by stage: the same vector
    assert t.tokens[:3] == ["[CLS]", "query", ":"] and np.allclose(t.sentence_vector, q[0], atol=1e-5)
    # --prompt TEXT and --prompt-name NAME, as encode(prompt=) and encode(prompt_name=)
    same(ours(folder, prompt="passage: ").encode(TEXTS).vectors, model.encode(TEXTS, prompt="passage: "))
    same(ours(folder, "query", prompt_name="document").encode(TEXTS).vectors, d)


def test_default_prompt_name(bert_dir, tmp_path):
    folder, model = build(bert_dir, tmp_path, prompts=PROMPTS, default_prompt_name="query", include_prompt=False)
    check(folder, model, what="default prompt")
    assert ours(folder).record()["prompt"] == "query: "


@pytest.mark.parametrize("normalize", [True, False])
def test_truncate_dim(bert_dir, tmp_path, normalize):
    """The first N dimensions after every module, not normalised again: sentence-transformers' truncate_dim."""
    folder, model = build(bert_dir, tmp_path, "mean", dense=((24, torch.nn.Tanh()),), normalize=normalize)
    v = check(folder, model, truncate_dim=8, what=f"normalize {normalize}")
    assert v.shape == (len(TEXTS), 8) and ours(folder, truncate_dim=8).d == 8
    full = ours(folder).encode(TEXTS).vectors
    assert np.array_equal(v, full[:, :8])
    assert ours(folder, truncate_dim=8).record()["truncate_dim"] == 8


def test_cli_options(bert_dir, tmp_path):
    folder, model = build(bert_dir, tmp_path, "mean", prompts=PROMPTS, include_prompt=False)
    out = tmp_path / "v.npy"
    r = invoke("run", "-", "--model", str(folder), "-F", "npy", "--prompt-name", "query", "--truncate-dim", "16",
               "-o", str(out), input="\n".join(TEXTS[:2]) + "\n")
    assert r.exit_code == 0, r.stderr
    same(np.load(out), model.encode_query(TEXTS[:2], truncate_dim=16))
    r = invoke("similarity", *TEXTS[:2], "--model", str(folder), "--prompt", "passage: ", "-F", "npy",
               "-o", str(tmp_path / "s.npy"))
    assert r.exit_code == 0, r.stderr
    v = model.encode(TEXTS[:2], prompt="passage: ")
    assert abs(np.load(tmp_path / "s.npy")[0, 1] - float(v[0] @ v[1])) < 1e-5


def test_json_record_of_a_new_pooling(bert_dir, tmp_path):
    from test_model_cli import validate

    folder, model = build(bert_dir, tmp_path, "lasttoken", dense=((16, torch.nn.Tanh()),), prompts=PROMPTS)
    r = invoke("run", "A cat.", "--model", str(folder), "-F", "json", "--prompt-name", "query", "--truncate-dim", "8")
    assert r.exit_code == 0, r.stderr
    rec = json.loads(r.stdout)
    validate(rec, "model-json-schema.json")
    assert rec["model"]["pool"] == "lasttoken"
    same(np.array([rec["sentence_vector"]], dtype=np.float32), model.encode_query(["A cat."], truncate_dim=8))


def embed_lines(folder, lines: list[str], tmp_path, *options) -> Path:
    """`vectorize embed docs.txt -o ds -m FOLDER` over these lines (written to tmp_path/docs.txt) -> the dataset."""
    (tmp_path / "docs.txt").write_text("\n".join(lines) + "\n")
    r = invoke("embed", str(tmp_path / "docs.txt"), "-o", str(tmp_path / "ds"), "-m", str(folder), *options)
    assert r.exit_code == 0, r.stderr
    return tmp_path / "ds"


def check_similarity_cli(folder, model, a: str, b: str, tmp_path) -> None:
    """`vectorize similarity A B -m FOLDER -F npy`: the pair's cosine is sentence-transformers' (normalized vectors)."""
    r = invoke("similarity", a, b, "--model", str(folder), "-F", "npy", "-o", str(tmp_path / "s.npy"))
    assert r.exit_code == 0, r.stderr
    v = model.encode([a, b])
    assert abs(np.load(tmp_path / "s.npy")[0, 1] - float(v[0] @ v[1])) < 1e-5


def check_search_cli(folder, model, docs: list[str], tmp_path, query: str = "a man eating") -> None:
    """`vectorize embed` of these lines, then `vectorize search QUERY`: every row's score is the cosine of
    sentence-transformers' vectors (a model without prompts: encode for both sides)."""
    embed_lines(folder, docs, tmp_path)
    got = search_scores(tmp_path / "ds", query, len(docs))
    d, q = model.encode(docs), model.encode([query])[0]
    assert np.allclose(got, d @ q, atol=1e-5), (got, d @ q)


def check_prefixed(folder, model, prefix: str, texts: list[str]) -> None:
    """The folder's weights rewritten as a *ForMaskedLM file saves them (every name under `prefix.`, an lm_head
    beside): they read as the base model, sentence-transformers' vectors."""
    from safetensors.numpy import load_file, save_file

    from vectorize_cli.model.bert import load

    path = folder / "model.safetensors"
    tensors = load_file(path)
    save_file({**{f"{prefix}.{k}": v for k, v in tensors.items()}, "lm_head.bias": np.zeros(3, np.float32)}, path)
    load.cache_clear()
    same(ours(folder).encode(texts).vectors, model.encode(texts), f"prefixed {prefix}")


def search_scores(dataset, query: str, n: int, *options) -> np.ndarray:
    """`vectorize search QUERY -D DATASET -k n -F json` over a dataset of n rows -> (n,) the score of each row, by id."""
    r = invoke("search", query, "-D", str(dataset), "-k", str(n), "-F", "json", *options)
    assert r.exit_code == 0, r.stderr
    hits = json.loads(r.stdout)["hits"] if r.stdout.lstrip().startswith("{") else json.loads(r.stdout)[0]["hits"]
    got = {h["id"]: h["score"] for h in hits}
    return np.array([got[i] for i in range(n)])


def one_line(r, code, *words):
    assert r.exit_code == code, (r.exit_code, r.stdout, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    for w in words:
        assert w in r.stderr, r.stderr


def test_refusals(bert_dir, tmp_path):
    from vectorize_cli.model.bert import load

    folder, _ = build(bert_dir, tmp_path, "mean", dense=((16, torch.nn.Tanh()),), prompts=PROMPTS)

    def run(*more):
        load.cache_clear()  # the folder changes under the same name: read it again
        return invoke("run", "A text.", "--model", str(folder), "-F", "npy", "-o", str(tmp_path / "o.npy"), *more)

    one_line(run("--prompt-name", "nope"), 2, "--prompt-name nope", "document, query")
    one_line(run("--truncate-dim", "17"), 2, "--truncate-dim 17", "16-d")
    one_line(run("--prompt", "a", "--prompt-name", "query"), 2, "not both")
    one_line(invoke("run", "A text.", "--prompt", "a"), 2, "--prompt applies with --model")
    one_line(invoke("explain", "A cat.", "A dog.", "--model", str(folder)), 2, "explain", "Dense")
    modules = json.loads((folder / "modules.json").read_text())
    (folder / "modules.json").write_text(json.dumps(modules + [{"idx": 9, "name": "9", "path": "",
                                                                "type": "sentence_transformers.models.LSTM"}]))
    one_line(run(), 1, "modules.json", "'sentence_transformers.models.LSTM' is not supported")
    (folder / "modules.json").write_text(json.dumps(modules + [{"type": "my_package.Dense"}]))  # not ST's Dense
    one_line(run(), 1, "'my_package.Dense' is not supported")
    (folder / "modules.json").write_text(json.dumps(modules))
    dense = folder / "2_Dense"
    config = json.loads((dense / "config.json").read_text())
    silu = "torch.nn.modules.activation.SiLU"
    (dense / "config.json").write_text(json.dumps({**config, "activation_function": silu}))
    one_line(run(), 1, "2_Dense/config.json", "SiLU", "not supported")
    (dense / "config.json").write_text(json.dumps(config))
    (dense / "model.safetensors").rename(dense / "pytorch_model.bin")
    one_line(run(), 1, "2_Dense/model.safetensors", "pickle")
    pooling = folder / "1_Pooling" / "config.json"
    pooling.write_text(json.dumps({"embedding_dimension": 32, "pooling_mode": ["mean", "max"]}))
    one_line(run(), 1, "1_Pooling/config.json", "mean + max", "not supported")


def test_embed_then_search_use_the_document_and_query_prompts(bert_dir, tmp_path):
    pytest.importorskip("pyarrow")
    from vectorize_cli.dataset.reader import open_dataset

    folder, model = build(bert_dir, tmp_path, "mean", prompts=PROMPTS, include_prompt=False)
    docs = TEXTS[:2] + TEXTS[3:]
    embed_lines(folder, docs, tmp_path, "--truncate-dim", "24")
    meta = open_dataset(tmp_path / "ds").meta
    assert (meta["prompt_name"], meta["prompt"], meta["truncate_dim"]) == ("document", "passage: ", 24)
    for other, word in ((["--truncate-dim", "16"], "truncate_dim"),
                        (["--truncate-dim", "24", "--prompt", "q: "], "prompt")):
        r = invoke("embed", str(tmp_path / "docs.txt"), "-o", str(tmp_path / "ds"), "--model", str(folder),
                   "--resume", *other)  # resuming with other vectors: refused
        one_line(r, 2, "--resume", word)
    query = "a man eating"
    got = search_scores(tmp_path / "ds", query, len(docs))
    d = model.encode_document(docs, truncate_dim=24)
    q = model.encode_query([query], truncate_dim=24)[0]
    want = d @ q / np.linalg.norm(d, axis=1) / np.linalg.norm(q)  # cosines
    assert np.allclose(got, want, atol=1e-5), (got, want)
    plain = model.encode([query], truncate_dim=24)[0]  # without the query prompt the scores differ
    assert not np.allclose(d @ plain / np.linalg.norm(d, axis=1) / np.linalg.norm(plain), want, atol=1e-5)
    for option, encoded in ((["--prompt", "custom: "], model.encode([query], prompt="custom: ", truncate_dim=24)[0]),
                            (["--prompt-name", "document"], model.encode_document([query], truncate_dim=24)[0])):
        got = search_scores(tmp_path / "ds", query, len(docs), *option)  # a query's own prompt, asked for,
        want = d @ encoded / np.linalg.norm(d, axis=1) / np.linalg.norm(encoded)  # replaces the model's query prompt
        assert np.allclose(got, want, atol=1e-5), (option, got, want)
