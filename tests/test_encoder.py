"""The encoder (vectorize_cli/encoder.py): one object opened once from a model and its options, the one way
`run --model`, `similarity`, `embed` and `search` reach a model; and the record it leaves in a dataset, by which
`search` opens the same encoder again (its model, attention, backend and dtype)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, link_tree
from test_cli import invoke

pytest.importorskip("pyarrow", reason="pip install 'vectorize-cli[search]'")

TEXTS = ["The cat sat on the mat.", "A man is eating food.", "blue sky", "unbelievable " * 300]


def test_encode_equals_sentence_transformers_and_counts_tokens(minilm_path, reference, rng):
    from vectorize_cli.config import ModelConfig
    from vectorize_cli.encoder import Encoder

    enc = Encoder.open("minilm", ModelConfig(batch_size=int(rng.integers(1, 4))))
    texts = TEXTS + [" ".join(rng.choice(["tea", "green", "我", "games", "house", "?"], int(rng.integers(1, 40))))]
    got = enc.encode(texts)
    want = reference.encode(texts, convert_to_numpy=True)
    cos = (got.vectors * want).sum(1) / np.linalg.norm(got.vectors, axis=1) / np.linalg.norm(want, axis=1)
    assert got.vectors.shape == (len(texts), 384) and got.vectors.dtype == np.float32
    assert cos.min() > 0.99999, cos
    ids = reference.tokenizer(texts, truncation=True, max_length=enc.max_length)["input_ids"]
    assert got.n_tokens.tolist() == [len(i) for i in ids]
    assert got.truncated.tolist() == [False, False, False, True, False]


def test_record_opens_the_same_encoder_and_refuses_other_weights(minilm_path, tmp_path):
    from vectorize_cli.config import ModelConfig
    from vectorize_cli.encoder import Encoder
    from vectorize_cli.errors import VectorizeError

    enc = Encoder.open("minilm", ModelConfig(attention="flash"))
    record = json.loads(json.dumps(enc.record()))  # as a dataset's metadata holds it
    assert record["model"]["source"] == "minilm" and record["attention"] == "flash"
    assert (record["backend"], record["device"], record["dtype"]) == ("numpy", "cpu", "float32")
    again = Encoder.from_record(record)
    assert again.config.attention == "flash" and again.sha256 == enc.sha256
    np.testing.assert_array_equal(again.encode(TEXTS[:2]).vectors, enc.encode(TEXTS[:2]).vectors)
    with pytest.raises(VectorizeError, match="is not the model"):
        Encoder.from_record({**record, "model": {**record["model"], "sha256": "0" * 64}})


def _cli(*args, cwd):
    r = subprocess.run([sys.executable, "-m", "vectorize_cli", *map(str, args)], cwd=cwd, capture_output=True,
                       text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_search_opens_the_folder_the_dataset_recorded_from_anywhere(minilm_path, tmp_path):
    """`embed -m my-model` (a relative folder), then `search` from another directory without -m: the dataset
    records the folder's absolute path, and the queries are embedded by it."""
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir(), elsewhere.mkdir()
    link_tree(minilm_path, work / "my-model")  # a folder of the same weights that is not `minilm`
    (work / "in.txt").write_text("\n".join(TEXTS[:3]) + "\n", encoding="utf-8")
    _cli("embed", "in.txt", "-o", "ds", "-m", "my-model", cwd=work)
    out = json.loads(_cli("search", TEXTS[1], "--dataset", work / "ds", "-k", "1", "-F", "json", cwd=elsewhere))
    assert out["hits"][0]["text"] == TEXTS[1] and out["hits"][0]["score"] == pytest.approx(1.0, abs=1e-6)
    from vectorize_cli.dataset.reader import open_dataset

    assert open_dataset(work / "ds").meta["model"]["source"] == str((work / "my-model").resolve())


def test_search_embeds_queries_in_the_dtype_the_dataset_recorded(minilm_path, tmp_path):
    """A bfloat16 dataset (-b torch --dtype bfloat16): a query equal to a row's text is embedded by the same
    bfloat16 encoder, so its vector is that row's, bit for bit, and its score exactly 1 (a float32 query would
    differ by bfloat16's rounding: about 1e-3 of the cosine); the int8 dataset of the same encoder ranks it first."""
    pytest.importorskip("torch")
    (tmp_path / "in.txt").write_text("\n".join(TEXTS[:3]) + "\n", encoding="utf-8")
    for precision in ("float32", "int8"):
        ds = tmp_path / precision
        r = invoke("embed", str(tmp_path / "in.txt"), "-o", str(ds), "-b", "torch", "--dtype", "bfloat16",
                   "--device", "cpu", "--precision", precision)
        assert r.exit_code == 0, r.stderr
        for i, text in enumerate(TEXTS[:3]):
            r = invoke("search", text, "--dataset", str(ds), "-k", "3", "-F", "json")
            assert r.exit_code == 0, r.stderr
            hits = json.loads(r.stdout)["hits"]
            assert hits[0]["id"] == i
            if precision == "float32":
                assert hits[0]["score"] == 1.0, hits


def test_force_replaces_a_dataset_with_its_index_files(minilm_path, tmp_path):
    pytest.importorskip("usearch", reason="pip install 'vectorize-cli[search]'")
    (tmp_path / "a.txt").write_text("one\ntwo\nthree\n", encoding="utf-8")
    ds = tmp_path / "ds"
    assert invoke("embed", str(tmp_path / "a.txt"), "-o", str(ds)).exit_code == 0
    assert invoke("index", str(ds)).exit_code == 0
    assert (ds / "_index.usearch").is_file() and (ds / "_index.json").is_file()
    r = invoke("embed", str(tmp_path / "a.txt"), "-o", str(ds), "--force")
    assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in ds.iterdir()) == ["_SUCCESS", "part-00000.parquet"]
    (ds / "notes.txt").write_text("mine", encoding="utf-8")  # a file the tool did not write: never deleted
    r = invoke("embed", str(tmp_path / "a.txt"), "-o", str(ds), "--force")
    assert r.exit_code == 2 and "notes.txt" in r.stderr and (ds / "notes.txt").is_file()


def test_embed_progress_moves_batch_by_batch_and_ends_with_a_summary(minilm_path, tmp_path):
    """On a terminal's stderr (a pseudo-terminal here): the bar counts rows as batches finish, well before the
    chunk of 8,192 rows is written, and one summary line stays when it is gone."""
    import pty

    lines = [f"sentence number {i} about tea and games" for i in range(240)]
    (tmp_path / "in.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    main, sub = pty.openpty()
    p = subprocess.Popen([sys.executable, "-m", "vectorize_cli", "embed", "in.txt", "-o", "ds", "--batch-size", "2"],
                         cwd=tmp_path, stdout=subprocess.PIPE, stderr=sub, stdin=subprocess.DEVNULL,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "150", "TERM": "xterm"})
    os.close(sub)
    screen = b""
    while True:
        try:
            piece = os.read(main, 1 << 16)
        except OSError:  # the pseudo-terminal closed: the process is done with it
            break
        if not piece:
            break
        screen += piece
    assert p.wait(timeout=600) == 0, screen.decode(errors="replace")
    os.close(main)
    text = screen.decode(errors="replace")
    import re

    counts = {int(n.replace(",", "")) for n in re.findall(r"([\d,]+) rows ", text)}
    assert any(0 < n < 240 for n in counts), counts  # counted batch by batch, not only at the end
    assert "ds: 240 rows in 1 part (240 embedded now in" in text and "rows/s)" in text, text[-300:]
