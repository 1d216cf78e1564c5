"""The dense products by Intel MKL (sgemm.py) against float64 products and numpy's own, row by row alone and in
batches, in threads; the model with either library against sentence-transformers; VECTORIZE_BLAS's values."""

import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import SAMPLES
from test_model import SAME, assert_matches, lines
from vectorize_cli import backend, sgemm
from vectorize_cli.config import ModelConfig
from vectorize_cli.parallel import core_map
from vectorize_cli.pipelines.bert import encode, trace

NO_MKL = "Intel's mkl package is not installed (pip install 'vectorize-cli[mkl]': x86-64 Linux)"
needs_mkl = pytest.mark.skipif(sgemm.library() is None, reason=NO_MKL)
U = 2.0**-24  # float32's unit roundoff


@pytest.fixture(scope="module")
def mkl():
    if sgemm.library() is None:
        pytest.skip(NO_MKL)
    found = sgemm.product("mkl")
    assert sgemm.used(found)
    return found


def operands(rng, M: int, K: int, N: int, w_layout: str, x_rows: str):
    """x (M, K) and W (K, N) float32 of the model's magnitudes: W C-contiguous or the transposed view of an (N, K)
    array (nn.Linear's layout); x contiguous, or every row a slice of a wider row (a head's columns of qkv)."""
    x = rng.standard_normal((M, 3 * K if x_rows == "strided" else K), dtype=np.float32)
    x = x[:, K : 2 * K] if x_rows == "strided" else x
    w = rng.standard_normal((N, K) if w_layout == "transposed" else (K, N), dtype=np.float32) * np.float32(0.05)
    return x, (w.T if w_layout == "transposed" else w)


@pytest.mark.parametrize("x_rows", ["contiguous", "strided"])
@pytest.mark.parametrize("w_layout", ["contiguous", "transposed"])
def test_within_float32_rounding_of_float64(mkl, rng, w_layout, x_rows):
    """|fl(x W) - x W| <= gamma_K |x| |W| elementwise, gamma_K = K u / (1 - K u): the bound of any order of
    summation (Higham 2002, eq. 3.13), which numpy's product meets too; shapes from one row to MiniLM's, odd K."""
    for M, K, N in [(1, 1, 1), (1, 384, 1152), (2, 3, 5), (37, 1537, 384), (640, 384, 1536),
                    (int(rng.integers(1, 700)), int(rng.integers(1, 2000)), int(rng.integers(1, 1600)))]:
        x, w = operands(rng, M, K, N, w_layout, x_rows)
        exact = x.astype(np.float64) @ w.astype(np.float64)  # (M, N)
        bound = K * U / (1 - K * U) * (np.abs(x).astype(np.float64) @ np.abs(w).astype(np.float64))
        y = mkl(x, w)
        assert y.dtype == np.float32 and y.shape == (M, N) and y.flags.c_contiguous
        assert (np.abs(y - exact) <= bound).all(), (M, K, N, np.abs(y - exact).max())
        assert (np.abs(x @ w - exact) <= bound).all()  # the bound is numpy's too


def test_a_row_is_the_same_bits_in_any_batch_at_minilms_shapes(mkl, rng):
    """At MiniLM's shapes, from two rows up (a BERT batch's fewest: [CLS] and [SEP]), a row's product does not
    depend on the rows beside it: a text's products are the same bits whatever its batch."""
    for K, N in [(384, 1152), (384, 384), (384, 1536), (1536, 384)]:
        x, w = operands(rng, 700, K, N, "contiguous", "contiguous")
        whole = mkl(x, w)
        for M in [2, 3, 15, 16, 17, 255, 256, int(rng.integers(2, 700))]:
            start = int(rng.integers(0, 700 - M + 1))
            part = mkl(np.ascontiguousarray(x[start : start + M]), w)
            assert np.array_equal(part, whole[start : start + M]), (K, N, M, start)


def test_the_same_bits_every_run_and_in_threads(mkl, rng):
    """Run after run, and in parallel.core_map's threads at once (the GIL let go, MKL sequential in each)."""
    x, w = operands(rng, 640, 384, 1536, "contiguous", "contiguous")
    first = mkl(x, w)
    assert np.array_equal(first, mkl(x, w))
    with core_map(workers=2) as map_:
        results = list(map_(lambda _: mkl(x, w), range(8)))
    assert all(np.array_equal(first, r) for r in results)


def test_what_sgemm_cannot_read_as_it_lies_is_numpys_product(mkl, rng):
    """Another dtype, columns of another stride, a batch of matrices, no rows: numpy's own product, bit for bit."""
    x, w = operands(rng, 20, 32, 16, "contiguous", "contiguous")
    for a, b in [(x.astype(np.float64), w), (x[:, ::2], w[::2].copy()), (x, w[:, ::2]), (x[None], w), (x[:0], w)]:
        assert np.array_equal(mkl(a, b), a @ b)


def encoded(minilm, monkeypatch, blas: str, texts):
    monkeypatch.setenv("VECTORIZE_BLAS", blas)
    return encode(minilm, texts)[0]


