"""Hostile input, round three (issue 26): datasets and the inputs they were made from, changed under the tool.
Resume that cannot mix inputs, _SUCCESS checked, -o inside an input, a lock on the dataset directory, metadata
checked on every open, page checksums, non-finite vectors. Each case: exit 0 with whole output, or one line
`vectorize: error: ...` and exit 1 / 2, nothing written."""

import fcntl
import json
from pathlib import Path

import numpy as np
import pytest

from test_cli import invoke
from test_embed import embed, one_error, read

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

LINES = [f"sentence number {i} about cats and dogs" for i in range(12)]


def files(out) -> dict:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


@pytest.fixture
def cut(minilm, tmp_path):
    """in.txt (12 lines) embedded in parts of 4 rows, then cut back to its first 2 parts, as a crash leaves it."""
    src = tmp_path / "in.txt"
    src.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    out = tmp_path / "ds"
    embed(src, "-o", out, "--part-rows", 4)
    (out / "_SUCCESS").unlink()
    (out / "part-00002.parquet").unlink()
    return src, out


@pytest.mark.parametrize("change", ["same-length", "delete-and-insert", "swap"])
def test_resume_refuses_inputs_whose_rows_differ_from_the_parts(cut, change):
    src, out = cut
    lines = list(LINES)
    if change == "same-length":  # line 2 replaced by a text of equal length: same sizes, same line numbers
        lines[1] = lines[1].replace("cats", "bats")
    elif change == "delete-and-insert":  # row 7 (the last stored) is still line 8
        del lines[1]
        lines.insert(5, "an inserted line")
    else:
        lines[0], lines[2] = lines[2], lines[0]
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = files(out)
    one_error(invoke("embed", str(src), "-o", str(out), "--part-rows", "4", "--resume"), 2,
              "--resume", "part-0000", "other inputs")
    assert files(out) == before  # nothing written, nothing removed


def test_resume_with_the_same_inputs_finishes_and_checks_success(cut):
    src, out = cut
    embed(src, "-o", out, "--part-rows", 4, "--resume")
    assert read(out).column("text").to_pylist() == LINES
    (out / "part-00002.parquet").unlink()  # _SUCCESS lists it: the dataset is not complete
    one_error(invoke("embed", str(src), "-o", str(out), "--part-rows", "4", "--resume"), 1,
              "_SUCCESS", "part-00002.parquet", "missing")
    one_error(invoke("search", "cats", "-D", str(out)), 1, "_SUCCESS", "parts", "part-00002.parquet")


def test_resume_of_a_complete_dataset_checks_the_inputs_too(cut):
    src, out = cut
    embed(src, "-o", out, "--part-rows", 4, "--resume")
    src.write_text("\n".join(LINES).replace("cats", "bats") + "\n", encoding="utf-8")
    one_error(invoke("embed", str(src), "-o", str(out), "--part-rows", "4", "--resume"), 2, "other inputs")


