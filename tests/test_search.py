"""vectorize_cli.search as a library: exact search against a float64 brute force (the same ids in the same
order, scores to 1e-6, ties broken by id), binary rescoring against sentence-transformers' own
semantic_search_usearch, the HNSW path's recall, and the datasets it refuses."""

import json

import numpy as np
import pytest

pytest.importorskip("pyarrow", reason="pip install 'vectorize-cli[search]'")

from corpus_fixtures import clustered_vectors, quantize, st_quantization, unit_vectors, write_dataset  # noqa: E402
from vectorize_cli.errors import UsageError, VectorizeError  # noqa: E402
from vectorize_cli.search import exact  # noqa: E402
from vectorize_cli.dataset.reader import open_dataset  # noqa: E402
from vectorize_cli.search.topk import best  # noqa: E402

PRECISIONS = ["float32", "int8", "uint8", "binary", "ubinary"]


def reference_floats(stored: np.ndarray, precision: str, ranges: np.ndarray | None, d: int) -> np.ndarray:
    """The stored rows as float64, written from sentence-transformers' _dequantize_embeddings and
    np.unpackbits, independently of vectors.py."""
    if precision == "float32":
        return stored.astype(np.float64)
    if precision in ("int8", "uint8"):
        dequantize = getattr(st_quantization(), "_dequantize_embeddings", None)
        if dequantize is None:
            pytest.skip("this sentence-transformers has no _dequantize_embeddings (added with int8 rescoring)")
        return dequantize(stored, precision, ranges).astype(np.float64)
    raw = stored.astype(np.int16) + 128 if precision == "binary" else stored.astype(np.int16)
    bits = np.unpackbits(raw.astype(np.uint8), axis=1)[:, :d]
    return bits * 2.0 - 1.0


def brute_force(q: np.ndarray, x: np.ndarray, k: int, precision: str) -> tuple[np.ndarray, np.ndarray]:
    """float64 cosine of every pair, sorted by (-score, id): (ids (Q, k), scores (Q, k))."""
    q = q.astype(np.float64)
    if precision in ("binary", "ubinary"):
        q = np.where(q > 0, 1.0, -1.0)  # then q . x is an exact integer: equal distances tie exactly
    distinct, which = np.unique(x, axis=0, return_inverse=True)  # equal rows get one score, not two roundings
    norm = np.linalg.norm(distinct, axis=1)
    s = (q @ distinct.T) / np.linalg.norm(q, axis=1, keepdims=True) / np.where(norm > 0, norm, 1)
    s = s[:, which.ravel()]  # (Q, N)
    ids = np.arange(x.shape[0])
    order = np.array([np.lexsort((ids, -row))[:k] for row in s])
    return order, np.take_along_axis(s, order, axis=1)


def stored_of(ds_path, n_cols=None):
    import pyarrow.parquet as pq

    t = pq.read_table(ds_path, columns=["id", "vector"])
    return np.asarray(t.column("vector").combine_chunks().flatten()).reshape(t.num_rows, -1)


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("fresh", [False, True], ids=["fixed", "fresh"])
def test_exact_equals_a_float64_brute_force(tmp_path, rng, precision, fresh):
    g = rng if fresh else np.random.default_rng(7)
    d = int(g.choice([384, 61])) if fresh else 384  # 61: packed bits with padding
    x = unit_vectors(g, 2500, d)
    q = unit_vectors(g, 7, d)
    ds = open_dataset(write_dataset(tmp_path / "ds", x, precision, part_rows=900, group_rows=300))
    assert len(ds.blocks) == 9
    top = exact.exact_search(ds, q, 10)
    ref_ids, ref_scores = brute_force(q, reference_floats(stored_of(tmp_path / "ds"), precision, ds.ranges, d),
                                      10, precision)
    np.testing.assert_array_equal(top.ids, ref_ids)
    np.testing.assert_allclose(top.scores, ref_scores, atol=1e-6, rtol=0)


