"""`vectorize verify DIR`: every check a dataset (dataset/format.py) and its index can be put to, each failure one
line (a problem), none stopping the checks that do not depend on it.

    _SUCCESS    there, JSON, against the schema (validate.check_success); its rows, precision, d and model_sha256
                those the parts say
    each part   opened and checked as search opens it (reader.open_part: metadata against the schema and equal to
                the first part's, columns of the precision's type and width, footer rows and digest as _SUCCESS
                recorded them); then every row group read whole, every page's CRC verified (reader.read_block:
                float32 vectors finite too); ids 0..rows-1 in order across the parts; the footer's rows_sha256
                recomputed from the rows' source, line and text (when the text is stored: format.rows_digest)
    the model   the one the metadata names, opened as `search` opens it: the same weights and config (when the
                dataset is sound; encoder.config_differences)
    the index   when there (_index.usearch, _index.json): loaded as `search --ann` loads it (ann.load_index: built
                from this very _SUCCESS, its rows, the graph file's sha256 the one recorded, as many vectors as rows);
                checked only when the dataset itself is sound; an older version's names are a problem
"""

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vectorize_cli.dataset.format import INDEX_FILES, OLD_INDEX_FILES, SUCCESS, import_pyarrow, rows_digest
from vectorize_cli.errors import VectorizeError, short


@dataclass
class Report:
    """What verify found: the problems (one line each) and, as far as they could be read, the dataset's sizes."""

    path: Path
    problems: list[str] = field(default_factory=list)
    rows: int = 0  # rows the parts hold (their footers)
    parts: int = 0  # part files there
    precision: str | None = None
    d: int | None = None
    index: str = "none"  # none | sound | damaged | not checked (the dataset has problems)

    @property
    def sound(self) -> bool:
        return not self.problems

    def record(self) -> dict:
        return {"dataset": str(self.path), "sound": self.sound, "rows": self.rows, "parts": self.parts,
                "precision": self.precision, "d": self.d, "index": self.index, "problems": self.problems}


def check_dataset(path: Path) -> Report:
    """DIR checked whole (see above) -> its Report; a path that is no directory is a VectorizeError."""
    from vectorize_cli.dataset.reader import RowGroup, one_line, open_part, read_block
    from vectorize_cli.dataset.validate import check_success, read_success

    import_pyarrow("verify", "search")
    if not path.is_dir():
        raise VectorizeError(f"dataset {path}: no such directory")
    report = Report(path)
    problems = report.problems
    marker = path / SUCCESS
    on_disk = sorted(p.name for p in path.glob("part-*.parquet"))
    report.parts = len(on_disk)
    success = None
    if not marker.is_file():
        problems.append(f"dataset {path} is partial (no {SUCCESS}); finish it with `vectorize embed --resume`"
                        if on_disk else f"dataset {path}: not a vectorize dataset (no {SUCCESS}, no parts)")
    else:
        try:
            success = read_success(marker)
            check_success(success, marker, on_disk)
        except VectorizeError as e:
            problems.append(str(e))
            success = None  # not the schema's: the parts are not compared with it
    meta, next_id, unopened = None, 0, 0
    for name in on_disk:
        part = path / name
        try:
            f, m = open_part(part, success, meta)
        except VectorizeError as e:
            problems.append(str(e))
            unopened += 1
            continue
        meta = m
        report.rows += f.metadata.num_rows
        footer = (f.metadata.metadata or {}).get(b"vectorize_part")
        h, text = hashlib.sha256(), "text" in f.schema_arrow.names
        for g in range(f.num_row_groups):
            n = f.metadata.row_group(g).num_rows
            try:
                cols = read_block(RowGroup(part, g, n), list(f.schema_arrow.names))
            except VectorizeError as e:
                problems.append(str(e))
                next_id, text = next_id + n, False  # the digest cannot be recomputed
                continue
            if not np.array_equal(cols["id"], np.arange(next_id, next_id + n)):
                problems.append(f"{part} (row group {g}): ids do not run on from {next_id} in order")
            next_id += n
            if text:
                rows_digest(h, cols["source"], cols["line"], cols["text"])
        if text and footer is not None:
            try:
                recorded = json.loads(footer)["rows_sha256"]
            except (ValueError, TypeError, KeyError, RecursionError):
                problems.append(f"{part}: footer `vectorize_part` is not {{rows, rows_sha256}}")
                continue
            if recorded != h.hexdigest():
                problems.append(f"{part}: its rows (source, line, text) are not the ones its footer's rows_sha256 "
                                "recorded")
    if meta is not None:
        report.precision, report.d = meta["precision"], meta["model"]["d"]
        if success is not None:
            agree = {"precision": report.precision, "d": report.d, "model_sha256": meta["model"].get("sha256")}
            agree.update({} if unopened else {"rows": report.rows})  # rows: only when every part could be counted
            problems += [f"{marker}: {key} is {short(success.get(key))}, the parts say {short(value)}"
                         for key, value in agree.items() if success.get(key) != value]
    elif on_disk == [] and success is not None:
        problems.append(f"{marker}: parts lists no parts (a dataset of no rows has one part of no rows)")
    _check_model(path, report)
    _check_index(path, report, one_line)
    return report


def _check_model(path: Path, report: Report) -> None:
    """The model the dataset records, opened as `search` opens it for its queries (query.query_encoder): there,
    the same weights (sha256) and the same config (encoder.config_differences); checked when the dataset is sound."""
    if report.problems:
        return
    from vectorize_cli.dataset.reader import open_dataset
    from vectorize_cli.search.query import query_encoder

    try:
        query_encoder(open_dataset(path), None)
    except VectorizeError as e:
        report.problems.append(str(e))


def _check_index(path: Path, report: Report, one_line) -> None:
    """The index beside the dataset, if any: loaded as `search --ann` loads it (the dataset must be sound)."""
    old = [n for n in OLD_INDEX_FILES if (path / n).exists()]
    if old:
        report.problems.append(f"index file {path / old[0]}: an older version's name, which pyarrow's dataset reads "
                               f"as data; rebuild it with `vectorize index {path}`")
    if not any((path / n).exists() or (path / n).is_symlink() for n in INDEX_FILES):
        report.index = "damaged" if old else "none"
        return
    if report.problems:
        report.index = "not checked"
        return
    from vectorize_cli.dataset.reader import open_dataset
    from vectorize_cli.search.ann import EXPANSION_SEARCH, load_index

    try:
        load_index(open_dataset(path), EXPANSION_SEARCH)
        report.index = "sound"
    except (VectorizeError, OSError) as e:
        report.problems.append(one_line(e) if not isinstance(e, VectorizeError) else str(e))
        report.index = "damaged"
