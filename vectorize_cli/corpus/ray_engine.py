"""The Ray engine (--engine ray): the rows through an actor pool of model replicas with Ray Data, on this machine
or a running cluster (--address).

    driver   rows -> DIR/.staging/chunk-NNNNN.parquet           (the inputs read and checked once, streaming)
    Ray Data from_items(paths).map_batches(read, on this node)  each staged file read on the driver's node
             .map_batches(Embedder, concurrency=--workers)      each actor loads the model once, anywhere
             .iter_batches() -> driver                          streamed back in id order, with backpressure
    driver   quantize, dataset.Writer                           the same parts as the local engine

Only the driver touches DIR, so the cluster needs no shared filesystem. Each batch also reports the node that
embedded it (rows per node, in the run's stats).

Failing fast: --address HOST:PORT is probed with a plain TCP connect (CONNECT_S) before Ray is asked (whose own
retries take minutes); the cluster's resources (ray.cluster_resources()) must hold the workers' CPUs and GPUs, or
the run is refused instead of waiting forever; Ray's SIGTERM handler (ray.init's sys.exit(15)) is replaced by
ours again (exit 143, one line); Ray's own log lines are kept off stderr (errors.kept_off_stderr).
"""

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from vectorize_cli.config import ModelConfig
from vectorize_cli.dataset.format import Chunk, Embedded
from vectorize_cli.encoder import Encoder
from vectorize_cli.errors import UsageError, VectorizeError, kept_off_stderr

WORKER_CPUS = 1  # Ray's CPU accounting for one worker; it runs its batches on all of its node's cores anyway
CONNECT_S = 5.0  # --address: a head that does not accept a TCP connection in this long is not there


def import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise VectorizeError("--engine ray needs Ray Data: pip install 'vectorize-cli[ray]'") from None
    return ray


class Embedder:
    """One model replica (a Ray actor): opens the encoder once, then embeds batch after batch."""

    # set on a subclass per run (see embed_chunks()): no constructor arguments to keep in the object store
    source: str  # the model, as the driver's encoder names it (`minilm` or a folder every node can read)
    config: ModelConfig  # the driver's encoder's options

    def __init__(self):
        import ray

        self.encoder = Encoder.open(self.source, self.config)
        self.node = ray.get_runtime_context().get_node_id()

    def __call__(self, batch: dict) -> dict:
        texts = [str(t) for t in batch["text"]]
        e = self.encoder.encode(texts)
        return {**batch, "vector": e.vectors, "n_tokens": e.n_tokens, "truncated": e.truncated,
                "node": np.full(len(texts), self.node)}


def _read_staged(batch: dict):
    """One staged file's rows (a Ray Data batch of one path)."""
    import pyarrow.parquet as pq

    return pq.read_table(str(batch["path"][0]))