@pytest.mark.parametrize("precision", ["float32", "int8", "binary"])
@pytest.mark.parametrize("fresh", [False, True], ids=["fixed", "fresh"])
@pytest.mark.parametrize("Q", [1, 200])
def test_a_query_whose_hits_all_sit_in_one_block(tmp_path, rng, precision, fresh, Q):
    """Clusters stored one per block, each query near a cluster's centre: its k best (k below the block's rows) are
    all of one block, so a block that lost a single candidate (its k-th, or its best) changes the answer. At most
    200 queries: one query chunk (exact.QUERY_CHUNK), no crash to give a bug away; one query alone has as many
    candidates as hits (no other query's near-ties widen them)."""
    g = rng if fresh else np.random.default_rng(11)
    d, C, B = int(g.choice([48, 64])), 6, 96
    centers = unit_vectors(g, C, d)
    x = np.vstack([clustered_vectors(g, B, d, centers[c : c + 1], noise=0.3) for c in range(C)])  # block c: cluster c
    q = clustered_vectors(g, Q, d, centers, noise=0.05)
    ds = open_dataset(write_dataset(tmp_path / "ds", x, precision, part_rows=2 * B, group_rows=B))
    assert len(ds.blocks) == C
    k = int(g.integers(20, B))  # at most B - 1: the block has more rows than are asked for
    top = exact.exact_search(ds, q, k)
    order, scores = brute_force(q, reference_floats(stored_of(tmp_path / "ds"), precision, ds.ranges, d), len(x),
                                precision)  # (Q, N): every row, best first
    assert (order[:, :k] // B == order[:, :1] // B).mean() > 0.9  # nearly every query's k best: one block
    every = np.empty_like(scores)
    np.put_along_axis(every, order, scores, axis=1)  # (Q, N) by id
    assert top.ids.shape == (len(q), k) and all(len(set(row)) == k for row in top.ids)
    mine = np.take_along_axis(every, top.ids, axis=1)  # the reference's score of each hit returned
    np.testing.assert_allclose(top.scores, mine, atol=1e-6, rtol=0)
    # the k best by the reference: only rows whose scores are equal to 1e-6 (a cluster's close rows) may swap
    assert (mine.min(axis=1) >= scores[:, k - 1] - 1e-6).all()


@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_equal_vectors_tie_and_fall_to_the_id(tmp_path, rng, precision):
    """40 distinct vectors over 3000 rows: every score is shared, and the order among equals is the id's."""
    d = 384
    distinct = unit_vectors(rng, 40, d)
    x = distinct[rng.integers(0, 40, 3000)]
    q = np.vstack([unit_vectors(rng, 5, d), distinct[:2]])  # two queries equal to corpus vectors
    ds = open_dataset(write_dataset(tmp_path / "ds", x, precision, part_rows=1000, group_rows=256))
    top = exact.exact_search(ds, q, 150)
    ref_ids, ref_scores = brute_force(q, reference_floats(stored_of(tmp_path / "ds"), precision, ds.ranges, d),
                                      150, precision)
    np.testing.assert_array_equal(top.ids, ref_ids)
    np.testing.assert_allclose(top.scores, ref_scores, atol=1e-6, rtol=0)
    same = top.scores[:, 1:] == top.scores[:, :-1]
    assert same.sum() > 100 and (top.ids[:, 1:][same] > top.ids[:, :-1][same]).all()


def test_threads_and_one_thread_agree(tmp_path, rng):
    x, q = unit_vectors(rng, 3000, 32), unit_vectors(rng, 300, 32)  # 300 queries: two query chunks
    ds = open_dataset(write_dataset(tmp_path / "ds", x, "float32", group_rows=200))
    a, b = exact.exact_search(ds, q, 5, threads=True), exact.exact_search(ds, q, 5, threads=False)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.scores, b.scores)


def test_k_beyond_the_rows_gives_every_row(tmp_path, rng):
    x = unit_vectors(rng, 12, 16)
    ds = open_dataset(write_dataset(tmp_path / "ds", x, group_rows=5))
    top = exact.exact_search(ds, unit_vectors(rng, 2, 16), 50)
    assert top.ids.shape == (2, 12) and sorted(top.ids[0]) == list(range(12))


def test_best_orders_by_score_then_id(rng):
    s = rng.integers(0, 6, (40, 500)).astype(np.float32)  # many ties
    ids = np.broadcast_to(rng.permutation(500), s.shape)
    for k in (1, 7, 499, 500, 600):
        at = best(s, ids, k)
        ref = np.array([np.lexsort((ids[i], -s[i]))[:k] for i in range(40)])
        np.testing.assert_array_equal(np.take_along_axis(ids, at, 1), np.take_along_axis(ids, ref, 1))


