"""numba_loops.wide_vectors: GELU's loops (gelu_loop, bias_gelu_loop) run 16 float32 lanes wide where the CPU has
AVX-512 (LLVM's own choice there is 8), the loops of numpy's bits still numpy's bits on rows of any length (LayerNorm's
too, beside them); without AVX-512 they compile as before, and numba's cache never hands one CPU's machine code to
another."""

import os
import platform
import re
import subprocess
import sys

import llvmlite.binding as llvm
import numpy as np
import pytest

from test_compiled import kernels, loop_body  # noqa: F401  (kernels: the fixture, used by name)
from test_fused import magnitudes

from vectorize_cli.model import nn

ROWS = (3, 17, 383, 1537)  # no multiple of 16 (nor of 8): every loop ends in a part-vector or a scalar tail


def wide_loops() -> dict:
    """The loops marked wide_vectors() -> the packed float32 operations each must do."""
    from vectorize_cli import numba_loops

    gelu_ops = ("mul", "div", "add")
    return {numba_loops.gelu_loop: gelu_ops, numba_loops.bias_gelu_loop: gelu_ops}


def numba_cpu_features() -> str:
    """The features numba compiles for: NUMBA_CPU_FEATURES where set, else the host's (as numba's codegen)."""
    return os.environ.get("NUMBA_CPU_FEATURES") or llvm.get_host_cpu_features().flatten()


def test_gelus_loops_run_16_lanes_wide_where_the_cpu_has_avx512(kernels):
    """Each marked loop's own machine code does each of its packed float32 operations in 512-bit registers
    (zmm; its remainder may run 8 lanes wide)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip(f"reads x86 machine code; this is {platform.machine()}")
    if "+avx512f" not in numba_cpu_features().split(","):
        pytest.skip("the CPU numba compiles for has no avx512f: 256-bit vectors are its widest")
    for loop, ops in wide_loops().items():
        body = loop_body(loop)
        narrow = [op for op in ops if not re.search(rf"\bv{op}ps\s+[^\n]*%zmm", body)]
        assert not narrow, f"{loop.__name__}: no v{narrow}ps on 512-bit registers"


@pytest.mark.parametrize("d", ROWS)
def test_gelu_bias_gelu_and_layer_norm_are_numpys_bits_on_rows_of_any_length(kernels, rng, d):
    """Rows of d, 16 lanes wide: the same bits as numpy's passes (gelu_, +=, layer_norm_), flat GELU too."""
    x, r = magnitudes(rng, (37, d)), magnitudes(rng, (37, d))
    b, g, beta = (rng.standard_normal(d).astype(np.float32) for _ in range(3))
    flat = x.reshape(-1)[: 37 * d - 1].copy()  # GELU's one long row, its length odd
    assert kernels.gelu_(flat.copy()).tobytes() == nn.gelu_(flat.copy()).tobytes()
    assert kernels.bias_gelu_(x.copy(), b).tobytes() == nn.gelu_(x + b).tobytes()
    numpy_path = x + b
    numpy_path += r
    assert (kernels.add_layer_norm_(x.copy(), b, r, g, beta, 1e-12).tobytes()
            == nn.layer_norm_(numpy_path, g, beta, 1e-12).tobytes())


# a fresh process compiling (or loading) the loops for the CPU numba is told: their bits on the saved rows
# checked against numpy's, then "hits misses" over numba_loops.LOOPS and the zmm registers the marked loops use
# (those it compiled)
CHILD = """import re, sys, numpy as np
from vectorize_cli import compiled, numba_loops
from vectorize_cli.backend import Backend
k = compiled.loops(Backend('numpy', 'cpu', 'float32', compiled='always'), True)
d = np.load(sys.argv[1])
for n in %r:
    x, b, r, g = d[f'x{n}'], d[f'b{n}'], d[f'r{n}'], d[f'g{n}']
    assert k.bias_gelu_(x.copy(), b).tobytes() == d[f'gelu{n}'].tobytes(), n
    assert k.add_layer_norm_(x.copy(), b, r, g, b, 1e-12).tobytes() == d[f'norm{n}'].tobytes(), n
print(sum(sum(f.stats.cache_hits.values()) for f in numba_loops.LOOPS),
      sum(sum(f.stats.cache_misses.values()) for f in numba_loops.LOOPS))
wide = (numba_loops.gelu_loop, numba_loops.bias_gelu_loop)
print(sum(len(re.findall('%%zmm', ''.join(f.inspect_asm().values()))) for f in wide
          if f.stats.cache_misses))  # numba keeps machine code to read for what it compiled, not what it loaded
""" % (ROWS,)


def test_a_cpu_without_avx512_compiles_the_loops_for_itself_and_its_cache_is_not_reused(kernels, rng, tmp_path):
    """numba told it compiles for Skylake (AVX2, no AVX-512: NUMBA_CPU_NAME and NUMBA_CPU_FEATURES) compiles
    every loop, 256-bit wide, numpy's bits; then this CPU, on the same cache folder, compiles them again
    (numba's cache keys its entries by the CPU's name and features) into 512-bit code: numpy's bits."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip(f"reads x86 machine code and compiles for Skylake; this is {platform.machine()}")
    features = llvm.get_host_cpu_features()
    if not features.get("avx512f", False) or "NUMBA_CPU_FEATURES" in os.environ:
        pytest.skip("this CPU has no avx512f (or numba is told another): nothing wider to tell apart")
    for name in features:
        if name.startswith(("avx512", "avx10", "amx", "evex512")):
            features[name] = False
    saved = {}
    for n in ROWS:
        x, r = magnitudes(rng, (37, n)), magnitudes(rng, (37, n))
        b, g = (rng.standard_normal(n).astype(np.float32) for _ in range(2))
        saved |= {f"x{n}": x, f"r{n}": r, f"b{n}": b, f"g{n}": g, f"gelu{n}": nn.gelu_(x + b),
                  f"norm{n}": nn.layer_norm_((x + b) + r, g, b, 1e-12)}
    np.savez(tmp_path / "rows.npz", **saved)
    from vectorize_cli import numba_loops

    n = len(numba_loops.LOOPS)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    runs = []
    for cpu in ({"NUMBA_CPU_NAME": "skylake", "NUMBA_CPU_FEATURES": features.flatten()}, {}):
        r = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "rows.npz")], capture_output=True,
                           text=True, env=env | cpu)
        assert r.returncode == 0 and not r.stderr, r.stderr
        runs.append(r.stdout.split("\n"))
    (skylake_counts, skylake_zmm, _), (host_counts, host_zmm, _) = runs
    assert (skylake_counts, skylake_zmm) == (f"0 {n}", "0")  # compiled for Skylake: no 512-bit register
    assert host_counts == f"0 {n}", f"hits misses {host_counts}: Skylake's machine code taken from the cache"
    assert int(host_zmm) > 0  # compiled again, 16 lanes wide
