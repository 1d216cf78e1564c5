"""`vectorize verify DIR` (issue 26): a dataset and its index checked whole. Sound: exit 0 and one line (or the JSON
record); each damage: a line naming the file (and row group) on stdout, every problem listed, then one
`vectorize: error:` line on stderr and exit 1. The references are pyarrow's own reading of the parts and their
bytes changed on disk, never the checker's internals."""

import json
import shutil

import numpy as np
import pytest

from test_cli import invoke
from test_dataset_hostile import LINES, rewrite
from test_embed import embed

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


@pytest.fixture(scope="module")
def made(minilm, tmp_path_factory):
    """LINES embedded in parts of 4 rows (3 parts), float32 and int8, each with its HNSW index."""
    tmp = tmp_path_factory.mktemp("verify")
    src = tmp / "in.txt"
    src.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    for precision in ("float32", "int8"):
        embed(src, "-o", tmp / precision, "--part-rows", 4, "--precision", precision)
        if pytest.importorskip("usearch"):
            assert invoke("index", str(tmp / precision)).exit_code == 0
    return tmp


@pytest.fixture(params=["float32", "int8"])
def ds(made, tmp_path, request):
    """A fresh copy of a made dataset, to damage."""
    out = tmp_path / "ds"
    shutil.copytree(made / request.param, out)
    return out


def verify(ds, *args):
    return invoke("verify", str(ds), *args)


def problems(ds, n: int) -> list[str]:
    """The report of a damaged dataset: n problem lines on stdout, one error line on stderr, exit 1."""
    r = verify(ds)
    assert r.exit_code == 1, (r.exit_code, r.stdout, r.stderr)
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vectorize: error: ") and f"{n} problem" in err[0], r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == n, r.stdout
    record = json.loads(verify(ds, "-F", "json").stdout)
    assert record["problems"] == lines and record["sound"] is False
    return lines


def test_a_sound_dataset_and_its_index(ds):
    r = verify(ds)
    assert (r.exit_code, r.stderr) == (0, ""), r.stderr
    assert r.stdout.count("\n") == 1 and "sound: 12 rows in 3 parts" in r.stdout and "index sound" in r.stdout
    record = json.loads(verify(ds, "-F", "json").stdout)
    t = pq.read_table(ds / "part-00000.parquet")
    d = json.loads(t.schema.metadata[b"vectorize"])["model"]["d"]
    assert record == {"dataset": str(ds), "sound": True, "rows": len(LINES), "parts": 3,
                      "precision": json.loads((ds / "_SUCCESS").read_text())["precision"], "d": d,
                      "index": "sound", "problems": []}
    assert json.loads(verify(ds, "-F", "jsonl").stdout) == record


def _flip_in_vector_page(part, rng) -> None:
    col = pq.read_metadata(part).row_group(0).column(4)
    assert col.path_in_schema.startswith("vector")
    start = col.dictionary_page_offset or col.data_page_offset
    data = bytearray(part.read_bytes())
    data[start + col.total_compressed_size - 1 - int(rng.integers(0, 32))] ^= 1 << int(rng.integers(0, 8))
    part.write_bytes(bytes(data))


def test_every_damaged_part_is_listed_and_the_sound_ones_are_not(ds, rng):
    """Two parts with a flipped bit inside a data page: two lines, each naming its part; part 1 not named."""
    for k in (0, 2):
        _flip_in_vector_page(ds / f"part-0000{k}.parquet", rng)
    lines = problems(ds, 2)
    assert "part-00000.parquet (row group 0)" in lines[0] and "part-00002.parquet (row group 0)" in lines[1]
    assert all("CRC" in line or "checksum" in line for line in lines), lines


def test_rows_that_are_not_the_ones_the_footer_recorded(ds):
    """A text changed inside a part, its footer kept: pyarrow reads it fine, search would too; its digest does not
    match (the rows it claims to have been made from are not these)."""
    part = ds / "part-00001.parquet"
    t = pq.read_table(part)
    texts = t.column("text").to_pylist()
    texts[2] = texts[2].replace("cats", "bats")
    rewrite(part, t.set_column(t.schema.get_field_index("text"), t.schema.field("text"), pa.array(texts)))
    assert invoke("search", "cats", "-D", str(ds)).exit_code == 0  # the damage search cannot see
    (line,) = problems(ds, 1)
    assert "part-00001.parquet" in line and "rows_sha256" in line


def test_ids_out_of_order(ds):
    part = ds / "part-00001.parquet"
    t = pq.read_table(part)
    ids = t.column("id").to_numpy()[::-1].copy()
    rewrite(part, t.set_column(0, t.schema.field("id"), pa.array(ids)))
    (line,) = problems(ds, 1)
    assert "part-00001.parquet (row group 0)" in line and "ids do not run on from 4" in line


def test_a_non_finite_vector(made, tmp_path, rng):
    out = tmp_path / "ds"
    shutil.copytree(made / "float32", out)
    part = out / "part-00002.parquet"
    t = pq.read_table(part)
    x = t.column("vector").combine_chunks().values.to_numpy().copy()
    x[int(rng.integers(0, x.size))] = rng.choice([np.inf, -np.inf, np.nan])
    vec = pa.FixedSizeListArray.from_arrays(pa.array(x), 384)
    rewrite(part, t.set_column(t.schema.get_field_index("vector"), t.schema.field("vector"), vec))
    (line,) = problems(out, 1)
    assert "part-00002.parquet" in line and "not finite" in line


def test_success_that_disagrees_with_the_parts(ds):
    doc = json.loads((ds / "_SUCCESS").read_text())
    (ds / "_SUCCESS").write_text(json.dumps({**doc, "rows": doc["rows"] + 1}))
    (line,) = problems(ds, 1)
    assert "_SUCCESS: rows is 13, the parts say 12" in line


def test_a_missing_part_and_a_missing_success(ds):
    (ds / "part-00001.parquet").unlink()
    missing, gap = problems(ds, 2)  # the part is not there, and the ids jump over its rows
    assert "_SUCCESS: parts lists part-00001.parquet, which is missing" in missing
    assert "part-00002.parquet (row group 0): ids do not run on from 4" in gap
    (ds / "_SUCCESS").unlink()
    assert "partial" in problems(ds, 2)[0]


@pytest.mark.parametrize("damage", ["byte", "other-dataset"])
def test_an_index_that_is_damaged_or_belongs_to_another_dataset(ds, made, damage):
    pytest.importorskip("usearch")
    if damage == "byte":
        graph = ds / "_index.usearch"
        data = bytearray(graph.read_bytes())
        data[len(data) // 2] ^= 0xFF
        graph.write_bytes(bytes(data))
    else:  # the other precision's index, whole: its own digest is right, its dataset is not this one
        other = "int8" if json.loads((ds / "_SUCCESS").read_text())["precision"] == "float32" else "float32"
        for name in ("_index.usearch", "_index.json"):
            shutil.copy(made / other / name, ds / name)
    (line,) = problems(ds, 1)
    assert "_index.usearch" in line and ("sha256" in line if damage == "byte" else "stale" in line)
    assert json.loads(verify(ds, "-F", "json").stdout)["index"] == "damaged"


def test_not_a_directory_is_one_line(tmp_path):
    r = verify(tmp_path / "nothing")
    assert r.exit_code == 1 and r.stdout == "" and r.stderr.count("\n") == 1 and "no such directory" in r.stderr
