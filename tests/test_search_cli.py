"""`vectorize search` and `vectorize index` end to end: a dataset of all-MiniLM-L6-v2 vectors of sample
sentences, searched through the CLI and compared with sentence-transformers' util.semantic_search on the
same stored vectors with the query embedded by sentence-transformers itself; and every refusal as one line."""

import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("pyarrow", reason="pip install 'vectorize-cli[search]'")

from conftest import SAMPLES  # noqa: E402
from corpus_fixtures import minilm_meta, unit_vectors, write_dataset  # noqa: E402
from test_cli import invoke  # noqa: E402

QUERIES = ["Where do I go to play games?", "I love the taste of green tea."]


@pytest.fixture(scope="module")
def corpus(minilm, tmp_path_factory):
    """The first 600 lines of sentences-10k.txt with their MiniLM vectors, as `vectorize embed` stores them."""
    from vectorize_cli.pipelines.bert import encode

    texts = (SAMPLES / "sentences-10k.txt").read_text(encoding="utf-8").splitlines()[:600]
    vectors, _ = encode(minilm, texts)
    path = write_dataset(tmp_path_factory.mktemp("corpus") / "ds", vectors, "float32", model=minilm_meta(),
                         texts=texts, part_rows=250, group_rows=100)
    return path, texts, vectors


def search(*args, input=None):
    r = invoke("search", *args, input=input)
    assert r.exit_code == 0, (r.stdout, r.stderr)
    return r.stdout


@pytest.mark.parametrize("how", ["argument", "file", "stdin"])
def test_hits_equal_sentence_transformers_semantic_search(corpus, reference, tmp_path, how):
    from sentence_transformers import util

    path, texts, vectors = corpus
    if how == "argument":
        args, stdin = QUERIES, None
    elif how == "file":
        (tmp_path / "q.txt").write_text("\n".join(QUERIES) + "\n", encoding="utf-8")
        args, stdin = ["--file", str(tmp_path / "q.txt")], None
    else:
        args, stdin = ["-"], "\n".join(QUERIES) + "\n"
    out = json.loads(search(*args, "--dataset", str(path), "-k", "7", "--format", "json", input=stdin))
    q = reference.encode(QUERIES, convert_to_tensor=True)
    import torch

    ref = util.semantic_search(q, torch.from_numpy(vectors), top_k=7)
    assert [r["query"] for r in out] == QUERIES
    for qi, (rec, hits) in enumerate(zip(out, ref)):
        # the same ids, in the same order but among near-equals: the corpus repeats sentences ("See you at 5."
        # lines 13 and 25), whose vectors differ by 1e-8, less than the two query vectors do
        ids = [h["id"] for h in rec["hits"]]
        assert sorted(ids) == sorted(h["corpus_id"] for h in hits)
        st_scores = vectors[ids].astype(np.float64) @ q[qi].numpy().astype(np.float64)  # ours, by ST's query
        np.testing.assert_allclose(st_scores, [h["score"] for h in hits], atol=1e-6)
        np.testing.assert_allclose([h["score"] for h in rec["hits"]], [h["score"] for h in hits], atol=1e-5)
        for h in rec["hits"]:
            assert h["text"] == texts[h["id"]] and h["source"] == "corpus.txt" and h["line"] == h["id"] + 1


def test_jsonl_one_line_per_query_and_one_object_for_one_query(corpus):
    path = str(corpus[0])
    lines = search("-", "-D", path, "-k", "3", "-F", "jsonl", input="\n".join(QUERIES) + "\n").splitlines()
    assert [json.loads(line)["query"] for line in lines] == QUERIES
    assert all(len(json.loads(line)["hits"]) == 3 for line in lines)
    one = json.loads(search(QUERIES[0], "-D", path, "-k", "2", "-F", "json"))
    assert one["query"] == QUERIES[0] and len(one["hits"]) == 2


def test_table_shows_the_best_hit(corpus):
    path, texts, _ = corpus
    best = json.loads(search(QUERIES[1], "-D", str(path), "-k", "1", "-F", "json"))["hits"][0]
    table = search(QUERIES[1], "-D", str(path), "-k", "3")
    assert texts[best["id"]][:40] in table and "exact, float32" in table


def test_ann_through_the_cli(corpus, tmp_path):
    pytest.importorskip("usearch", reason="pip install 'vectorize-cli[search]'")
    import shutil

    path = tmp_path / "ds"
    shutil.copytree(corpus[0], path)
    r = invoke("index", str(path))
    assert r.exit_code == 0 and "600 vectors" in r.stderr
    ann = json.loads(search(*QUERIES, "-D", str(path), "-k", "5", "--ann", "-F", "json"))
    exact = json.loads(search(*QUERIES, "-D", str(path), "-k", "5", "-F", "json"))
    for a, e in zip(ann, exact):  # 600 rows: the graph finds the best, up to which of equal sentences it hits
        np.testing.assert_allclose([h["score"] for h in a["hits"]], [h["score"] for h in e["hits"]], atol=1e-6)
        assert a["hits"][0] == e["hits"][0]


def one_line_error(r, code: int, message: str) -> None:
    assert r.exit_code == code, (r.stdout, r.stderr)
    assert r.stderr.startswith("vectorize: error: ") and r.stderr.count("\n") == 1, r.stderr
    assert message in r.stderr and r.stdout == ""