def test_output_inside_an_input_directory_is_refused(minilm, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("one\ntwo\n", encoding="utf-8")
    one_error(invoke("embed", str(corpus), "-o", str(corpus / "vec")), 2, "inside the input directory")
    assert not (corpus / "vec").exists()
    embed(corpus, "-o", tmp_path / "vec")
    one_error(invoke("embed", str(tmp_path / "vec" / "part-00000.parquet"), "-o", str(tmp_path / "vec"), "--force"),
              2, "holds the input")


def test_a_second_embed_into_a_locked_directory_is_refused_naming_the_holder(minilm, tmp_path):
    src, out = tmp_path / "in.txt", tmp_path / "ds"
    src.write_text("one\ntwo\n", encoding="utf-8")
    embed(src, "-o", out)
    assert not (out / ".lock").exists()  # removed by the run that held it
    before = files(out)
    with open(out / ".lock", "w") as held:  # another embed holds it (flock: per open file)
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("4242\n")
        held.flush()
        for flag in ("--force", "--resume"):
            one_error(invoke("embed", str(src), "-o", str(out), flag), 2, "pid 4242", "writing this dataset")
        assert files(out) == {**before, ".lock": b"4242\n"}  # --force deleted neither the lock nor the dataset
        import pyarrow.dataset as pads

        assert pads.dataset(str(out)).to_table().num_rows == 2  # readers never take the lock for a part
        assert invoke("search", "one", "-D", str(out)).exit_code == 0
    # released (as by a crash: the file stays, nobody holds it): not blocking
    embed(src, "-o", out, "--force")
    assert not (out / ".lock").exists()


def rewrite(part, table=None, meta=None) -> None:
    """part written again by pyarrow with another table and / or `vectorize` metadata, its footer check kept."""
    f = pq.ParquetFile(part)
    footer = (f.metadata.metadata or {}).get(b"vectorize_part")
    t = f.read() if table is None else table
    m = json.loads(f.schema_arrow.metadata[b"vectorize"]) if meta is None else meta
    t = t.replace_schema_metadata({b"vectorize": json.dumps(m).encode()})
    with pq.ParquetWriter(part, t.schema) as w:
        w.write_table(t)
        if footer is not None:
            w.add_key_value_metadata({b"vectorize_part": footer})


def embedded(tmp_path, *options) -> Path:
    """LINES, written to tmp_path/in.txt, embedded by MiniLM into tmp_path/ds with these options -> the dataset."""
    src, out = tmp_path / "in.txt", tmp_path / "ds"
    src.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    embed(src, "-o", out, *options)
    return out


@pytest.fixture
def small(minilm, tmp_path):
    return embedded(tmp_path, "--precision", "int8")


def _success(out, **change):
    doc = json.loads((out / "_SUCCESS").read_text())
    (out / "_SUCCESS").write_text(json.dumps({**doc, **change}))


def _meta(out, fn):
    m = json.loads(pq.read_schema(out / "part-00000.parquet").metadata[b"vectorize"])
    fn(m)
    rewrite(out / "part-00000.parquet", meta=m)


TAMPER = {
    "rows": (lambda out: _success(out, rows=-1), "_SUCCESS", "rows"),
    "rows-bool": (lambda out: _success(out, rows=True), "_SUCCESS", "rows"),
    "parts-twice": (lambda out: _success(out, parts=["part-00000.parquet"] * 2), "_SUCCESS", "parts"),
    "parts-not-list": (lambda out: _success(out, parts="part-00000.parquet"), "_SUCCESS", "parts"),
    "precision": (lambda out: _success(out, precision="int4"), "_SUCCESS", "precision"),
    "d": (lambda out: _meta(out, lambda m: m["model"].update(d=0)), "part-00000.parquet", "model.d"),
    "d-text": (lambda out: _meta(out, lambda m: m["model"].update(d="384")), "part-00000.parquet", "model.d"),
    "meta-precision": (lambda out: _meta(out, lambda m: m.update(precision="int4")), "part-00000", "precision"),
    "ranges-missing": (lambda out: _meta(out, lambda m: m.update(ranges=None)), "part-00000", "ranges"),
    "ranges-nan": (lambda out: _meta(out, lambda m: m["ranges"][0].__setitem__(3, float("nan"))), "part-0", "ranges"),
    "ranges-lo-above-hi": (lambda out: _meta(out, lambda m: m.update(ranges=m["ranges"][::-1])), "part-0", "ranges"),
    "ranges-short": (lambda out: _meta(out, lambda m: m["ranges"][1].pop()), "part-00000", "ranges"),
    "width": (lambda out: _meta(out, lambda m: m.update(precision="binary", ranges=None)), "part-0", "column vector"),
    # found by the dataset fuzzer (tests/dataset_fuzzing.py), each exit 70 before
    "precision-list": (lambda out: _success(out, precision=[]), "_SUCCESS", "precision"),
    "meta-precision-list": (lambda out: _meta(out, lambda m: m.update(precision=["int8"])), "part-0", "precision"),
    "ranges-huge": (lambda out: _meta(out, lambda m: m["ranges"][1].__setitem__(3, 10**400)), "part-0", "ranges"),
    "ranges-beyond-float32": (lambda out: _meta(out, lambda m: m["ranges"][1].__setitem__(3, 1e39)), "part-0",
                              "ranges"),
    "truncate-dim-text": (lambda out: _meta(out, lambda m: m.update(truncate_dim="")), "part-0", "truncate_dim"),
    "source-number": (lambda out: _meta(out, lambda m: m["model"].update(source=float("-inf"))), "part-0",
                      "model.source"),
    "attention-list": (lambda out: _meta(out, lambda m: m.update(attention=[])), "part-0", "attention"),
    "d-2**63": (lambda out: _meta(out, lambda m: (m.update(precision="binary", ranges=None),  # no ranges to say it
                                                  m["model"].update(d=2**63))), "part-00000", "model.d"),
}


@pytest.mark.parametrize("case", TAMPER)
def test_metadata_is_checked_on_every_open(small, case):
    tamper, *words = TAMPER[case]
    tamper(small)
    one_error(invoke("search", "cats", "-D", str(small)), 1, *words)


def test_a_flipped_byte_in_a_data_page_is_an_error_not_another_hit(minilm, tmp_path):
    out = embedded(tmp_path)
    good = invoke("search", "cats", "-D", str(out), "-F", "json")
    assert good.exit_code == 0
    part = out / "part-00000.parquet"
    col = pq.read_metadata(part).row_group(0).column(4)
    assert col.path_in_schema.startswith("vector")
    start = col.dictionary_page_offset or col.data_page_offset
    data = bytearray(part.read_bytes())
    at = start + col.total_compressed_size - 64  # inside the last data page's values, past its header
    data[at] ^= 0x01
    part.write_bytes(bytes(data))
    one_error(invoke("search", "cats", "-D", str(out), "-F", "json"), 1, "part-00000.parquet")


def test_non_finite_stored_vectors_are_refused(small, tmp_path):
    src, out = tmp_path / "in2.txt", tmp_path / "f32"
    src.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    embed(src, "-o", out)
    t = pq.read_table(out / "part-00000.parquet")
    v = t.column("vector").combine_chunks()
    x = v.values.to_numpy().copy()
    x[384 * 5 + 7] = np.inf
    vec = pa.FixedSizeListArray.from_arrays(pa.array(x), 384)
    rewrite(out / "part-00000.parquet", t.set_column(t.schema.get_field_index("vector"), t.schema.field("vector"), vec))
    one_error(invoke("search", "cats", "-D", str(out)), 1, "part-00000.parquet", "not finite")


def test_a_dataset_of_no_rows_is_searchable(minilm, tmp_path):
    src, out = tmp_path / "in.txt", tmp_path / "ds"
    src.write_text("one\n", encoding="utf-8")
    embed(src, "-o", out)
    part = out / "part-00000.parquet"
    t = pq.read_table(part).slice(0, 0)
    empty = json.dumps({"rows": 0, "rows_sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"})
    with pq.ParquetWriter(part, t.schema) as w:
        w.write_table(t)
        w.add_key_value_metadata({b"vectorize_part": empty.encode()})
    doc = json.loads((out / "_SUCCESS").read_text())
    doc.update(rows=0, part_checks={"part-00000.parquet": json.loads(empty)})
    (out / "_SUCCESS").write_text(json.dumps(doc))
    r = invoke("search", "cats", "-D", str(out), "-F", "json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout) == {"query": "cats", "hits": []}


@pytest.mark.parametrize("where", ["header", "middle", "cut"])
def test_a_damaged_index_file_is_one_error_never_a_crash(minilm, tmp_path, where):
    pytest.importorskip("usearch")
    import subprocess
    import sys

    from conftest import ROOT

    out = embedded(tmp_path)
    assert invoke("index", str(out)).exit_code == 0
    graph = out / "_index.usearch"
    data = bytearray(graph.read_bytes())
    if where == "cut":
        data = data[: len(data) // 2]
    else:
        data[8 if where == "header" else len(data) // 2] ^= 0xFF
    graph.write_bytes(bytes(data))
    p = subprocess.run([sys.executable, "-m", "vectorize_cli", "search", "cats", "-D", str(out), "--ann"],
                       capture_output=True, cwd=ROOT, timeout=300)
    err = p.stderr.decode()
    assert p.returncode == 1, (p.returncode, err)  # never -11 (SIGSEGV)
    assert err.count("\n") == 1 and err.startswith("vectorize: error: ") and "sha256" in err, err


def test_the_index_files_are_names_pyarrow_dataset_skips_and_old_ones_are_refused(minilm, tmp_path):
    pytest.importorskip("usearch")
    import pyarrow.dataset as pads

    out = embedded(tmp_path)
    assert invoke("index", str(out)).exit_code == 0
    assert pads.dataset(str(out)).to_table().num_rows == len(LINES)  # README's example, beside the index
    assert invoke("search", "cats", "-D", str(out), "--ann").exit_code == 0
    for new, old in (("_index.usearch", "index.usearch"), ("_index.json", "index.json")):
        (out / new).rename(out / old)  # as an older version left them
    one_error(invoke("search", "cats", "-D", str(out), "--ann"), 1, "index.usearch", "older version", "vectorize index")
    assert invoke("index", str(out)).exit_code == 0
    assert not (out / "index.usearch").exists() and not (out / "index.json").exists()
    assert invoke("search", "cats", "-D", str(out), "--ann").exit_code == 0


def test_two_real_processes_one_writer(minilm, tmp_path):
    import signal
    import time

    from test_embed import run_cli

    src, out = tmp_path / "in.txt", tmp_path / "ds"
    src.write_text("\n".join(LINES * 40) + "\n", encoding="utf-8")
    p = run_cli(src, "-o", out, "--part-rows", 8)
    deadline = time.monotonic() + 300
    while not (out / "part-00000.parquet").exists() and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        r = invoke("embed", str(src), "-o", str(out), "--force")
        assert p.poll() is None, "the first run finished before the second started"
        one_error(r, 2, f"pid {p.pid}")
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait()
    embed(src, "-o", out, "--part-rows", 8, "--resume")  # its lock died with it
    assert read(out).num_rows == 480 and not (out / ".lock").exists()


@pytest.mark.parametrize("change", [lambda m: m.update(ranges=[[0.0] * 384, [float("inf")] * 384]),
                                    lambda m: m.update(options=None), lambda m: m.update(model={"d": -1})])
def test_resume_checks_the_metadata_it_reuses(minilm, tmp_path, change):
    src, out = tmp_path / "in.txt", tmp_path / "ds"
    src.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    embed(src, "-o", out, "--part-rows", 4, "--precision", "int8")
    (out / "_SUCCESS").unlink()
    for k in range(3):
        m = json.loads(pq.read_schema(out / f"part-0000{k}.parquet").metadata[b"vectorize"])
        change(m)
        rewrite(out / f"part-0000{k}.parquet", meta=m)
    before = files(out)
    one_error(invoke("embed", str(src), "-o", str(out), "--part-rows", "4", "--precision", "int8", "--resume"), 1,
              "part-00000.parquet", "metadata `vectorize`")
    assert files(out) == before


def test_a_refused_embed_leaves_no_directory_it_made(minilm, tmp_path):
    """The run makes -o DIR to lock it; refused after that (here: blank input), the empty DIR goes with it, while
    a DIR that was there before stays."""
    r = invoke("embed", "-", "-o", str(tmp_path / "new"), input="\n  \n")
    assert r.exit_code == 2 and "no text" in r.stderr
    assert not (tmp_path / "new").exists()
    (tmp_path / "mine").mkdir()
    r = invoke("embed", "-", "-o", str(tmp_path / "mine"), input="\n  \n")
    assert r.exit_code == 2 and (tmp_path / "mine").is_dir() and not any((tmp_path / "mine").iterdir())


def test_resume_with_another_model_of_the_same_shape_is_refused(cut, minilm_path, tmp_path, rng):
    """A folder like all-MiniLM-L6-v2 in every file but one weight (same d, pooling, tokenizer): resuming with it
    would append its vectors to MiniLM's. Refused naming the model, nothing written."""
    from safetensors.numpy import load_file, save_file

    from conftest import link_tree

    src, out = cut
    other = link_tree(minilm_path, tmp_path / "other", skip=("model.safetensors",))
    weights = load_file(str(minilm_path / "model.safetensors"))
    name = sorted(weights)[int(rng.integers(0, len(weights)))]
    weights[name] = weights[name] + np.float32(1e-3)
    save_file(weights, str(other / "model.safetensors"))
    before = files(out)
    one_error(invoke("embed", str(src), "-o", str(out), "--part-rows", "4", "--resume", "-m", str(other)), 2,
              "--resume", "model")
    assert files(out) == before


def test_resume_cuts_parts_where_the_first_run_would_have(minilm, tmp_path):
    """The first run stopped after 6 rows with parts of 4 (a signal keeps the rows so far: parts of 4 and 2 rows);
    resumed, the next part ends at row 8, a multiple of 4, as the uninterrupted run's does, so every later part
    holds the same rows as that run's: ids 8-11 in one part, never 6-9 and 10-11."""
    src, out, whole = tmp_path / "in.txt", tmp_path / "ds", tmp_path / "whole"
    src.write_text("\n".join(LINES[:6]) + "\n", encoding="utf-8")
    embed(src, "-o", out, "--part-rows", 4)
    (out / "_SUCCESS").unlink()  # as a run stopped after its 6th row leaves it
    src.write_text("\n".join(LINES) + "\n", encoding="utf-8")  # the same first 6 rows, then the rest
    embed(src, "-o", out, "--part-rows", 4, "--resume")
    embed(src, "-o", whole, "--part-rows", 4)
    ids = [pq.read_table(out / p).column("id").to_pylist() for p in json.loads((out / "_SUCCESS").read_text())["parts"]]
    assert ids == [[0, 1, 2, 3], [4, 5], [6, 7], [8, 9, 10, 11]]
    assert pq.read_table(out / "part-00003.parquet").equals(pq.read_table(whole / "part-00002.parquet"))


def test_an_index_json_nested_too_deep_is_one_line(minilm, tmp_path):
    """Found by the dataset fuzzer: exit 70 (RecursionError) before."""
    pytest.importorskip("usearch")
    out = embedded(tmp_path)
    assert invoke("index", str(out)).exit_code == 0
    (out / "_index.json").write_text("[" * 100_000 + "]" * 100_000)
    one_error(invoke("search", "cats", "-D", str(out), "--ann"), 1, "_index.json", "not valid JSON")