def hamming(q: np.ndarray, packed_u8: np.ndarray) -> np.ndarray:
    qb = np.packbits(q > 0, axis=1)
    return np.array([np.unpackbits(np.bitwise_xor(row, packed_u8), axis=1).sum(1) for row in qb])  # (Q, N)


@pytest.mark.parametrize("fresh", [False, True], ids=["fixed", "fresh"])
def test_binary_rescoring_equals_sentence_transformers(tmp_path, rng, fresh):
    """semantic_search_usearch(corpus_precision="binary", rescore_multiplier=N, exact=True) on the same
    quantized rows and the same float queries: the same hits and scores, wherever its candidate set is
    unambiguous (no Hamming tie at the N*k-th candidate, which it breaks its own way). Every query is
    checked against a float64 brute force with ties broken by id."""
    usearch = pytest.importorskip("usearch", reason="pip install 'vectorize-cli[search]'")  # noqa: F841
    semantic_search_usearch = st_quantization().semantic_search_usearch
    g = rng if fresh else np.random.default_rng(3)
    d, k, n = 384, 5, 2  # a short candidate list: fewer Hamming ties at its end
    centers = unit_vectors(g, 50, d)
    x = clustered_vectors(g, 4000, d, centers)
    q = clustered_vectors(g, 100, d, centers)
    ds = open_dataset(write_dataset(tmp_path / "ds", x, "binary", group_rows=1000))
    top = exact.exact_search(ds, q, k, rescore=n)

    stored = quantize(x, "binary")
    ref, _ = semantic_search_usearch(q, corpus_embeddings=stored, corpus_precision="binary", top_k=k,
                                     rescore=True, rescore_multiplier=n, exact=True)
    h = hamming(q, (stored.astype(np.int16) + 128).astype(np.uint8))  # (Q, N)
    bits = np.unpackbits((stored.astype(np.int16) + 128).astype(np.uint8), axis=1)[:, :d].astype(np.float64)
    checked = 0
    for i in range(len(q)):
        order = np.lexsort((np.arange(len(x)), h[i]))  # by distance, then id
        cand = order[: n * k]
        s = bits[cand] @ q[i].astype(np.float64)
        mine = cand[np.lexsort((cand, -s))[:k]]
        np.testing.assert_array_equal(top.ids[i], mine)
        # q . bits is no cosine: about 7 here, so float32's own rounding is 5e-7 of it
        np.testing.assert_allclose(top.scores[i], np.sort(s)[::-1][:k], atol=1e-6, rtol=1e-6)
        if h[i][order[n * k - 1]] != h[i][order[n * k]]:  # sentence-transformers' candidates are these too
            checked += 1
            assert [r["corpus_id"] for r in ref[i]] == top.ids[i].tolist()
            np.testing.assert_allclose([r["score"] for r in ref[i]], top.scores[i], atol=1e-6, rtol=1e-6)
    assert checked >= 10, f"only {checked} queries had an unambiguous candidate set"


def test_rescore_only_for_binary(tmp_path, rng):
    ds = open_dataset(write_dataset(tmp_path / "ds", unit_vectors(rng, 10, 8), "int8"))
    with pytest.raises(UsageError, match="--rescore applies to binary"):
        exact.exact_search(ds, unit_vectors(rng, 1, 8), 3, rescore=2)


def test_ann_recall_and_stale_index(tmp_path, rng):
    pytest.importorskip("usearch", reason="pip install 'vectorize-cli[search]'")
    from vectorize_cli.search import ann

    d = 64
    centers = unit_vectors(rng, 100, d)
    x, q = clustered_vectors(rng, 3000, d, centers), clustered_vectors(rng, 100, d, centers)
    path = write_dataset(tmp_path / "ds", x, "float32", group_rows=1000)
    ds = open_dataset(path)
    with pytest.raises(VectorizeError, match="no HNSW index"):
        ann.load_index(ds, 64)
    ann.build_index(ds)
    truth = exact.exact_search(ds, q, 10)
    top = ann.ann_search(ds, ann.load_index(ds, 64), q, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(top.ids, truth.ids)])
    assert recall >= 0.95
    hit = top.ids == truth.ids
    np.testing.assert_allclose(top.scores[hit], truth.scores[hit], atol=1e-6, rtol=0)  # one formula
    write_dataset(path, x[:2999], "float32", group_rows=1000)  # the dataset changes under the index
    with pytest.raises(VectorizeError, match="stale"):
        ann.load_index(open_dataset(path), 64)


