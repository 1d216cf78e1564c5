"""numba's loops loaded without scipy.linalg (numba_import.py): they still load and agree with numpy's formulas,
scipy.linalg and numba's own np.dot still work afterwards in the same process, and sys.modules is as it was,
whether the load worked, failed or raised. Each in a fresh process: this one may have imported scipy already."""

import io

import numpy as np
import pytest

from conftest import child
from vectorize_cli.model import nn

pytest.importorskip("numba")
pytest.importorskip("scipy.linalg")

BLAS = "scipy.linalg.cython_blas"


LOAD = """
import sys, numpy as np
assert 'scipy.linalg' not in sys.modules and 'numba' not in sys.modules
before = set(sys.modules)
from vectorize_cli import compiled
found = compiled._load()
assert found is not None, 'the loops did not load'
assert 'numba' in sys.modules and 'scipy.linalg' not in sys.modules, 'scipy.linalg was imported'
assert 'scipy.linalg.cython_blas' not in sys.modules, 'scipy.linalg.cython_blas in sys.modules after the load'
d = dict(np.load(sys.argv[1]))
np.savez(sys.argv[2], gelu=found.bias_gelu_(d['y'].copy(), d['b']),
         norm=found.add_layer_norm_(d['y'].copy(), d['b'], d['r'], d['g'], d['b'], 1e-12),
         soft=found.softmax_(d['s'].copy(), d['hidden'], 0.125))
import scipy.linalg, scipy.linalg.cython_blas  # as if nothing had happened
assert np.allclose(scipy.linalg.inv(np.eye(3) * 2), np.eye(3) / 2)
import numba
dot = numba.njit(lambda a, b: np.dot(a, b))  # numba's BLAS, compiled after the load: imports scipy itself
a = np.arange(12.0).reshape(3, 4)
assert np.array_equal(dot(a, a.T), a @ a.T)
convolve = numba.njit(lambda a, b: np.convolve(a, b))  # numba's own inner products here (_HAVE_BLAS False)
x, y = np.random.default_rng(0).standard_normal((2, 50))
assert np.allclose(convolve(x, y), np.convolve(x, y), rtol=1e-12, atol=1e-12)
import numba.np.arraymath
assert not numba.np.arraymath._HAVE_BLAS  # what the docstring says this process gives up
"""


def test_the_loops_load_without_scipy_and_agree_and_scipy_still_imports_after(rng, tmp_path):
    y = rng.standard_normal((rng.integers(1, 40), 64)).astype(np.float32) * 3
    b, r, g = (rng.standard_normal(s).astype(np.float32) for s in (64, y.shape, 64))
    s = rng.standard_normal((2, 3, 5, 7)).astype(np.float32)
    hidden = rng.random((2, 1, 1, 7)) < 0.3
    hidden[..., 0] = False  # a key seen in every row
    np.savez(tmp_path / "in.npz", y=y, b=b, r=r, g=g, s=s, hidden=hidden)
    child(LOAD, str(tmp_path / "in.npz"), str(tmp_path / "out.npz"), timeout=300)
    got = np.load(tmp_path / "out.npz")
    assert got["gelu"].tobytes() == nn.gelu_(y + b).tobytes()  # numpy's bits, as compiled._agrees
    assert got["norm"].tobytes() == nn.layer_norm_(y + b + r, g, b, 1e-12).tobytes()
    x = np.where(hidden, -np.inf, s.astype(np.float64) * 0.125)
    want = np.exp(x - x.max(-1, keepdims=True))
    np.testing.assert_allclose(got["soft"], want / want.sum(-1, keepdims=True), rtol=1e-5, atol=1e-7)


RESTORED = """
import sys, threading
from vectorize_cli import compiled
before = dict(sys.modules)
{break_it}
assert compiled._load() is None
after = dict(sys.modules)
assert 'scipy.linalg.cython_blas' not in after, 'scipy.linalg.cython_blas in sys.modules after the load'
assert {{k: v for k, v in after.items() if k in before}} == before, 'a module before the load was changed'
import scipy.linalg.cython_blas
"""


@pytest.mark.parametrize("break_it", [
    "sys.modules['numba'] = None",  # no numba: the ImportError path, numpy silently
    "def fail(*a): raise RuntimeError('stale')\ncompiled.checked = fail",  # loading raises midway: said once
])
def test_sys_modules_is_restored_when_loading_fails(break_it):
    r = child(RESTORED.format(break_it=break_it), timeout=300)
    assert (b"could not be built" in r.stderr) == ("RuntimeError" in break_it)


def test_nothing_is_blocked_where_scipy_linalg_is_imported_already_and_an_exception_restores():
    child("""
import sys
from vectorize_cli.numba_import import without_scipy_blas, BLAS
try:
    with without_scipy_blas():
        assert sys.modules[BLAS] is None
        try:
            import scipy.linalg
        except ImportError:
            pass
        else:
            raise AssertionError('scipy.linalg imported inside the block')
        raise KeyError('midway')
except KeyError:
    pass
assert BLAS not in sys.modules and 'scipy.linalg' not in sys.modules
import scipy.linalg
with without_scipy_blas():
    assert sys.modules[BLAS] is not None  # imported already: left alone
    import scipy.linalg.cython_blas
""")


def test_a_child_forked_during_the_load_can_import_scipy():
    child("""
import os, sys
from vectorize_cli.numba_import import without_scipy_blas, BLAS
with without_scipy_blas():
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            import scipy.linalg.cython_blas
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, 'the forked child could not import scipy.linalg'
""")


def test_a_compiled_model_run_never_imports_scipy_linalg(minilm_path):
    """The CLI's model path with the loops (VECTORIZE_COMPILED=1: any size): numba imported, scipy.linalg not;
    the same vectors as numpy's passes within the compiled softmax's rounding."""
    code = ("import sys; from vectorize_cli.__main__ import main; sys.argv = ['vectorize', 'run', '-', '-m', 'minilm', "
            "'-F', 'npy']\ntry: main()\nexcept SystemExit as e: assert not e.code, e.code\n"
            "assert 'numba' in sys.modules, 'the loops were not loaded'\n"
            "bad = [m for m in ('scipy.linalg', 'torch', 'pyarrow') if m in sys.modules]\nassert not bad, bad")
    text = b"A man is eating food.\nThe loops load without scipy.\n"
    compiled = child(code, env={"VECTORIZE_COMPILED": "1"}, input=text, timeout=300)
    numpy = child(code.replace("'numba' in", "'numba' not in"), env={"VECTORIZE_COMPILED": "0"}, input=text,
                  timeout=300)
    got, want = (np.load(io.BytesIO(r.stdout)) for r in (compiled, numpy))
    assert got.shape == (2, 384)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
