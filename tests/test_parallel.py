"""parallel.core_map: calls on every core's thread with BLAS held to one thread, results in order, an error
raised where the results are read, the calls not begun cancelled, and everything as before afterwards."""

import threading
import time

import pytest

from vectorize_cli import parallel
from vectorize_cli.parallel import core_map, cores


def blas_threads() -> list[int]:
    """The threads of numpy's own BLAS (the one numpy's matmul calls; scipy or torch may bring others)."""
    from threadpoolctl import threadpool_info

    found = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas" and "numpy" in lib["filepath"]]
    assert found, "numpy's BLAS not found"
    return found


@pytest.mark.skipif(cores() < 2, reason="one core: core_map is the builtin map")
def test_core_map_runs_calls_on_threads_in_order_and_leaves_no_trace():
    before = blas_threads()
    seen = []

    def call(i):
        seen.append((threading.current_thread().name, blas_threads()))
        time.sleep(0.01)
        return i * i

    with core_map() as map_:
        assert list(map_(call, range(16))) == [i * i for i in range(16)]
        with core_map() as inner:  # inside a map: the calls run in the caller's thread
            assert inner is map
    assert {name.split("_")[0] for name, _ in seen} == {"vectorize"} and len({n for n, _ in seen}) >= 2
    assert all(all(n == 1 for n in threads) for _, threads in seen)  # BLAS one thread meanwhile
    assert blas_threads() == before and parallel._open == 0


@pytest.mark.skipif(cores() < 2, reason="one core: core_map is the builtin map")
def test_an_error_in_a_call_is_raised_and_the_calls_not_begun_never_run():
    started = []

    def call(i):
        started.append(i)
        if i == 0:
            raise ValueError("the first call fails")
        time.sleep(0.02)

    with pytest.raises(ValueError, match="first call fails"), core_map() as map_:
        for _ in map_(call, range(200)):
            pass
    count = len(started)
    time.sleep(0.1)
    assert count < 200 and len(started) == count  # cancelled, and nothing runs after the block
    assert parallel._open == 0
    with core_map() as map_:  # the next map is parallel again
        assert map_ is not map and list(map_(lambda i: -i, range(8))) == [-i for i in range(8)]
