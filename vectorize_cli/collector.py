"""Python's cyclic garbage collector paused while a block makes objects that live as long as the process
(the CLI's modules, numba and its loops), and those objects frozen out of its sight at the block's end.

Python 3.11's collector walks its youngest objects every 700 allocations and all of them when the survivors
have grown by a quarter. An import that makes many lasting objects pays for that again and again as it makes
them: numba and the loops' import makes about 94,000 (264 young and two full collections, 0.06-0.07 s of a
0.42 s load, with the GIL held), the CLI's import about 6 ms of 90 (benchmarks/README.md, "The collector
paused for the imports"). Paused, the block makes the same objects; frozen at its end (gc.freeze: every
object alive then, not only the block's), no later collection walks them again. A frozen object is still
freed by its reference count; only a cycle among them that becomes garbage stays until the process ends.
"""

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """The collector off inside the block, on again after it (exception or not), everything alive then frozen;
    nothing changed where it is off already (an outer block, another thread's, or the caller's choice)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()