def test_ann_binary_uses_a_hamming_graph(tmp_path, rng):
    pytest.importorskip("usearch", reason="pip install 'vectorize-cli[search]'")
    from vectorize_cli.search import ann

    d = 128
    centers = unit_vectors(rng, 50, d)
    x, q = clustered_vectors(rng, 2000, d, centers), clustered_vectors(rng, 50, d, centers)
    ds = open_dataset(write_dataset(tmp_path / "ds", x, "binary"))
    ann.build_index(ds)
    assert json.loads((tmp_path / "ds" / "_index.json").read_text())["metric"] == "hamming"
    for rescore in (None, 3):
        truth = exact.exact_search(ds, q, 10, rescore)
        top = ann.ann_search(ds, ann.load_index(ds, 64), q, 10, rescore)
        assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(top.ids, truth.ids)]) >= 0.9


def test_the_index_is_written_as_output_with_force(tmp_path, rng):
    """sink's writer, as --output --force: a link at an index file is replaced, its target untouched; a link at a
    name the old writer used for its temporary files is never followed; a rebuild keeps the file's mode."""
    pytest.importorskip("usearch", reason="pip install 'vectorize-cli[search]'")
    import stat

    from vectorize_cli.search import ann

    path = write_dataset(tmp_path / "ds", unit_vectors(rng, 200, 16), "float32")
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    for name in (ann.INDEX, ann.INFO, f".{ann.INDEX}.tmp", f".{ann.INFO}.tmp"):
        (path / name).symlink_to(victim)
    ds = open_dataset(path)
    ann.build_index(ds)
    assert victim.read_bytes() == b"precious"
    assert not (path / ann.INDEX).is_symlink() and not (path / ann.INFO).is_symlink()
    assert sorted(p.name for p in path.glob(".*")) == sorted([f".{ann.INDEX}.tmp", f".{ann.INFO}.tmp"])  # the links
    assert len(ann.load_index(ds, 64)) == 200  # the index in place is the one just built, for this dataset
    (path / ann.INDEX).chmod(0o640)
    ann.build_index(ds)  # a rebuild replaces the index
    assert stat.S_IMODE((path / ann.INDEX).stat().st_mode) == 0o640
    (path / ann.INFO).unlink()
    (path / ann.INFO).mkdir()
    with pytest.raises(UsageError, match="/_index.json is a directory"):
        ann.build_index(ds)


@pytest.mark.parametrize("damage, message", [
    ("no_success", "is partial"),
    ("no_dir", "no such directory"),
    ("rows", "rows is 11, the parts say 10"),
    ("empty_dir", "not a vectorize dataset"),
])
def test_datasets_refused(tmp_path, rng, damage, message):
    path = tmp_path / "ds"
    if damage == "empty_dir":
        path.mkdir()
    elif damage != "no_dir":
        write_dataset(path, unit_vectors(rng, 10, 8), success=damage != "no_success")
    if damage == "rows":
        s = json.loads((path / "_SUCCESS").read_text())
        (path / "_SUCCESS").write_text(json.dumps({**s, "rows": 11}))
    with pytest.raises(VectorizeError, match=message):
        open_dataset(path)


@pytest.mark.parametrize("module, call, extra", [
    ("pyarrow.parquet", lambda p: open_dataset(p), "vectorize-cli[search]"),
    ("usearch.index", lambda p: __import__("vectorize_cli.search.ann", fromlist=["x"]).import_usearch(),
     "vectorize-cli[search]"),
])
def test_a_missing_extra_says_what_to_install(tmp_path, monkeypatch, module, call, extra):
    monkeypatch.setitem(__import__("sys").modules, module, None)  # `import module` raises ImportError
    with pytest.raises(VectorizeError, match=extra.replace("[", r"\[").replace("]", r"\]")):
        call(tmp_path)


def test_the_cli_starts_without_pyarrow_or_usearch():
    import subprocess
    import sys

    code = ("import sys, vectorize_cli.cli\n"
            "bad = [m for m in ('pyarrow', 'usearch', 'vectorize_cli.dataset.reader') if m in sys.modules]\n"
            "assert not bad, bad")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
