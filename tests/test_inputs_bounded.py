"""Hostile input, round three (issue 26): readers that bound their input. Nesting and numbers beyond what
Python's json takes, lone surrogates, a damaged Parquet page, --ranges beyond float32: one line naming the file
and line (or row), exit 1, the parts already written kept; a pipe (`<(cat FILE)`) read as a stream."""

import json
import os
import threading

import pytest

from test_cli import invoke
from test_embed import embed, one_error, read

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

LINES = [f"sentence number {i} about cats and dogs" for i in range(12)]
GOOD = "".join(json.dumps({"text": t}) + "\n" for t in LINES)  # lines 1..12
BAD_LINE = {
    "deep": '{"text": "a", "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "digits": '{"text": "a", "n": ' + "9" * 5000 + "}",
    "surrogate": '{"text": "a \\ud800 b"}',
}


@pytest.mark.parametrize("case", BAD_LINE)
def test_a_hostile_jsonl_line_is_one_error_naming_its_line_and_keeps_the_parts(minilm, tmp_path, case):
    src, out = tmp_path / "in.jsonl", tmp_path / "ds"
    src.write_text(GOOD + BAD_LINE[case] + "\n", encoding="utf-8")
    r = invoke("embed", str(src), "-o", str(out), "--part-rows", "4")
    one_error(r, 1, f"{src} line 13")
    assert "tokenizer" not in r.stderr
    assert sorted(x.name for x in out.iterdir()) == [f"part-0000{k}.parquet" for k in range(3)]  # 12 rows kept


@pytest.mark.parametrize("back", [36, 10])  # in a page header (a three-line message), in its values (checksum)
def test_a_damaged_parquet_page_is_one_line_naming_the_file(minilm, tmp_path, back):
    src = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": LINES * 50}), src, compression="snappy", write_page_checksum=True)
    col = pq.read_metadata(src).row_group(0).column(0)
    data = bytearray(src.read_bytes())
    at = (col.dictionary_page_offset or col.data_page_offset) + col.total_compressed_size - back
    data[at] ^= 0xFF
    src.write_bytes(bytes(data))
    r = invoke("embed", str(src), "-o", str(tmp_path / "ds"))
    one_error(r, 1, str(src), "row")
    assert not (tmp_path / "ds" / "_SUCCESS").exists()


@pytest.mark.parametrize("value", [1e39, -1e39])
def test_ranges_beyond_float32_are_refused(minilm, tmp_path, value):
    (tmp_path / "in.txt").write_text("one\ntwo\n", encoding="utf-8")
    lo, hi = [-1.0] * 384, [1.0] * 384
    (lo if value < 0 else hi)[5] = value
    (tmp_path / "r.json").write_text(json.dumps([lo, hi]), encoding="utf-8")
    r = invoke("embed", str(tmp_path / "in.txt"), "-o", str(tmp_path / "ds"), "--precision", "int8",
               "--ranges", str(tmp_path / "r.json"))
    one_error(r, 2, "r.json", "float32")
    assert not (tmp_path / "ds").exists()


def _fifo(tmp_path, data: bytes):
    """A named pipe with data written into it by a thread (as `<(cat FILE)` gives /dev/fd/N)."""
    path = tmp_path / "pipe.txt"
    os.mkfifo(path)

    def feed():
        with open(path, "wb") as f:
            f.write(data)

    threading.Thread(target=feed, daemon=True).start()
    return path


def test_a_pipe_is_read_as_a_stream_and_resume_needs_a_file(minilm, tmp_path):
    text = "\n".join(LINES) + "\n"
    (tmp_path / "in.txt").write_text(text, encoding="utf-8")
    embed(tmp_path / "in.txt", "-o", tmp_path / "file")
    embed(_fifo(tmp_path, text.encode()), "-o", tmp_path / "pipe")
    a, b = read(tmp_path / "file"), read(tmp_path / "pipe")
    assert a.drop_columns(["source"]).equals(b.drop_columns(["source"]))
    os.unlink(tmp_path / "pipe.txt")
    r = invoke("embed", str(_fifo(tmp_path, text.encode())), "-o", str(tmp_path / "pipe"), "--resume")
    one_error(r, 2, "--resume", "pipe.txt", "file")
    r = invoke("embed", "-", "-o", str(tmp_path / "stdin"), "--resume", input=text)
    one_error(r, 2, "--resume", "stdin", "file")
