"""One `vectorize embed` run: inputs -> chunks of rows -> an engine's vectors -> quantized -> Parquet parts.

    rows    = inputs.read_rows(INPUT...)                 (source, line, text), blank texts skipped, id = order
    chunks  = rows cut at multiples of chunk_rows ids    so that a resumed run cuts where the first run did
    vectors = ENGINES[engine](encoder, chunks)           (N, d) float32, in id order (Encoder.encode)
    stored  = PRECISIONS[precision].quantize(vectors, ranges)     (dataset/precision.py)
    writer.Writer -> part-NNNNN.parquet ..., then _SUCCESS       (dataset/writer.py)

int8 / uint8 ranges come from --ranges FILE, or from the first CALIBRATION rows' vectors (all of them in a smaller
corpus: then exactly quantize_embeddings' own default), and are kept in the metadata, which a resumed run reuses.
"""

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import numpy as np

from vectorize_cli import __version__
from vectorize_cli.config import ModelConfig
from vectorize_cli.corpus import inputs
from vectorize_cli.dataset import lock
from vectorize_cli.dataset import writer as dataset
from vectorize_cli.dataset.format import FORMAT, ROW_GROUP, Chunk, Embedded, rows_digest, schema
from vectorize_cli.dataset.precision import PRECISIONS, calibrate, read_ranges
from vectorize_cli.encoder import Encoder
from vectorize_cli.errors import UsageError

CALIBRATION = 8192  # rows whose vectors give the int8 / uint8 ranges when --ranges is not given
RESUME_KEYS = ("inputs", "column", "text")  # options a resumed run must share with the first (besides the model)


def _local():
    from vectorize_cli.corpus import local

    return local.embed_chunks


def _ray():
    from vectorize_cli.corpus import ray_engine

    ray_engine.import_ray()  # missing: the error naming the extra, before anything is written
    return ray_engine.embed_chunks


ENGINES: dict[str, Callable[[], Callable[..., Iterator[Embedded]]]] = {"local": _local, "ray": _ray}


@dataclass
class Job:
    inputs: list[str]  # INPUT... as given
    out: Path
    model: str  # --model: `minilm` or a folder
    config: ModelConfig  # the encoder's options (attention, backend, device, dtype, batch size)
    precision: str = "float32"
    ranges_file: Path | None = None
    column: str | None = None
    text: bool = True  # keep the text column
    resume: bool = False
    force: bool = False
    part_rows: int = 65536  # rows per part file: at most what a crash loses
    engine: str = "local"
    engine_options: dict = field(default_factory=dict)  # ray: workers, gpus_per_worker, address


@dataclass
class Done:
    rows: int  # rows in the dataset
    written: int  # rows this run wrote
    parts: list[str]
    stats: dict  # what the engine reports (ray: rows per node)
    already: bool = False  # --resume found the dataset complete
    seconds: float = 0.0  # this run's time, from the encoder's opening to _SUCCESS


def chunk_rows(part_rows: int) -> int:
    """Rows embedded at a time: a row group, or a whole part when parts are smaller."""
    if part_rows > ROW_GROUP and part_rows % ROW_GROUP:
        raise UsageError(f"--part-rows {part_rows}: give at most {ROW_GROUP} or a multiple of it")
    return min(part_rows, ROW_GROUP)


def metadata(job: Job, encoder: Encoder, ranges: np.ndarray | None) -> dict:
    """The parts' metadata: the encoder's record (model, attention, backend, device, dtype: what `search` opens
    to embed its queries), the precision and its ranges, and the options that made the dataset."""
    return {"format": FORMAT, "tool_version": __version__, **encoder.record(), "precision": job.precision,
            "ranges": None if ranges is None else ranges.tolist(),
            "options": {"inputs": job.inputs, "column": job.column, "text": job.text, "part_rows": job.part_rows,
                        "engine": job.engine, "batch_size": job.config.batch_size,
                        "ranges_file": None if job.ranges_file is None else str(job.ranges_file)}}