@needs_mkl
def test_the_model_with_either_library_matches_sentence_transformers(minilm, reference, monkeypatch):
    """MiniLM's vectors with MKL's products and with numpy's: each sentence-transformers' (cosine >= 0.99999,
    |delta| <= 1e-5), within 1e-6 of each other, not the same bits (the products ran in two libraries); the
    trace notes MKL where it ran."""
    texts = lines("english.txt") + lines("long.txt")
    by_mkl, by_numpy = encoded(minilm, monkeypatch, "mkl", texts), encoded(minilm, monkeypatch, "numpy", texts)
    ref = reference.encode(texts, batch_size=32)
    assert_matches(by_mkl, ref)
    assert_matches(by_numpy, ref)
    assert np.abs(by_mkl - by_numpy).max() <= SAME and not np.array_equal(by_mkl, by_numpy)
    assert all(sgemm.NOTE not in b.ran.notes for b in trace(minilm, texts[0]).blocks)  # VECTORIZE_BLAS=numpy
    monkeypatch.setenv("VECTORIZE_BLAS", "auto")
    assert all(b.ran.notes[-1] == sgemm.NOTE for b in trace(minilm, texts[0]).blocks)


@needs_mkl
def test_a_process_without_torch_loads_mkl_and_says_so(tmp_path):
    """The CLI in a process of its own (torch never imported: MKL's libraries alone): the vectors of both
    libraries within 1e-6; MKL's note under the tables where it ran, none where numpy's did."""
    out = {}
    for blas in ("mkl", "numpy"):
        env = {**os.environ, "VECTORIZE_BLAS": blas}
        r = subprocess.run([sys.executable, "-m", "vectorize_cli", "run", "-", "--model", "minilm", "-F", "npy",
                            "-o", str(tmp_path / f"{blas}.npy")], input=(SAMPLES / "english.txt").read_text(),
                           capture_output=True, text=True, env=env)
        assert r.returncode == 0 and r.stderr == "", r.stderr
        out[blas] = np.load(tmp_path / f"{blas}.npy")
        table = subprocess.run([sys.executable, "-m", "vectorize_cli", "run", "The cat sat.", "--model", "minilm"],
                               capture_output=True, text=True, env=env)
        assert table.returncode == 0, table.stderr
        assert ("Intel MKL's sgemm" in table.stdout) == (blas == "mkl"), table.stdout[-2000:]
    assert np.abs(out["mkl"] - out["numpy"]).max() <= SAME


def test_vectorize_blas_values(monkeypatch, capsys):
    """numpy: numpy's product, MKL never asked for; another value: said once on stderr, and auto."""
    monkeypatch.setattr(backend, "_said", set())
    for value, told in [("numpy", "numpy"), (" MKL ", "mkl"), ("", "auto"), ("auto", "auto")]:
        monkeypatch.setenv("VECTORIZE_BLAS", value)
        assert backend.resolve("numpy", "auto", "float32").blas == told
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("VECTORIZE_BLAS", "openblas")
    assert backend.resolve("numpy", "auto", "float32").blas == "auto"
    assert backend.resolve("numpy", "auto", "float32").blas == "auto"
    err = capsys.readouterr().err
    assert err.count("VECTORIZE_BLAS='openblas' is not auto, numpy or mkl") == 1, err
    assert not sgemm.used(sgemm.product("numpy"))


def test_mkl_asked_for_but_not_installed_is_said_once_and_numpy_runs(monkeypatch, capsys, minilm, rng):
    """VECTORIZE_BLAS=mkl where the mkl package is not there (its library not found): one warning, numpy's product
    (auto: silently)."""
    monkeypatch.setattr(sgemm, "_opened", {})
    monkeypatch.setattr(sgemm, "library", lambda: None)
    assert not sgemm.used(sgemm.product("auto")) and capsys.readouterr().err == ""
    monkeypatch.setattr(sgemm, "_opened", {})
    x, w = operands(rng, 5, 7, 3, "contiguous", "contiguous")
    assert np.array_equal(sgemm.product("mkl")(x, w), x @ w)
    assert not sgemm.used(sgemm.product("mkl"))
    err = capsys.readouterr().err
    assert err.count("VECTORIZE_BLAS=mkl, but Intel's mkl package is not installed") == 1, err
    monkeypatch.setenv("VECTORIZE_BLAS", "mkl")
    assert all(sgemm.NOTE not in b.ran.notes for b in trace(minilm, "Numbers from numpy.").blocks)


@needs_mkl
def test_a_library_that_fails_to_open_is_said_once_and_numpy_runs(monkeypatch, capsys, rng, tmp_path):
    """A libmkl_rt that cannot be opened (a damaged install): one warning naming why, numpy's product."""
    broken = tmp_path / "libmkl_rt.so.3"
    broken.write_bytes(b"not a shared library")
    monkeypatch.setattr(sgemm, "_opened", {})
    monkeypatch.setattr(sgemm, "library", lambda: str(broken))
    x, w = operands(rng, 4, 6, 2, "contiguous", "contiguous")
    assert np.array_equal(sgemm.product("auto")(x, w), x @ w) and not sgemm.used(sgemm.product("auto"))
    err = capsys.readouterr().err
    assert err.count("Intel MKL could not be opened (OSError") == 1, err


@needs_mkl
def test_torch_runs_its_own_products(minilm):
    """--backend torch multiplies with torch's own `@` (its own MKL inside), never this module's: no MKL note there,
    where numpy's run of the same text has it."""
    pytest.importorskip("torch")
    assert all(sgemm.NOTE in b.ran.notes for b in trace(minilm, "The cat sat.", ModelConfig("multi-head")).blocks)
    on_torch = trace(minilm, "The cat sat.", ModelConfig("multi-head", "torch")).blocks
    assert all(sgemm.NOTE not in b.ran.notes for b in on_torch)
