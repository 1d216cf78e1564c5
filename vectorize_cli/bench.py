"""`vectorize bench`: time and memory of the attention variants against sequence length.

For every variant x backend x device x length: one warm-up, then `repeat` timed runs of the
attention step (parameters cached, input random and seeded), their median and spread; one more
run measures the peak memory it allocates; and the output's max |Δ| against a float64 computation
of the same function. A case the memory guard would refuse is reported as skipped, with the
estimate: that is the quadratic wall of explicit attention, which flash does not hit.
"""

import statistics
import time
import tracemalloc
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial

import numpy as np

from vectorize_cli import memory
from vectorize_cli.attention.dispatch import ATTENTION_FUNCTIONS
from vectorize_cli.attention.variants import VARIANTS
from vectorize_cli.config import Config
from vectorize_cli.errors import VectorizeError
from vectorize_cli.pipelines.toy import attend


@dataclass(frozen=True)
class Case:
    variant: str
    backend: str
    device: str
    T: int


@dataclass
class Measurement:
    case: Case
    median_s: float | None = None
    min_s: float | None = None
    max_s: float | None = None
    peak_mib: float | None = None  # memory the attention step allocated at its peak; None: not measured
    max_abs_delta: float | None = None  # against float64; None where the reference would not fit
    kernel: str | None = None
    skipped: str | None = None

    def to_dict(self) -> dict:
        return {**vars(self.case), **{k: v for k, v in vars(self).items() if k != "case"}}


@contextmanager
def _quiet_fd2():
    """fd 2 to /dev/null for the block: torch's profiler (kineto) writes a line there at each start and stop."""
    import os
    import sys

    if sys.stderr is not None:
        sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # stderr closed (`2>&-`): nothing to hide
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _torch_cpu_peak(run: Callable[[], object]) -> int | None:
    """Peak bytes held by torch's CPU allocator during run(), above what it held before: the running sum of
    every allocation and free that the profiler records (profile_memory), the fused kernel's buffers
    included. None (not measured) where this torch's profiler does not give those events."""
    from torch.profiler import ProfilerActivity, profile

    with _quiet_fd2(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        run()
    try:
        events = [(e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    except AttributeError:
        return None
    held = peak = 0
    for _, nbytes in sorted(events):
        held += nbytes
        peak = max(peak, held)
    return peak


def _peak_bytes(run: Callable[[], object], backend: str, device: str) -> int | None:
    """Peak bytes allocated during run(): tracemalloc for numpy (it traces numpy's buffers), CUDA's counters
    on a GPU, and torch's profiler for torch on the CPU. (Resident memory would not do for torch: glibc hands
    the buffers of one run to the next from pages already resident, so flash's grew by nothing and read 0.0.)"""
    if device == "cuda":
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        run()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    if backend == "numpy":
        tracemalloc.start()
        try:
            run()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    return _torch_cpu_peak(run)


def _reference64(variant: str, x: np.ndarray, config: Config) -> np.ndarray | None:
    """The same function in float64 (multi-head's parameters through the tiled kernel, which needs
    no T x T matrix), or None where an explicit float64 reference would exceed the memory limit."""
    v = VARIANTS[variant]
    tiled = v.param_group == "multi-head"
    if not tiled and 2 * memory.total(config, x.shape[0]) > config.max_memory:
        return None  # float64 doubles the float32 estimate
    params = {k: a.astype(np.float64) for k, a in v.params(config).items()}
    attend_64 = partial(ATTENTION_FUNCTIONS["tiled" if tiled else "explicit"], causal=config.causal,
                        block_size=config.block_size)
    return v.forward(x.astype(np.float64), params, config, attend_64).y


def measure(case: Case, base: Config, repeat: int, warmup: int) -> Measurement:
    config = replace(base, attention=(case.variant,), backend=case.backend, device=case.device)
    m = Measurement(case)
    need = memory.total(config, case.T)
    if need > config.max_memory:
        m.skipped = f"needs {memory.human(need)} > --max-memory {memory.human(config.max_memory)}"
        return m
    x = np.random.default_rng(case.T).standard_normal((case.T, config.dim)).astype(np.float32)
    sync = lambda: None  # noqa: E731
    if case.device == "cuda":
        import torch

        sync = torch.cuda.synchronize

    def run():
        result = attend(case.variant, x, config)
        sync()
        return result

    try:
        for _ in range(warmup):
            result = run()
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            result = run()
            times.append(time.perf_counter() - t)
    except VectorizeError as e:
        m.skipped = str(e)
        return m
    m.median_s, m.min_s, m.max_s = statistics.median(times), min(times), max(times)
    m.kernel = result.ran.op
    peak = _peak_bytes(run, case.backend, case.device)
    m.peak_mib = None if peak is None else peak / 2**20
    ref = _reference64(case.variant, x, config)
    if ref is not None:
        m.max_abs_delta = float(np.abs(result.output - ref).max())
    return m


def cases(variants: Iterable[str], backends: Iterable[str], devices: Iterable[str], lengths: Iterable[int]):
    """Every combination that exists: numpy runs on the CPU only."""
    return [Case(v, b, d, T) for T in lengths for v in variants for b in backends for d in devices
            if not (b == "numpy" and d == "cuda")]


def machine() -> dict:
    """What ran the benchmark: processor, cores, library versions, GPU if torch sees one."""
    import os
    import platform
    import sys

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__}
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        info["torch"] = torch.__version__
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name()
    return info


def table(rows: list[dict], machine_info: dict):
    from rich.console import Group
    from rich.text import Text

    from vectorize_cli.views.matrix import new_table, titled

    t = new_table()
    for name in ("T", "variant", "backend", "kernel", "median ms", "min-max ms", "peak MiB", "|Δ| f64"):
        t.add_column(name, justify="right" if name in ("T", "median ms", "min-max ms", "peak MiB") else "left",
                     no_wrap=name != "kernel", max_width=48 if name == "kernel" else None)  # a skip note wraps
    for r in rows:
        head = [str(r["T"]), r["variant"], r["backend"] + ("/cuda" if r["device"] == "cuda" else "")]
        if r["skipped"]:
            t.add_row(*head, Text(f"skipped: {r['skipped']}", style="yellow"), "", "", "", "")
            continue
        delta = "n/a" if r["max_abs_delta"] is None else f"{r['max_abs_delta']:.1e}"
        peak = "not measured" if r["peak_mib"] is None else f"{r['peak_mib']:.1f}"
        t.add_row(*head, r["kernel"].removeprefix("aten::_scaled_dot_product_"), f"{r['median_s'] * 1000:.1f}",
                  f"{r['min_s'] * 1000:.0f}-{r['max_s'] * 1000:.0f}", peak, delta)
    about = ", ".join(f"{k} {v}" for k, v in machine_info.items())
    note = "kernel: aten::_scaled_dot_product_* abbreviated; |Δ| f64: max |Δ| against float64 (n/a: too big)"
    return Group(titled("vectorize bench", t, f"{note}\n{about}"))


def bench_record(base: Config, repeat: int, warmup: int, rows: list[dict]) -> dict:
    """bench's JSON record: the machine, the options every row shares, and the rows."""
    shared = {k: v for k, v in base.to_dict().items() if k not in ("attention", "backend", "device")}  # per row
    return {"kind": "bench", "machine": machine(), "config": shared, "repeat": repeat, "warmup": warmup,
            "results": rows}