def _stage(chunks: Iterator[Chunk], staging: Path) -> int:
    """The rows as Parquet files the cluster reads; returns how many rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from vectorize_cli import sink

    staging.mkdir()
    n = 0
    for k, c in enumerate(chunks):
        table = pa.table({"id": pa.array(c.ids, pa.int64()), "source": pa.array(c.sources, pa.string()),
                          "line": pa.array(c.lines, pa.int64()), "text": pa.array(c.texts, pa.string())})
        with sink.open_file(staging / f"chunk-{k:05d}.parquet", False) as f:
            pq.write_table(table, f)
        n += len(c.ids)
    return n


def _probe(address: str) -> None:
    """HOST:PORT accepts a TCP connection within CONNECT_S, or one line now (ray:// and `auto` are Ray's to find)."""
    import socket

    host, _, port = address.rpartition(":")
    if "://" in address or address == "auto":
        return
    if not host or not port.isdigit():
        raise UsageError(f"--address {address!r}: expected HOST:PORT (the Ray head, e.g. HEAD:6379)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_S).close()
    except OSError as e:
        why = "no answer" if isinstance(e, TimeoutError) else e.strerror or str(e)
        raise VectorizeError(f"cannot join Ray at {address}: {why} (is a Ray head running there?)") from None


def _connect(ray, address: str | None) -> bool:
    """Join the cluster at address, or start Ray on this machine alone; True when this call started it."""
    if ray.is_initialized():
        return False
    import logging
    import signal
    import warnings

    from ray.util.annotations import RayDeprecationWarning

    from vectorize_cli import sink

    warnings.filterwarnings("ignore", module="ray")  # Ray's notes on its own API are not the user's business
    warnings.filterwarnings("ignore", category=RayDeprecationWarning)
    kwargs = {"log_to_driver": False, "logging_level": logging.ERROR}
    if address is not None:
        _probe(address)
    try:
        if address is not None:
            ray.init(address=address, **kwargs)
        else:
            ray.init(include_dashboard=False, **kwargs)  # this machine only
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise VectorizeError(f"cannot start or join Ray{f' at {address}' if address else ''}: {e}") from None
    except SystemExit as e:  # SIGTERM while ray.init ran: its own handler's sys.exit(15)
        if e.code == signal.SIGTERM:
            raise sink.Terminated(signal.SIGTERM) from None
        raise
    finally:
        sink.install_signal_handlers()  # ours again: SIGTERM is exit 143 and one line, not Ray's exit 15
    return True


def _check_resources(ray, workers: int, gpus_per_worker: float) -> None:
    """The cluster holds what the actor pool asks for (Ray would wait for it forever, silently)."""
    have = ray.cluster_resources()
    for name, each in (("CPU", WORKER_CPUS), ("GPU", gpus_per_worker)):
        if each and have.get(name, 0) < workers * each:
            raise VectorizeError(f"the Ray cluster has {have.get(name, 0):g} {name}s; --workers {workers} need "
                                 f"{workers * each:g} ({each:g} each): give fewer workers or "
                                 f"{'--gpus-per-worker 0' if name == 'GPU' else 'a larger cluster'}")


def embed_chunks(encoder: Encoder, chunks: Iterator[Chunk], stats: dict, out: Path, size: int, workers: int = 2,
          gpus_per_worker: float = 0, address: str | None = None, on_rows=None) -> Iterator[Embedded]:
    """Each chunk embedded by the actor pool, in id order; stats["rows_per_node"] counts rows per node id
    (on_rows: the rows are counted as each chunk comes back, not batch by batch)."""
    ray = import_ray()
    from vectorize_cli.dataset.format import STAGING

    staging = out / STAGING
    with kept_off_stderr():  # Ray's log lines (its C++ core's too); tell() still reaches the real stderr
        yield from _run(ray, encoder, chunks, stats, staging, size, workers, gpus_per_worker, address)


def _run(ray, encoder, chunks, stats, staging, size, workers, gpus_per_worker, address) -> Iterator[Embedded]:
    import logging

    from ray.data import DataContext

    from vectorize_cli.dataset.writer import clear

    started = _connect(ray, address)
    try:
        _check_resources(ray, workers, gpus_per_worker)
        if _stage(chunks, staging) == 0:
            return
        ctx = DataContext.get_current()
        ctx.execution_options.preserve_order = True  # ids leave in the order they came in
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
        for name in ("ray", "ray.data"):
            logging.getLogger(name).setLevel(logging.ERROR)
        # the staged files are read on this node, by tasks that hold no CPU (read_parquet's file listing would
        # hold one, which one-CPU nodes whose CPU a worker holds never free)
        here = {"ray.io/node-id": ray.get_runtime_context().get_node_id()}
        files = [{"path": str(p.resolve())} for p in sorted(staging.glob("chunk-*.parquet"))]
        ds = ray.data.from_items(files, override_num_blocks=len(files))
        ds = ds.map_batches(_read_staged, batch_size=1, num_cpus=0, label_selector=here)
        replica = type("Embedder", (Embedder,), {"source": encoder.record()["model"]["source"],
                                                  "config": encoder.config})
        ds = ds.map_batches(replica, batch_size=size, batch_format="numpy",
                            compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=WORKER_CPUS,
                            num_gpus=gpus_per_worker or None,
                            ray_remote_args_fn=lambda: {"scheduling_strategy": "SPREAD"})  # one per node first
        per_node = stats.setdefault("rows_per_node", {})
        for b in ds.iter_batches(batch_size=size, batch_format="numpy"):
            for node, n in zip(*np.unique(b["node"], return_counts=True)):
                per_node[str(node)] = per_node.get(str(node), 0) + int(n)
            chunk = Chunk(b["id"].astype(np.int64), [str(s) for s in b["source"]], b["line"].astype(np.int64),
                          [str(t) for t in b["text"]])
            yield Embedded(chunk, np.asarray(b["vector"], dtype=np.float32), b["n_tokens"].astype(np.int32),
                           b["truncated"].astype(bool))
    finally:
        clear(staging)
        if started:
            ray.shutdown()
