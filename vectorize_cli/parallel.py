"""Work spread over the cores: one Python thread per core, numpy's BLAS held to one thread meanwhile.

numpy lets go of the GIL inside BLAS and every large ufunc, so threads run the pointwise steps
(exp, GELU, LayerNorm) on every core too, not only the matrix products; and two busy threads hold
up far better than BLAS threads that spin and wait when another program shares the cores (4x to
90x faster in such measurements here; see benchmarks/README.md). Used by numpy flash attention
(query blocks), by --model's batches and by exact search.

The threads and threadpoolctl's view of the BLAS libraries are made once per process: starting them
on every call cost about 2.4 ms, an eighth of numpy flash's time at 1,024 tokens.
"""

import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from functools import cache

_open = 0  # maps open now: work inside a map's task runs in that task's thread, not in more threads
_pools: dict[int, ThreadPoolExecutor] = {}  # by thread count, kept for the process


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@contextmanager
def core_map(enabled: bool = True, workers: int | None = None) -> Iterator[Callable]:
    """Yields a map() that runs its calls on every core, or on `workers` of them (the builtin map when
    that is one, when not enabled, or inside another core_map). Consume its results to see the calls' errors.
    Leaving the block (an error, Ctrl-C) cancels the calls not begun and waits for those running."""
    global _open
    n = min(cores(), workers or cores())
    if not enabled or n < 2 or _open:
        yield map
        return
    pool = _pools.get(n) or _pools.setdefault(n, ThreadPoolExecutor(n, thread_name_prefix="vectorize"))
    submitted: list[Future] = []

    def map_(fn: Callable, items) -> Iterator:
        futures = []
        for item in items:  # each kept as it is submitted: an error or Ctrl-C midway still cancels them
            futures.append(pool.submit(fn, item))
            submitted.append(futures[-1])
        return (f.result() for f in futures)

    _open += 1
    try:
        with _blas().limit(limits=1, user_api="blas"):
            yield map_
            wait(submitted)  # a result not consumed is still waited for: BLAS is limited until it is done
    finally:
        try:
            for f in submitted:
                f.cancel()  # Ctrl-C or an error: the calls not begun never start
            wait(submitted)
        finally:
            _open -= 1  # even if a second Ctrl-C ends the wait


@cache
def _blas():
    """threadpoolctl's controller of the BLAS libraries loaded at the first call, numpy's among them (loaded with
    numpy; the one the tasks' matrix products call): finding them takes about 1 ms, so it is done once."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _forget_pools() -> None:
    global _open
    _pools.clear()  # a forked child has none of its parent's threads, nor their maps
    _open = 0


os.register_at_fork(after_in_child=_forget_pools)