def test_errors_are_one_line(corpus, tmp_path, rng):
    path = str(corpus[0])
    one_line_error(invoke("search", "hi", "--dataset", str(tmp_path / "nope")), 1,
                   f"dataset {tmp_path / 'nope'}: no such directory")
    one_line_error(invoke("search", "hi"), 2, "give --dataset DIR")
    one_line_error(invoke("search", "  ", "-D", path), 2, "query 1 is blank")
    one_line_error(invoke("search", "-", "-D", path, input="\n \n"), 2, "no text: the input is empty or blank")
    one_line_error(invoke("search", "hi", "-D", path, "--rescore", "2"), 2, "--rescore applies to binary")
    one_line_error(invoke("search", "hi", "-D", path, "-k", "0"), 2, "-k")
    one_line_error(invoke("search", "hi", "-D", path, "--ann"), 1,
                   f"dataset {path}: no HNSW index file {path}/_index.usearch")
    one_line_error(invoke("search", "hi", "-D", path, "--ann", "--ef", "5"), 2, "--ef 5 is below the 10")
    partial = write_dataset(tmp_path / "partial", unit_vectors(rng, 20, 384), model=minilm_meta(), success=False)
    one_line_error(invoke("search", "hi", "-D", str(partial)), 1, f"dataset {partial} is partial")
    other = write_dataset(tmp_path / "other", unit_vectors(rng, 20, 384))  # another model's sha256
    one_line_error(invoke("search", "hi", "-D", str(other)), 1, "is not the model")
    one_line_error(invoke("index", str(tmp_path / "nope")), 1, f"dataset {tmp_path / 'nope'}: no such directory")


def test_stale_index_refused(corpus, tmp_path):
    pytest.importorskip("usearch", reason="pip install 'vectorize-cli[search]'")
    path = tmp_path / "ds"
    _, texts, vectors = corpus
    write_dataset(path, vectors[:100], model=minilm_meta(), texts=texts[:100])
    assert invoke("index", str(path)).exit_code == 0
    write_dataset(path, vectors[:120], model=minilm_meta(), texts=texts[:120])  # re-embedded, bigger
    one_line_error(invoke("search", "hi", "-D", str(path), "--ann"), 1, f"index file {path}/_index.usearch is stale")


def test_index_is_the_deprecated_name_of_dataset_with_a_note(corpus, tmp_path):
    path = str(corpus[0])
    want = search(QUERIES[0], "--dataset", path, "-k", "2", "-F", "json")
    for old in ("--index", "-i"):
        r = invoke("search", QUERIES[0], old, path, "-k", "2", "-F", "json")
        assert r.exit_code == 0 and r.stdout == want, r.stderr
        assert r.stderr == ("vectorize: note: --index/-i is deprecated and will be removed in the next release: "
                            "use --dataset/-D\n")
    one_line_error(invoke("search", "hi", "-D", path, "-i", path), 2, "give --dataset, not both --dataset and --index")
    assert "--index" not in invoke("search", "--help").stdout  # hidden


def test_output_file_and_force(corpus, tmp_path):
    out = tmp_path / "hits.jsonl"
    r = invoke("search", QUERIES[0], "-D", str(corpus[0]), "-k", "2", "-F", "jsonl", "-o", str(out))
    assert r.exit_code == 0 and r.stdout == "" and len(json.loads(out.read_text())["hits"]) == 2, r.stderr
    one_line_error(invoke("search", "hi", "-D", str(corpus[0]), "-o", str(out)), 2, "exists; add --force")
    r = invoke("search", QUERIES[1], "-D", str(corpus[0]), "-k", "3", "-F", "jsonl", "-o", str(out), "--force")
    assert r.exit_code == 0 and json.loads(out.read_text())["query"] == QUERIES[1]


def test_closed_pipe_is_quiet(corpus):
    r = subprocess.run(f"{sys.executable} -m vectorize_cli search - -D {corpus[0]} -F jsonl -k 50 | head -c 10",
                       shell=True, input=("tea\n" * 400).encode(), capture_output=True, timeout=300)
    assert r.stderr == b"" and len(r.stdout) == 10


def test_ef_reaches_the_loaded_index(minilm, tmp_path, rng):
    """--ef is the loaded graph's search breadth: on a poor graph (M 2, efConstruction 4) over vectors uniform on the
    sphere (every distance alike), --ef 10 misses most hits that --ef 4000 finds. Were --ef dropped when the index is
    loaded, both would search at one breadth and find the same."""
    pytest.importorskip("usearch")
    x = unit_vectors(rng, 4000, 384)
    path = write_dataset(tmp_path / "ds", x, "float32", model=minilm_meta(), group_rows=1000)
    r = invoke("index", str(path), "--connectivity", "2", "--expansion-add", "4")
    assert r.exit_code == 0, r.stderr
    (tmp_path / "q.txt").write_text("\n".join(f"query {i} about {w}" for i, w in enumerate(
        ["cats", "tea", "trains", "rain", "music", "games", "bread", "rivers"] * 4)) + "\n", encoding="utf-8")

    def ids(*args) -> list[list[int]]:
        out = search("-f", str(tmp_path / "q.txt"), "-D", str(path), "-k", "10", "-F", "jsonl", *args)
        return [[h["id"] for h in json.loads(line)["hits"]] for line in out.splitlines()]

    def recall(found) -> float:
        return np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, exact)])

    exact = ids()
    narrow, wide = recall(ids("--ann", "--ef", "10")), recall(ids("--ann", "--ef", "4000"))
    assert wide > narrow + 0.3, (narrow, wide)  # measured: 0.003 and 0.72 (a graph this poor is not connected)
