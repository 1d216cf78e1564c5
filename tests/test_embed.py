"""`vectorize embed`: the Parquet dataset against `run --model minilm --format npy` and sentence-transformers,
every input kind, quantization against sentence-transformers' quantize_embeddings, resume after a real SIGKILL,
and bad inputs (one line on stderr, nothing written lost)."""

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT, SAMPLES
from test_cli import invoke

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
SENTENCES = [s for s in (SAMPLES / "sentences-10k.txt").read_text(encoding="utf-8").splitlines() if s.strip()]
FIXED = ["The cat sat on the mat.", "Ein Hund läuft, schnell!", "我和同桌约好明天在他家玩游戏", "a, \"quoted\" text"]


def sample(rng, n: int) -> list[str]:
    """FIXED, then n - len(FIXED) fresh random sentences of the sample corpus."""
    return FIXED + [SENTENCES[i] for i in rng.choice(len(SENTENCES), n - len(FIXED), replace=False)]


def read(out) -> "pa.Table":
    """The dataset, read back by pyarrow on its own (every part, in order)."""
    parts = json.loads((out / "_SUCCESS").read_text())["parts"]
    assert parts == sorted(p.name for p in out.glob("part-*.parquet"))
    return pa.concat_tables([pq.read_table(out / p) for p in parts])


def vectors(t) -> np.ndarray:
    col = t.column("vector").combine_chunks()
    return col.values.to_numpy().reshape(len(col), col.type.list_size)


def meta(out) -> dict:
    return json.loads(pq.read_schema(out / "part-00000.parquet").metadata[b"vectorize"])


def embed(*args, input=None):
    r = invoke("embed", *map(str, args), input=input)
    assert r.exit_code == 0, r.stderr
    assert r.stderr == ""  # no bar, no notes when stderr is not a terminal
    return r


def rows_sha256(t) -> str:
    """The digest of a table's rows as the inputs gave them: sha256 of one JSON line [source, line, text] each."""
    h = hashlib.sha256()
    for source, line, text in zip(*(t.column(c).to_pylist() for c in ("source", "line", "text"))):
        h.update(json.dumps([source, line, text], ensure_ascii=False).encode("utf-8") + b"\n")
    return h.hexdigest()


def npy_vectors(texts: list[str]) -> np.ndarray:
    r = invoke("run", "-", "--model", "minilm", "--format", "npy", input="\n".join(texts) + "\n")
    assert r.exit_code == 0, r.stderr
    return np.load(io.BytesIO(r.stdout_bytes))