def _check_resumable(old: dict, new: dict, out: Path) -> None:
    pairs = [("model", old["model"].get("sha256"), new["model"]["sha256"]), ("precision", old["precision"],
             new["precision"]), ("attention", old.get("attention"), new["attention"]),
             ("dtype", old.get("dtype", "float32"), new["dtype"]),  # datasets before --dtype: float32
             ("prompt", old.get("prompt", ""), new["prompt"]),  # before prompts: none
             ("truncate_dim", old.get("truncate_dim"), new["truncate_dim"])]
    pairs += [(k, old.get("options", {}).get(k), new["options"].get(k)) for k in RESUME_KEYS]
    for name, a, b in pairs:
        if a != b:
            raise UsageError(f"--resume: {out} was made with {name} {a!r}, not {b!r}; give the same, or --force")


def chunks(rows: Iterator[inputs.Row], first_id: int, size: int, on_row) -> Iterator[Chunk]:
    """Rows from id first_id on, cut where ids reach multiples of size."""
    i = first_id
    while True:
        take = list(islice(rows, size - i % size))
        if not take:
            return
        for r in take:
            on_row(r)
        yield Chunk(np.arange(i, i + len(take), dtype=np.int64), [r.source for r in take],
                    np.array([r.line for r in take], dtype=np.int64), [r.text for r in take])
        i += len(take)


def _skip(rows: Iterator[inputs.Row], existing: dataset.Existing, out: Path, advance) -> None:
    """The rows already in the dataset, part by part: each part's rows as the inputs give them now must hash to
    the digest its footer recorded (format.rows_digest), and the last must be the row the dataset ends with.
    Parts an older version wrote record no digest: their last row alone is compared."""
    import hashlib

    checked = None not in existing.checks
    counts = [c["rows"] for c in existing.checks] if checked else [existing.rows]
    seen, at = None, 0
    for k, n in enumerate(counts):
        take = list(islice(rows, n))
        for seen in take:
            advance(seen.size)
        if checked:
            h = hashlib.sha256()
            rows_digest(h, [r.source for r in take], [r.line for r in take], [r.text for r in take])
            if len(take) != n or h.hexdigest() != existing.checks[k]["rows_sha256"]:
                raise UsageError(f"--resume: {out / existing.parts[k]} holds rows {at}..{at + n - 1} of other inputs "
                                 "than these (a line inserted, deleted or changed?); give the same inputs, or --force")
        at += n
    got = None if seen is None else (seen.source, seen.line)
    last = existing.last
    if existing.rows and got != last:
        raise UsageError(f"--resume: the dataset's row {existing.rows - 1} is {last[0]} line {last[1]}, but the "
                         f"inputs give {'no such row' if got is None else f'{got[0]} line {got[1]}'}: not the same "
                         "inputs")


def _check_not_inside(found: list[inputs.Input], paths: list[str], out: Path) -> None:
    """-o DIR neither inside an input directory (the walk would read the dataset's own parts) nor holding an
    input file (--force would delete it)."""
    dest = out.resolve()
    for p in paths:
        if p != inputs.STDIN and Path(p).is_dir() and dest.is_relative_to(Path(p).resolve()):
            raise UsageError(f"-o {out} is inside the input directory {p}: the dataset would read itself; "
                             "write it elsewhere")
    for i in found:
        if i.source != inputs.STDIN and Path(i.source).resolve().is_relative_to(dest):
            raise UsageError(f"-o {out} holds the input {i.source}; write the dataset elsewhere")


class _Counted:
    """Each row's bytes, told to advance(bytes) as the row is embedded: batch by batch where the engine says
    (on_rows), else when its chunk comes back (a progress bar that moves every batch, not every chunk)."""

    def __init__(self, advance: Callable[[int], None]):
        self.advance, self.sizes, self.in_chunk = advance, deque(), 0

    def read(self, row: inputs.Row) -> None:
        self.sizes.append(row.size)

    def on_rows(self, n: int) -> None:
        for _ in range(min(n, len(self.sizes))):
            self.advance(self.sizes.popleft())
        self.in_chunk += n

    def chunk_done(self, n: int) -> None:
        self.on_rows(max(0, n - self.in_chunk))
        self.in_chunk = 0


