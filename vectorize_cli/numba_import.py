"""Importing numba and loading its cached loops without the scipy.linalg numba's BLAS check imports.

numba sets up its CPU target on the first loop it loads, and that imports numba/np/arraymath.py, which runs
`_HAVE_BLAS = _check_blas()` at import: `import scipy.linalg.cython_blas` (numba/np/linalg.py ensure_blas),
all of scipy.linalg where scipy is installed, about 0.27 s of a 0.45 s load (benchmarks/README.md, "Start-up").
None of our loops calls BLAS (no np.dot in them). So while compiled.py loads them, and only where
scipy.linalg is not imported already, sys.modules["scipy.linalg.cython_blas"] is None: Python's import
system then raises ImportError for that name at once, before importing its parents (a documented use of
sys.modules), numba's check returns False, and the entry is removed again after, exception or not.

What it changes, in this process only:
- numba's `_HAVE_BLAS` stays False: jitted np.convolve / np.correlate of floats (the only users of it in
  numba 0.68) take numba's own inner-product loop instead of np.dot: the same sums, in another order, slower
  (and a numba cache written by such a function in this process keeps that loop).
  np.dot, np.linalg and @ in jitted code are unaffected: they call ensure_blas() when compiled, later, and
  that imports scipy as usual (tests/test_numba_import.py compiles one after the loops loaded).
- while the entry is there (the load, under compiled.py's lock), another thread importing scipy.linalg
  gets ImportError; a child forked meanwhile starts without the entry (register_at_fork below).
- a numba that one day needs scipy.linalg to set up its target would fail to load the loops: said once on
  stderr and numpy runs, as for any failure (compiled._load); tests/test_numba_import.py would fail first.
"""

import os
import sys
from contextlib import contextmanager

BLAS = "scipy.linalg.cython_blas"  # what numba's BLAS check imports
_blocked = False  # True while this process holds the entry


@contextmanager
def without_scipy_blas():
    """The block of code inside it sees `import scipy.linalg.cython_blas` fail at once, unless scipy.linalg is
    imported already (then it is cheap, and numba keeps its BLAS) or numba's target is set up already (its
    check has run); sys.modules as it was after, exception or not."""
    global _blocked
    if "scipy.linalg" in sys.modules or BLAS in sys.modules or "numba.np.arraymath" in sys.modules:
        yield
        return
    sys.modules[BLAS] = None
    _blocked = True
    try:
        yield
    finally:
        _unblock()


def _unblock() -> None:
    global _blocked
    if _blocked and BLAS in sys.modules and sys.modules[BLAS] is None:  # ours: nothing else stores None there
        del sys.modules[BLAS]
    _blocked = False


os.register_at_fork(after_in_child=_unblock)  # the thread that would remove it does not exist in a child
