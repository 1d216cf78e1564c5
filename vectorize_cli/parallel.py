"""Work spread over the cores: one Python thread per core, numpy's BLAS held to one thread meanwhile.

numpy lets go of the GIL inside BLAS and every large ufunc, so threads run the pointwise steps
(exp, GELU, LayerNorm) on every core too, not only the matrix products; and two busy threads hold
up far better than BLAS threads that spin and wait when another program shares the cores (4x to
90x faster in such measurements here; see benchmarks/README.md). Used by numpy flash attention
(query blocks) and by --model's batches.
"""

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_open = 0  # pools open now: work inside a pool's task runs in that task's thread, not a new pool


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@contextmanager
def core_map(enabled: bool = True, workers: int | None = None) -> Iterator[Callable]:
    """Yields a map() that runs its calls on every core, or on `workers` of them (the builtin map when
    that is one, when not enabled, or inside another core_map). Consume its results to see the calls' errors."""
    global _open
    n = min(cores(), workers or cores())
    if not enabled or n < 2 or _open:
        yield map
        return
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    pool = ThreadPoolExecutor(n)
    _open += 1
    try:
        with threadpool_limits(1, user_api="blas"):
            yield pool.map
    finally:
        _open -= 1
        pool.shutdown(wait=True, cancel_futures=True)  # Ctrl-C: do not wait for the calls not begun