def test_local_engine_gives_run_npy_vectors_and_the_contract(minilm_path, reference, rng, tmp_path):
    texts = sample(rng, 40)
    lines = texts[:10] + ["", "   "] + texts[10:]  # blank lines are skipped, line numbers still count them
    (tmp_path / "in.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "ds"
    embed(tmp_path / "in.txt", "-o", out, "--part-rows", 16)
    t = read(out)
    np.testing.assert_array_equal(t.column("id").to_numpy(), np.arange(len(texts)))
    assert t.column("text").to_pylist() == texts
    assert t.column("line").to_pylist() == [i + 1 for i, s in enumerate(lines) if s.strip()]
    assert set(t.column("source").to_pylist()) == {str(tmp_path / "in.txt")}
    np.testing.assert_allclose(vectors(t), npy_vectors(texts), atol=1e-6)
    st = reference.encode(texts, convert_to_numpy=True, normalize_embeddings=False)
    np.testing.assert_allclose(vectors(t), st, atol=2e-5)
    n_tokens = reference.tokenize(texts)["attention_mask"].sum(1).numpy()
    np.testing.assert_array_equal(t.column("n_tokens").to_numpy(), n_tokens)
    assert not any(t.column("truncated").to_pylist())
    # the files: 40 rows in parts of 16, each a complete Parquet file, the contract's types and metadata
    assert sorted(p.name for p in out.iterdir()) == ["_SUCCESS", "part-00000.parquet", "part-00001.parquet",
                                                     "part-00002.parquet"]
    assert [pq.ParquetFile(out / f"part-0000{k}.parquet").metadata.num_rows for k in range(3)] == [16, 16, 8]
    assert t.schema.field("vector").type == pa.list_(pa.float32(), 384)
    assert [t.schema.field(c).type for c in ("id", "line", "n_tokens", "truncated")] == [
        pa.int64(), pa.int64(), pa.int32(), pa.bool_()]
    m = meta(out)
    sha = hashlib.sha256((minilm_path / "model.safetensors").read_bytes()).hexdigest()
    assert m["model"] == {"name": "all-MiniLM-L6-v2", "source": "minilm", "sha256": sha, "d": 384, "pool": "mean",
                          "normalize": True, "max_length": reference.max_seq_length, "include_prompt": reference[1].include_prompt,
                          "do_lower_case": reference[0].do_lower_case,  # the folder's prompts (sentence-transformers
                          "prompts": {k: v for k, v in reference.prompts.items() if v},  # adds empty defaults)
                          "default_prompt_name": reference.default_prompt_name}
    assert (m["format"], m["precision"], m["ranges"], m["attention"]) == (1, "float32", None, "multi-head")
    assert json.loads((out / "_SUCCESS").read_text()) == {
        "format": 1, "rows": 40, "parts": ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"],
        "precision": "float32", "d": 384, "model_sha256": sha, "part_checks": {
            f"part-0000{k}.parquet": {"rows": n, "rows_sha256": rows_sha256(t.slice(16 * k, n))}
            for k, n in enumerate([16, 16, 8])}}
    for k in range(3):  # each part's footer holds its own check, as _SUCCESS does
        footer = pq.read_metadata(out / f"part-0000{k}.parquet").metadata[b"vectorize_part"]
        assert json.loads(footer) == json.loads((out / "_SUCCESS").read_text())["part_checks"][f"part-0000{k}.parquet"]


def test_long_inputs_are_truncated_and_counted(minilm, reference, tmp_path):
    texts = ["word " * 400, "short one"]
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    embed(tmp_path / "in.txt", "-o", tmp_path / "ds", "--no-text")
    t = read(tmp_path / "ds")
    assert "text" not in t.schema.names
    assert t.column("truncated").to_pylist() == [True, False]
    assert t.column("n_tokens").to_pylist() == [256, len(reference.tokenizer("short one")["input_ids"])]
    np.testing.assert_allclose(vectors(t), reference.encode(texts), atol=2e-5)


def write_inputs(d, texts: list[str]) -> dict:
    """The same texts as every input kind: {kind: (path, expected line numbers)}."""
    d.mkdir()
    (d / "a.txt").write_text("\n\n".join(texts) + "\n", encoding="utf-8")
    with open(d / "b.jsonl", "w", encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps({"id": 1, "body": t}, ensure_ascii=False) + "\n")
    import csv

    with open(d / "c.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["n", "body"])
        w.writerows([[i, t] for i, t in enumerate(texts)])
    pq.write_table(pa.table({"n": list(range(len(texts))), "body": texts}), d / "d.parquet", row_group_size=3)
    n = len(texts)
    return {"a.txt": [2 * i + 1 for i in range(n)], "b.jsonl": list(range(1, n + 1)), "c.csv": list(range(1, n + 1)),
            "d.parquet": list(range(1, n + 1))}


def test_every_input_kind_gives_the_same_vectors(minilm, rng, tmp_path):
    texts = sample(rng, 9) + ["line one\nline two, \"in\" one CSV cell"]
    lines = write_inputs(tmp_path / "in", texts)
    expected = npy_vectors([t.replace("\n", " ") for t in texts[:-1]])  # run's input is one text a line
    for kind, want in lines.items():
        path = tmp_path / "in" / kind
        n = len(texts) if kind != "a.txt" else len(texts) - 1
        if kind == "a.txt":  # the multi-line text is two lines of a text file: leave it out there
            path.write_text("\n\n".join(texts[:-1]) + "\n", encoding="utf-8")
            want = want[:-1]
        out = tmp_path / f"ds-{kind}"
        embed(path, "-o", out, *([] if kind == "a.txt" else ["--column", "body"]))
        t = read(out)
        assert t.column("line").to_pylist() == want, kind
        assert t.column("text").to_pylist() == texts[:n], kind
        np.testing.assert_allclose(vectors(t)[: len(expected)], expected, atol=1e-6, err_msg=kind)
    # stdin, a directory (sorted, recursive) and a glob: one dataset, ids across inputs in order
    embed("-", tmp_path / "in" / "b.jsonl", "-o", tmp_path / "ds-stdin", "--column", "body",
          input="\n".join(texts[:-1]) + "\n")
    t = read(tmp_path / "ds-stdin")
    assert t.column("source").to_pylist() == ["-"] * (len(texts) - 1) + [str(tmp_path / "in" / "b.jsonl")] * len(texts)
    np.testing.assert_array_equal(t.column("id").to_numpy(), np.arange(2 * len(texts) - 1))
    embed(tmp_path / "in", "-o", tmp_path / "ds-dir", "--column", "body")
    embed(str(tmp_path / "in" / "*.*"), "-o", tmp_path / "ds-glob", "--column", "body")
    a, b = read(tmp_path / "ds-dir"), read(tmp_path / "ds-glob")
    assert a.equals(b)
    assert a.column("source").unique().to_pylist() == [str(tmp_path / "in" / k) for k in sorted(lines)]


def test_quantize_matches_sentence_transformers_on_random_vectors(rng):
    from sentence_transformers.util.quantization import quantize_embeddings

    from vectorize_cli.dataset.precision import PRECISIONS, calibrate

    for d in (1, 7, 8, 384, int(rng.integers(2, 100))):
        x = (rng.standard_normal((int(rng.integers(2, 50)), d)) * rng.uniform(0.01, 3)).astype(np.float32)
        x[0, 0] = 0.0  # packbits: 0 is not > 0
        given = np.sort(rng.standard_normal((2, d)), axis=0).astype(np.float32)
        given[:, -1] = 0.25  # a dimension with hi == lo
        for name, p in PRECISIONS.items():
            for ranges in (calibrate(x), given):
                want = quantize_embeddings(x, name, ranges=ranges)
                got = p.quantize(x, ranges)
                assert got.dtype == want.dtype and got.shape == want.shape == (len(x), p.width(d)), (name, d)
                np.testing.assert_array_equal(got, want, err_msg=f"{name} d={d}")
        np.testing.assert_array_equal(PRECISIONS["int8"].quantize(x, calibrate(x)), quantize_embeddings(x, "int8"))


@pytest.mark.parametrize("precision", ["int8", "uint8", "binary", "ubinary"])
def test_quantized_dataset_is_sentence_transformers_bytes(minilm, rng, tmp_path, precision):
    from sentence_transformers.util.quantization import quantize_embeddings

    texts = sample(rng, 30)
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    embed(tmp_path / "in.txt", "-o", tmp_path / "f32", "--part-rows", 8)  # the same batches: the same floats
    x = vectors(read(tmp_path / "f32"))
    embed(tmp_path / "in.txt", "-o", tmp_path / "q", "--precision", precision, "--part-rows", 8)
    t = read(tmp_path / "q")
    np.testing.assert_array_equal(vectors(t), quantize_embeddings(x, precision))  # ranges from the data
    m = meta(tmp_path / "q")
    assert m["precision"] == precision
    if precision.endswith("int8"):
        np.testing.assert_array_equal(np.asarray(m["ranges"], dtype=np.float32), np.vstack((x.min(0), x.max(0))))
        ranges = np.sort(rng.uniform(-0.2, 0.2, (2, 384)), axis=0).astype(np.float32)
        for name, write in (("r.npy", lambda p: np.save(p, ranges)),
                            ("r.json", lambda p: p.write_text(json.dumps(ranges.tolist())))):
            write(tmp_path / name)
            out = tmp_path / f"q-{name}"
            embed(tmp_path / "in.txt", "-o", out, "--precision", precision, "--ranges", tmp_path / name,
                  "--part-rows", 8)
            np.testing.assert_array_equal(vectors(read(out)), quantize_embeddings(x, precision, ranges=ranges))
    else:
        assert m["ranges"] is None


def run_cli(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "vectorize_cli", "embed", *map(str, args)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def test_resume_after_sigkill_finishes_the_same_dataset(minilm, rng, tmp_path):
    texts = sample(rng, 600)
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    embed(tmp_path / "in.txt", "-o", whole, "--part-rows", 8, "--precision", "int8")
    p = run_cli(tmp_path / "in.txt", "-o", cut, "--part-rows", 8, "--precision", "int8")
    deadline = time.monotonic() + 300
    while not (cut / "part-00001.parquet").exists() and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    p.send_signal(signal.SIGKILL)
    assert p.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (cut / "_SUCCESS").exists()
    parts_before = sorted(x.name for x in cut.glob("part-*.parquet"))
    assert 1 < len(parts_before) < 75
    assert all(pq.read_metadata(cut / x).num_rows == 8 for x in parts_before)  # no visible part half-written
    r = invoke("embed", str(tmp_path / "in.txt"), "-o", str(cut), "--part-rows", "8", "--precision", "int8")
    assert r.exit_code == 2 and "--resume" in r.stderr  # a partial dataset is not silently overwritten
    q = run_cli(tmp_path / "in.txt", "-o", cut, "--part-rows", 8, "--precision", "int8", "--resume")
    assert q.wait() == 0, q.stderr.read().decode()
    a, b = read(whole), read(cut)
    np.testing.assert_array_equal(b.column("id").to_numpy(), np.arange(600))  # each id once
    assert a.equals(b)  # vectors (int8, same ranges) and every column identical
    assert meta(whole) == meta(cut)
    assert not list(cut.glob(".*"))  # no temp files left


def test_resume_of_float32_after_sigkill_gives_identical_vectors(minilm, rng, tmp_path):
    texts = sample(rng, 400)
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    p = run_cli(tmp_path / "in.txt", "-o", tmp_path / "cut", "--part-rows", 16)
    while not (tmp_path / "cut" / "part-00000.parquet").exists() and p.poll() is None:
        time.sleep(0.005)
    os.kill(p.pid, signal.SIGKILL)
    assert p.wait() == -signal.SIGKILL
    embed(tmp_path / "in.txt", "-o", tmp_path / "cut", "--part-rows", 16, "--resume")
    embed(tmp_path / "in.txt", "-o", tmp_path / "whole", "--part-rows", 16)
    a, b = read(tmp_path / "whole"), read(tmp_path / "cut")
    np.testing.assert_array_equal(vectors(a), vectors(b))
    assert a.equals(b)
    r = invoke("embed", str(tmp_path / "in.txt"), "-o", str(tmp_path / "cut"), "--resume")  # complete already
    assert r.exit_code == 0 and "already complete: 400 rows" in r.stderr


def one_error(r, code: int, *words: str) -> None:
    assert r.exit_code == code, (r.exit_code, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vectorize: error: "), r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


def test_a_bad_byte_keeps_what_was_written_then_resume_finishes(minilm, rng, tmp_path):
    texts = sample(rng, 40)
    good = ("\n".join(texts) + "\n").encode()
    bad = ("\n".join(texts[:29]) + "\n").encode() + texts[29].encode() + b"\xff\n" + \
        ("\n".join(texts[30:]) + "\n").encode()  # line 30 (texts[29] may also occur earlier, as a line or within one)
    (tmp_path / "in.txt").write_bytes(bad)
    out = tmp_path / "ds"
    r = invoke("embed", str(tmp_path / "in.txt"), "-o", str(out), "--part-rows", 8)
    at = bad.index(b"\xff")
    one_error(r, 1, f"{tmp_path / 'in.txt'} line 30 is not valid UTF-8: byte 0xff at byte offset {at}")
    assert sorted(x.name for x in out.iterdir()) == [f"part-0000{k}.parquet" for k in range(3)]  # rows 0..23 kept
    (tmp_path / "in.txt").write_bytes(good)
    embed(tmp_path / "in.txt", "-o", out, "--part-rows", 8, "--resume")
    embed(tmp_path / "in.txt", "-o", tmp_path / "whole", "--part-rows", 8)
    assert read(out).equals(read(tmp_path / "whole"))


def test_bad_inputs_are_one_line_errors(minilm, tmp_path):
    d = tmp_path
    (d / "ok.txt").write_text("one\ntwo\n", encoding="utf-8")
    (d / "bad.jsonl").write_text('{"text": "a"}\n{"text": 3}\n', encoding="utf-8")
    (d / "notjson.jsonl").write_text('{"text": "a"}\n\n{"text": \n', encoding="utf-8")
    (d / "nokey.jsonl").write_text('{"text": "a"}\n{"body": "b"}\n', encoding="utf-8")
    (d / "list.jsonl").write_text('["a"]\n', encoding="utf-8")
    (d / "bad.csv").write_text("text,n\na,1\nb\n", encoding="utf-8")
    (d / "nocol.csv").write_text("body\na\n", encoding="utf-8")
    pq.write_table(pa.table({"text": [1, 2]}), d / "ints.parquet")
    (d / "fake.parquet").write_bytes(b"not parquet")
    (d / "u16.txt").write_bytes("hi\n".encode("utf-16"))
    (d / "full").mkdir()
    (d / "full" / "mine.txt").write_text("keep me")
    cases = [
        (["bad.jsonl"], 1, ["bad.jsonl line 2", "int, not text"]),
        (["notjson.jsonl"], 1, ["notjson.jsonl line 3: not JSON"]),
        (["nokey.jsonl"], 1, ["nokey.jsonl line 2: no key 'text'"]),
        (["list.jsonl"], 1, ["list.jsonl line 1: expected a JSON object"]),
        (["bad.csv"], 1, ["bad.csv row 2 (line 3): 1 fields, the header has 2"]),
        (["nocol.csv"], 1, ["no column 'text'"]),
        (["ints.parquet"], 1, ["column 'text' is int64, not text"]),
        (["fake.parquet"], 1, ["cannot read", "fake.parquet"]),
        (["u16.txt"], 1, ["u16.txt line 1 is not valid UTF-8", "UTF-16?"]),
        (["missing.txt"], 1, ["cannot read missing.txt: No such file or directory"]),
        (["nothing*.txt"], 2, ["nothing*.txt: no file matches"]),
        (["ok.txt", "-o", "full"], 2, ["not empty", "--resume", "--force"]),
        (["ok.txt", "-o", "full", "--force"], 2, ["mine.txt"]),
        (["ok.txt", "--resume", "--force"], 2, ["--resume or --force"]),
        (["ok.txt", "--ranges", "ok.txt"], 2, ["--ranges applies with --precision int8 or uint8"]),
        (["ok.txt", "--precision", "int8", "--ranges", "ok.txt"], 2, ["--ranges ok.txt"]),
        (["ok.txt", "--workers", "3"], 2, ["--workers applies with --engine ray"]),
        (["ok.txt", "--column", "x"], 2, ["--column applies to .jsonl, .csv and .parquet"]),
        (["ok.txt", "-a", "linear"], 2, ["'linear' is not one of"]),  # the shared -a: the registry's names
        (["ok.txt", "-a", "additive"], 2, ["'additive' is not one of 'multi-head', 'flash'"]),
        (["ok.txt", "--part-rows", "10000"], 2, ["--part-rows 10000"]),
        (["-", "-"], 2, ["stdin"]),
    ]
    cwd = os.getcwd()
    os.chdir(d)
    try:
        for args, code, words in cases:
            if "-o" not in args:
                args = [*args, "-o", "out"]
            one_error(invoke("embed", *args, input=""), code, *words)
            assert not (d / "out" / "_SUCCESS").exists()
        assert (d / "full" / "mine.txt").read_text() == "keep me"
        one_error(invoke("embed", "-", "-o", "empty", input="\n  \n"), 2, "no text")
    finally:
        os.chdir(cwd)


def test_resume_refuses_other_inputs_or_options(minilm, tmp_path):
    (tmp_path / "a.txt").write_text("one\ntwo\nthree\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("uno\ndos\ntres\n", encoding="utf-8")
    out = tmp_path / "ds"
    embed(tmp_path / "a.txt", "-o", out, "--part-rows", 2)
    (out / "_SUCCESS").unlink()  # as if cut short after the parts
    one_error(invoke("embed", str(tmp_path / "a.txt"), "-o", str(out), "--resume", "--precision", "binary"), 2,
              "precision 'float32', not 'binary'")
    one_error(invoke("embed", str(tmp_path / "b.txt"), "-o", str(out), "--resume"), 2, "inputs")
    embed(tmp_path / "a.txt", "-o", out, "--part-rows", 2, "--resume")
    assert read(out).column("text").to_pylist() == ["one", "two", "three"]
    embed(tmp_path / "b.txt", "-o", out, "--force")
    assert read(out).column("text").to_pylist() == ["uno", "dos", "tres"]


def _batch(ids: list[int]):
    """An embedded chunk of these ids and its stored vectors: what Writer.write takes."""
    from vectorize_cli.dataset.format import Chunk, Embedded

    n = len(ids)
    chunk = Chunk(np.array(ids, np.int64), ["a.txt"] * n, np.array(ids, np.int64) + 1, ["t"] * n)
    vectors = np.ones((n, 4), np.float32)
    return Embedded(chunk, vectors, np.full(n, 3, np.int32), np.zeros(n, bool)), vectors


def test_parts_and_success_are_never_written_through_a_link(tmp_path):
    """The parts and _SUCCESS go through sink's writer as --output without --force: a link planted where the next
    one goes is refused, one planted at a name the old writer used for its temporary files is never followed."""
    from vectorize_cli.dataset import writer as dataset
    from vectorize_cli.dataset.format import schema
    from vectorize_cli.errors import UsageError

    out, victim = tmp_path / "ds", tmp_path / "victim"
    out.mkdir()
    victim.write_bytes(b"precious")
    for name in (".part-00000.parquet.tmp", ".part-00001.parquet.tmp", "._SUCCESS.tmp"):
        (out / name).symlink_to(victim)
    w = dataset.Writer(out, schema(4, "float32", True, {"format": 1}), 2, 0, 0)
    w.write(*_batch([0, 1, 2]))  # part 0 whole, part 1 open
    w.close()
    assert pq.read_table(out / "part-00001.parquet").column("id").to_pylist() == [2]  # the rows so far, kept
    (out / "part-00002.parquet").symlink_to(victim)  # where the next part goes
    w = dataset.Writer(out, schema(4, "float32", True, {"format": 1}), 2, 2, 3)
    with pytest.raises(UsageError, match="part-00002.parquet is a symbolic link; add --force"):
        w.write(*_batch([3]))
    w.close()
    (out / "_SUCCESS").symlink_to(victim)
    with pytest.raises(UsageError, match="_SUCCESS is a symbolic link"):
        dataset.finish(out, 3, "float32", 4, "sha")
    assert victim.read_bytes() == b"precious"
    assert sorted(p.name for p in out.iterdir() if not p.is_symlink()) == ["part-00000.parquet", "part-00001.parquet"]


def test_a_part_whose_write_fails_is_removed_not_kept_half_written(tmp_path, monkeypatch):
    from vectorize_cli.dataset import writer as dataset
    from vectorize_cli.dataset.format import schema
    from vectorize_cli.errors import VectorizeError

    out = tmp_path / "ds"
    out.mkdir()
    w = dataset.Writer(out, schema(4, "float32", True, {"format": 1}), 4, 0, 0)
    w.write(*_batch([0, 1]))
    monkeypatch.setattr(pq.ParquetWriter, "write_table", lambda *a, **k: (_ for _ in ()).throw(
        OSError(28, "No space left on device")))
    with pytest.raises(VectorizeError, match="cannot write .*part-00000.parquet: No space left on device"):
        w.write(*_batch([2, 3]))
    w.close()
    assert list(out.iterdir()) == []  # the part cut short is gone, temporary file and all: --resume redoes it


def test_resume_removes_what_a_crash_left_and_force_unlinks_a_link_never_its_target(minilm, tmp_path):
    (tmp_path / "a.txt").write_text("one\ntwo\nthree\n", encoding="utf-8")
    out, whole = tmp_path / "ds", tmp_path / "whole"
    embed(tmp_path / "a.txt", "-o", whole, "--part-rows", 2)
    embed(tmp_path / "a.txt", "-o", out, "--part-rows", 2)
    (out / "_SUCCESS").unlink()
    (out / "part-00001.parquet").unlink()  # as if killed while part 1 was being written:
    for name in (".part-00001.parquet.x1y2z3.part", "._SUCCESS.a1b2c3.part", ".part-00001.parquet.tmp"):
        (out / name).write_bytes(b"PAR1 cut sh")  # this version's temporary files, and an older one's
    embed(tmp_path / "a.txt", "-o", out, "--part-rows", 2, "--resume")
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in whole.iterdir())
    assert read(out).equals(read(whole))
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "mine.txt").write_text("keep me")
    (out / "part-00002.parquet").symlink_to(victim)  # a link among the parts, to a directory
    embed(tmp_path / "a.txt", "-o", out, "--part-rows", 2, "--force")
    assert (victim / "mine.txt").read_text() == "keep me" and not (out / "part-00002.parquet").exists()
    assert read(out).equals(read(whole))


def test_sigterm_keeps_whole_parts_only_and_resume_finishes(minilm, rng, tmp_path):
    texts = sample(rng, 160)
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    cut = tmp_path / "cut"
    p = run_cli(tmp_path / "in.txt", "-o", cut, "--part-rows", 8)
    deadline = time.monotonic() + 300
    while not (cut / "part-00001.parquet").exists() and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    p.send_signal(signal.SIGTERM)
    assert p.wait() == 128 + signal.SIGTERM, "the run finished before it could be stopped"
    assert p.stderr.read().decode().strip().splitlines() == ["vectorize: error: terminated by SIGTERM"]
    assert not list(cut.glob(".*")) and not (cut / "_SUCCESS").exists()  # no temporary file left
    parts = sorted(cut.glob("part-*.parquet"))
    assert [pq.read_metadata(x).num_rows for x in parts] == [8] * len(parts)  # every visible part whole
    embed(tmp_path / "in.txt", "-o", cut, "--part-rows", 8, "--resume")
    embed(tmp_path / "in.txt", "-o", tmp_path / "whole", "--part-rows", 8)
    assert read(cut).equals(read(tmp_path / "whole"))


def test_heavy_extras_are_imported_only_by_the_paths_that_need_them():
    code = ("import sys, vectorize_cli.cli; from vectorize_cli.commands import embed; "
            "print(sorted(m for m in ('pyarrow', 'ray', 'torch', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("module, extra, args", [("pyarrow", "corpus", []), ("ray", "ray", ["--engine", "ray"])])
def test_a_missing_extra_names_what_to_install(monkeypatch, tmp_path, module, extra, args):
    (tmp_path / "in.txt").write_text("one\n", encoding="utf-8")
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed: `import` raises ImportError
    r = invoke("embed", str(tmp_path / "in.txt"), "-o", str(tmp_path / "ds"), *args)
    one_error(r, 1, f"pip install 'vectorize-cli[{extra}]'")
    assert not (tmp_path / "ds").exists()  # nothing created before the check


def test_dtype_is_recorded_and_a_resume_must_share_it(minilm, tmp_path):
    pytest.importorskip("torch")
    texts = ["the cat sat on the mat", "a dog ran home", "blue sky", "unbelievable"]
    (tmp_path / "a.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    half, full = tmp_path / "bf16", tmp_path / "f32"
    embed(tmp_path / "a.txt", "-o", half, "-b", "torch", "--device", "cpu", "--dtype", "bfloat16", "--part-rows", 2)
    embed(tmp_path / "a.txt", "-o", full)
    assert (meta(half)["dtype"], meta(half)["backend"], meta(half)["device"]) == ("bfloat16", "torch", "cpu")
    assert (meta(full)["dtype"], meta(full)["backend"], meta(full)["device"]) == ("float32", "numpy", "cpu")
    a = np.array(read(half).column("vector").to_pylist(), dtype=np.float64)
    b = np.array(read(full).column("vector").to_pylist(), dtype=np.float64)
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert 0.99 < cos.min() and np.abs(a - b).max() > 0  # bfloat16: close to float32, and not equal to it
    (half / "_SUCCESS").unlink()  # as if cut short after the parts
    one_error(invoke("embed", str(tmp_path / "a.txt"), "-o", str(half), "--resume"), 2,
              "dtype 'bfloat16', not 'float32'")