def embed_corpus(job: Job, advance=lambda n: None) -> Done:
    """The dataset in job.out, complete; advance(bytes) is told each row embedded (a progress bar)."""
    import time

    t0 = time.perf_counter()
    if job.engine not in ENGINES:
        raise UsageError(f"unknown engine {job.engine!r}; choose from: {', '.join(ENGINES)}")
    found = inputs.resolve_inputs(job.inputs)
    if job.column is not None and all(i.kind == "text" for i in found):
        raise UsageError("--column applies to .jsonl, .csv and .parquet inputs")
    if job.resume and job.force:
        raise UsageError("give --resume or --force, not both")
    for i in found if job.resume else ():
        if i.stream():
            raise UsageError(f"--resume reads the inputs again, which needs files: "
                             f"{'stdin' if i.source == inputs.STDIN else i.source} is a stream (save it to a file)")
    _check_not_inside(found, job.inputs, job.out)
    size = chunk_rows(job.part_rows)
    inputs.import_pyarrow()
    embed_chunks = ENGINES[job.engine]()  # a missing extra fails here, before the directory is touched
    encoder = Encoder.open(job.model, job.config).for_task("document")  # the model's document prompt, if any
    p = PRECISIONS[job.precision]
    ranges = read_ranges(job.ranges_file, encoder.d) if job.ranges_file is not None and p.calibrated else None
    with lock.locked(job.out):  # a second embed into DIR is refused, naming this one's pid
        return _embed(job, found, encoder, ranges, size, embed_chunks, advance, t0)


def _embed(job: Job, found, encoder: Encoder, ranges, size: int, embed_chunks, advance, t0: float) -> Done:
    """embed_corpus's work, with job.out locked."""
    import time

    d = encoder.d
    p = PRECISIONS[job.precision]
    existing = dataset.prepare(job.out, job.resume, job.force)
    meta = metadata(job, encoder, ranges)
    if existing.meta is not None:
        _check_resumable(existing.meta, meta, job.out)
        meta = existing.meta  # every part has the same metadata, ranges included
        ranges = None if meta["ranges"] is None else np.asarray(meta["ranges"], dtype=np.float32)
    rows = inputs.read_rows(found, job.column)
    if existing.complete:
        dataset.check_complete(job.out, existing)  # _SUCCESS believed only when the parts match it
        _skip(rows, existing, job.out, advance)
        return Done(existing.rows, 0, existing.parts, {}, already=True, seconds=time.perf_counter() - t0)
    _skip(rows, existing, job.out, advance)
    counted = _Counted(advance)
    stats: dict = {}
    writer = None
    pending: list[Embedded] = []  # embedded before the ranges are known

    def write(e: Embedded) -> None:
        nonlocal writer
        if writer is None:
            writer = dataset.Writer(job.out, schema(d, job.precision, job.text, meta), job.part_rows,
                                    len(existing.parts), existing.rows)
        writer.write(e, p.quantize(e.vectors, ranges))

    def calibrated() -> None:
        nonlocal ranges, meta
        ranges = calibrate(np.concatenate([e.vectors for e in pending]))  # (2, d)
        meta = {**meta, "ranges": ranges.tolist()}
        for e in pending:
            write(e)
        pending.clear()

    written = 0
    try:
        for e in embed_chunks(encoder, chunks(rows, existing.rows, size, counted.read), stats=stats, out=job.out,
                              size=size, on_rows=counted.on_rows, **job.engine_options):
            counted.chunk_done(len(e.chunk.ids))
            written += len(e.chunk.ids)
            if p.calibrated and ranges is None:
                pending.append(e)
                if sum(len(x.chunk.ids) for x in pending) >= CALIBRATION:
                    calibrated()
            else:
                write(e)
        if pending:
            calibrated()
    finally:
        if writer is not None:
            writer.close()  # the rows written so far stay, as a complete part
    total = existing.rows + written
    if total == 0:
        raise UsageError("no text: the inputs are empty or blank")
    dataset.finish(job.out, total, job.precision, d, meta["model"]["sha256"])
    return Done(total, written, sorted(q.name for q in job.out.glob("part-*.parquet")), stats,
                seconds=time.perf_counter() - t0)
