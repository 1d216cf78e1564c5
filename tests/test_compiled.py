"""compiled.py and numba_loops.py: numba's loops over nn.py's own formulas, vectorized, kept in numba's own
cache. GELU (the model's) gives the same bits as numpy running its formula; exp(s - m) with its row sums
(flash attention's softmax) fuses its multiply-adds, so it is checked against float64: within 2 ulps, as
numpy's formula is, and at most one ulp from it. A read-only install still runs; a stale cache is caught."""

import dataclasses
import math
import os
import platform
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from test_model_nn import gelu_inputs

from vectorize_cli.backend import Backend
from vectorize_cli.model import nn

ALWAYS = Backend("numpy", "cpu", "float32", compiled="always")  # VECTORIZE_COMPILED=1, as resolve() reads it


@pytest.fixture
def kernels():
    """The compiled loops (compiled.Loops), loaded from numba's cache of this test run or compiled now."""
    pytest.importorskip("numba")
    from vectorize_cli import compiled

    found = compiled.loops(ALWAYS, worth_loading=True)
    assert found is not None, "numba is installed but the loops did not load (see stderr)"
    return found


def same_bits(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Where a and b hold the same float32 bits, or NaN both."""
    return (a.view(np.uint32) == b.view(np.uint32)) | (np.isnan(a) & np.isnan(b))


def test_compiled_gelu_gives_the_same_bits_as_numpy(kernels, rng):
    """numba compiles nn.py's own formula: not close, equal, on every input (NaN where NaN)."""
    x = gelu_inputs(rng)
    x = x[: x.size // 97 * 97].reshape(-1, 97)  # 2-D, as the model calls it
    numpy_path = nn._chunked(x.copy(), nn._gelu_chunk)
    inplace = x.copy()
    assert kernels.gelu_(inplace) is inplace
    assert same_bits(inplace, numpy_path).all()


# exp's arguments where its steps change regime: 0, tiny, each k = -1 ... -127 boundary (a / ln 2 - 1/2 an
# integer) and its neighbours, the last normal and subnormal results, the floor, far below, -inf, NaN
EXP_EDGES = np.array([0.0, -0.0, -1e-45, -1e-30, -1e-7, *[-math.log(2) * (k + 0.5) for k in range(128)],
                      -87.33, -87.336, -87.34, -87.68, -87.7, -88.0, -88.5, -103.9, -104.0, -1e3, -3e38,
                      -np.inf, np.nan], dtype=np.float32)


def exp_inputs(rng) -> np.ndarray:
    """float32 values <= 0: uniform over exp's range, small ones, and EXP_EDGES with their neighbours."""
    x = -rng.uniform(0, 90, size=200_000).astype(np.float32)
    x[:20_000] = -rng.exponential(1e-3, size=20_000)
    edges = np.concatenate([EXP_EDGES, np.nextafter(EXP_EDGES, np.float32(0)),
                            np.nextafter(EXP_EDGES, np.float32(-np.inf))])
    x[20_000 : 20_000 + edges.size] = np.minimum(edges, 0)  # nextafter(-0.0, 0) is +tiny: kept <= 0
    return x


def assert_exp_within_two_ulps(x: np.ndarray, got: np.ndarray) -> None:
    """got = exp(x) for x <= 0 as exp_le0 promises, against np.exp in float64: within 2 ulps (2^-23 of the
    value) where the result is a normal float32, within one smallest normal below, exactly 0 from -87.68
    down, -inf and NaN -> 0 (flash takes exp of scores minus their maximum: NaN there means the row is
    NaN already), exp(0) = 1, nothing outside [0, 1]."""
    got = got.astype(np.float64)
    want = np.exp(x.astype(np.float64))
    normal = np.isfinite(x) & (want >= np.finfo(np.float32).tiny)
    far = np.abs(got - want) > 2 * 2**-24 * want
    assert not (far & normal).any(), x[far & normal][:5]
    below = np.isfinite(x) & ~normal
    assert (np.abs(got[below] - want[below]) <= np.finfo(np.float32).tiny).all()
    assert (got[x <= -87.7] == 0).all() and (got[~np.isfinite(x)] == 0).all()
    assert got[x == 0].tolist() == [1.0] * int((x == 0).sum())
    assert (got >= 0).all() and (got <= 1).all()


def ulps_apart(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """How many float32s lie between a and b, for values >= 0 (their bits are ordered as they are)."""
    return np.abs(a.view(np.int32).astype(np.int64) - b.view(np.int32))


def test_exp_is_within_two_ulps_of_float64_and_exactly_zero_below_float32s_normals(rng):
    """nn.exp_le0, numpy path, for every a <= 0 (assert_exp_within_two_ulps)."""
    x = exp_inputs(rng)
    with np.errstate(invalid="ignore"):
        assert_exp_within_two_ulps(x, nn.exp_le0(x.copy()))


def test_compiled_exp_shift_is_exp_to_two_ulps_and_sums_its_rows(kernels, rng):
    """exp_shift_(s, m, total): s <- exp_le0(s - m) a row at a time, its multiply-adds fused: within 2 ulps
    of float64's exp, at most one ulp from numpy's exp_le0, and total <- each new row's sum, within the
    float32 bound (n - 1) 2^-24 of the float64 sum of the values written. On flash's layouts: (rows, n),
    (heads, rows, n), and the first columns of a wider buffer (a last, narrower key tile), whose other
    columns it must leave alone."""
    for shape, width in (((37, 101), 101), ((3, 50, 77), 77), ((4, 16, 37), 100), ((1, 1), 1), ((5, 1), 3),
                         ((2, 1000), 1024)):
        buf = (rng.standard_normal((*shape[:-1], width)) * rng.choice([1, 30, 300])).astype(np.float32)
        buf.reshape(-1)[rng.integers(0, buf.size, 5)] = rng.choice([-np.inf, np.nan, 0.0, 1e30], 5)
        s = buf[..., : shape[-1]]
        with np.errstate(invalid="ignore"):  # rows of NaN and inf only: shift 0
            m = np.ascontiguousarray(np.max(np.where(np.isfinite(s), s, -np.inf), axis=-1, keepdims=True))
        m[np.isinf(m)] = 0
        with np.errstate(invalid="ignore", over="ignore"):
            shifted = s - m
        numpy_path = nn.exp_le0(shifted.copy())
        outside = buf[..., shape[-1] :].copy()
        total = np.full(m.shape, np.nan, np.float32)
        assert kernels.exp_shift_(s, m, total) is s
        assert_exp_within_two_ulps(shifted, s)
        assert (ulps_apart(s, numpy_path) <= 1).all(), shape
        exact = s.astype(np.float64).sum(axis=-1, keepdims=True)
        assert (np.abs(total - exact) <= (shape[-1] - 1) * 2**-24 * exact).all(), shape
        assert same_bits(buf[..., shape[-1] :], outside).all()  # the columns beyond the view are untouched
    ones = np.full((3, 1024), 7, np.float32)[:, :1000]  # exp(0) = 1 in each of a row's columns, none beyond
    ones[:, :] = 0
    total = np.empty((3, 1), np.float32)
    kernels.exp_shift_(ones, np.zeros((3, 1), np.float32), total)
    assert total.ravel().tolist() == [1000.0] * 3 and (ones == 1).all()  # a sum of ones is exact
    x = exp_inputs(rng)  # every edge of exp's range, through the loop
    x = x[: x.size // 8 * 8].reshape(-1, 8)
    with np.errstate(invalid="ignore"):
        got = kernels.exp_shift_(x.copy(), np.zeros((x.shape[0], 1), np.float32))
    assert_exp_within_two_ulps(x, got)
    assert (ulps_apart(got, nn.exp_le0(x.copy())) <= 1).all()


def test_compiled_exp_shift_takes_empty_arrays_as_numpy_does(kernels):
    """Rows of no columns sum to 0 and no rows are nothing to do, as in the numpy step (attention/kernels.py)."""
    from vectorize_cli.attention import kernels as attention_kernels

    for shape in ((3, 0), (0, 5), (2, 0, 4), (2, 3, 0)):
        s, m = np.zeros(shape, np.float32), np.zeros((*shape[:-1], 1), np.float32)
        total, want = np.full(m.shape, np.nan, np.float32), np.full(m.shape, np.nan, np.float32)
        assert kernels.exp_shift_(s, m, total) is s
        attention_kernels.exp_shift_(s.copy(), m, want)
        assert np.array_equal(total, want) and want.shape == total.shape, shape


def test_compiled_loops_refuse_arrays_they_would_read_or_write_wrongly(kernels):
    """The loops walk raw memory: every layout they cannot walk exactly is a TypeError, before any write."""
    from numpy.lib.stride_tricks import as_strided

    m = np.zeros((4, 1), np.float32)
    block = np.zeros((2, 4, 5), np.float32)
    frozen = np.zeros((4, 8), np.float32)
    frozen.flags.writeable = False
    buf = np.zeros(200, np.float32)
    layouts = ((np.zeros((4, 8)), m),  # float64
               (np.zeros((4, 8), np.float32)[:, ::2], m),  # columns not one after another
               (np.zeros((4, 8), np.float32)[::-1], m),  # rows backwards
               (block[:, :2], np.zeros((2, 2, 1), np.float32)),  # rows of each block not evenly spaced
               (as_strided(buf, (2, 1, 3, 4), (16, 16, 64, 4)), np.zeros((2, 1, 3, 1), np.float32)),
               (as_strided(buf, (4, 8), (8, 4)), m),  # rows overlapping
               (np.broadcast_to(np.zeros(8, np.float32), (4, 8)), m),  # one row seen four times
               (frozen, m),  # read-only
               (np.zeros((4, 8), np.float32), np.zeros((4, 2), np.float32)[:, :1]),  # m not contiguous
               (np.zeros((4, 8), np.float32), np.zeros((8, 1), np.float32)),  # one m per row, not 8
               (buf[:32].reshape(4, 8), buf[31:35].reshape(4, 1)))  # m inside s
    read_only = np.zeros((4, 1), np.float32)
    read_only.flags.writeable = False
    totals = (np.zeros((4, 1)), np.zeros((4, 2), np.float32)[:, :1], np.zeros(4, np.float32), read_only,
              buf[30:34].reshape(4, 1), m)  # float64, not contiguous, not (4, 1), read-only, inside s, m itself
    cases = [(s, shift, None) for s, shift in layouts] + [(buf[:32].reshape(4, 8), m, t) for t in totals]
    for s, shift, total in cases:
        before = buf.copy()
        with pytest.raises(TypeError, match="exp_shift_ takes"):
            kernels.exp_shift_(s, shift, total)
        assert np.array_equal(buf, before)
    for x in (np.zeros(8, np.float32)[::2], frozen, np.zeros(8)):
        with pytest.raises(TypeError, match="contiguous, writeable float32"):
            kernels.gelu_(x)
    one_row = as_strided(buf, (1, 1, 8), (999, 7, 4))  # size-1 axes step nowhere: any stride is fine there
    buf[:8] = -1
    want = kernels.exp_shift_(-np.ones((1, 1, 8), np.float32), np.zeros((1, 1, 1), np.float32))
    assert same_bits(kernels.exp_shift_(one_row, np.zeros((1, 1, 1), np.float32)), want).all()


# a fresh process: the loops as compiled.py loads them, their outputs checked against this process's, then how
# numba found them: "hits misses" over numba_loops.LOOPS (a miss compiled, a hit loaded from the cache)
CHILD = ("import sys, numpy as np; from vectorize_cli import compiled, numba_loops; from vectorize_cli.backend import "
         "Backend; k = compiled.loops(Backend('numpy', 'cpu', 'float32', compiled='always'), True); "
         "d = np.load(sys.argv[1]); "
         "np.testing.assert_array_equal(k.gelu_(d['x'].copy()), d['gelu']); t = np.empty_like(d['total']); "
         "np.testing.assert_array_equal(k.exp_shift_(d['s'].copy(), np.zeros_like(t), t), d['exp']); "
         "np.testing.assert_array_equal(t, d['total']); print(numba_loops.__file__); "
         "print(sum(sum(f.stats.cache_hits.values()) for f in numba_loops.LOOPS), "
         "sum(sum(f.stats.cache_misses.values()) for f in numba_loops.LOOPS))")


def run_child(kernels, rng, tmp_path, env: dict, cwd=ROOT) -> list[str]:
    """CHILD on inputs saved here with this process's outputs -> its lines (the loops' file, "hits misses")."""
    x = gelu_inputs(rng)
    s = -np.abs(x[: x.size // 7 * 7]).reshape(-1, 7)
    total = np.empty((s.shape[0], 1), np.float32)
    exp = kernels.exp_shift_(s.copy(), np.zeros_like(total), total)
    np.savez(tmp_path / "x.npz", x=x, gelu=kernels.gelu_(x.copy()), s=s, exp=exp, total=total)
    r = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "x.npz")], capture_output=True, text=True,
                       env=env, cwd=cwd)
    assert r.returncode == 0 and not r.stderr, r.stderr
    return r.stdout.split("\n")


def test_the_loops_are_compiled_once_then_loaded_from_numbas_cache(kernels, rng, tmp_path):
    """The first process compiles (numba's cache misses) and writes numba's cache; the next one loads it (hits
    only); both give this process's bits."""
    cache = tmp_path / "cache"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    from vectorize_cli import numba_loops

    n = len(numba_loops.LOOPS)
    assert run_child(kernels, rng, tmp_path, env)[1] == f"0 {n}"  # compiled: every loop
    assert all(list(cache.rglob(f"numba_loops.{loop.__name__}-*.nbi")) for loop in numba_loops.LOOPS)
    assert run_child(kernels, rng, tmp_path, env)[1] == f"{n} 0"  # loaded


def test_a_read_only_install_caches_in_the_users_folder_or_runs_numpy(kernels, rng, tmp_path):
    """Where the package's folder cannot be written (its __pycache__ a file here: even root cannot write into
    it), numba keeps the loops in the user's cache folder ($XDG_CACHE_HOME/numba); where no folder can be
    written at all, the failure is said once and numpy computes the formulas: the command still runs."""
    pytest.importorskip("numba")
    site = tmp_path / "site"
    shutil.copytree(ROOT / "vectorize_cli", site / "vectorize_cli", ignore=shutil.ignore_patterns("__pycache__"))
    (site / "vectorize_cli" / "__pycache__").write_text("not a folder")
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "PYTHONPATH")}
    env |= {"PYTHONPATH": str(site), "XDG_CACHE_HOME": str(tmp_path / "user-cache"), "PYTHONDONTWRITEBYTECODE": "1"}
    first = run_child(kernels, rng, tmp_path, env, cwd=tmp_path)
    from vectorize_cli import numba_loops

    assert first[0] == str(site / "vectorize_cli" / "numba_loops.py") and first[1] == f"0 {len(numba_loops.LOOPS)}"
    assert list((tmp_path / "user-cache" / "numba").rglob("numba_loops.gelu_loop-*.nbi"))
    assert run_child(kernels, rng, tmp_path, env, cwd=tmp_path)[1] == f"{len(numba_loops.LOOPS)} 0"
    (tmp_path / "a-file").write_text("")
    env["XDG_CACHE_HOME"] = str(tmp_path / "a-file" / "cache")  # no folder can be made there either
    numpy_runs = ("import numpy as np; from vectorize_cli import compiled; from vectorize_cli.backend import resolve; "
                  "b = compiled.for_run(compiled.for_run(resolve('numpy', 'cpu', 'float32'), 10**9), 10**9); "
                  "x = np.ones(8, np.float32); from vectorize_cli.model import nn; f = compiled.fused(b); "
                  "nn.gelu_(x, f and f.gelu_); print(b.fused, x[0])")
    r = subprocess.run([sys.executable, "-c", numpy_runs], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.split() == ["numpy", "0.8413447"], r.stderr
    (line,) = r.stderr.splitlines()  # said once, though asked twice
    assert line.startswith("vectorize: warning: the compiled kernels could not be built (RuntimeError: cannot cache")


def test_a_stale_cache_is_compiled_again_and_loops_that_stay_wrong_are_refused(kernels):
    """numba's cache knows numba_loops.py's source, not nn.py's: loops that disagree with numpy's formulas
    (GELU's bits, exp beyond one ulp) are compiled again (recompile), and refused if they still disagree."""
    from vectorize_cli import compiled

    class Stale:  # a dispatcher loaded from an old cache: one wrong value until compiled again
        def __init__(self, loop, fixed_by: int):
            self.loop, self.calls, self.recompiled, self.fixed_by = loop, 0, 0, fixed_by

        def __call__(self, x, *rest):
            self.loop(x, *rest)
            self.calls += 1
            if self.recompiled < self.fixed_by:
                x[3] = x[3] * 2 if x[3] else np.float32(1e-45)  # GELU: any other bits; exp: beyond an ulp

        def recompile(self):
            self.recompiled += 1

    real = [getattr(kernels, f.name) for f in dataclasses.fields(kernels)]  # every loop, in Loops' order
    for which in range(len(real)):
        stale = list(real)
        stale[which] = Stale(stale[which], fixed_by=1)
        found = compiled.checked(tuple(stale))
        assert stale[which].recompiled == 1 and stale[which].calls == 2 and found.gelu is stale[0], which
        stale[which] = Stale(stale[which].loop, fixed_by=2)  # still wrong once compiled again
        with pytest.raises(RuntimeError, match="do not compute nn.py's formulas"):
            compiled.checked(tuple(stale))
    assert compiled.checked(tuple(real)).gelu is kernels.gelu  # the real ones pass as they are


def test_a_stale_cache_of_the_decoders_loops_is_compiled_again(kernels):
    """The decoder's loops, checked when loaded as the others (compiled.checked with DecoderLoops): SwiGLU not
    silu_times's bits, or the residual stream not numpy's, is a stale cache, compiled again, refused if still so."""
    from vectorize_cli import compiled, compiled_decoder

    found = compiled_decoder.decoder_fused(compiled.for_run(ALWAYS, 1))
    assert found is not None

    class Stale:  # one wrong value in the last row's output until compiled again (a finite one, of SwiGLU's up)
        def __init__(self, loop, fixed_by: int):
            self.loop, self.recompiled, self.fixed_by = loop, 0, fixed_by

        def __call__(self, x, *rest):
            self.loop(x, *rest)
            if self.recompiled < self.fixed_by:
                x[-40] = x[-40] * 2 if x[-40] else np.float32(1e-45)

        def recompile(self):
            self.recompiled += 1

    real = [found.swiglu, found.add_rms_norm]
    kind = (compiled_decoder.DecoderLoops, compiled_decoder.decoder_agrees)
    for which in range(2):
        stale = list(real)
        stale[which] = Stale(real[which], fixed_by=1)
        found_again = compiled.checked(tuple(stale), *kind)
        assert found_again.swiglu is stale[0] and stale[which].recompiled == 1, which
        stale[which] = Stale(real[which], fixed_by=2)
        with pytest.raises(RuntimeError, match="do not compute nn.py's formulas"):
            compiled.checked(tuple(stale), *kind)
    assert compiled.checked(tuple(real), *kind).swiglu is found.swiglu


def loop_body(loop) -> str:
    """The x86 machine code of a compiled loop's own function (not numba's wrappers around it), compiled again
    now: numba keeps no machine code to read for what it loaded from its cache."""
    loop.recompile()
    (signature,) = loop.signatures
    asm = loop.inspect_asm(signature)
    (name,) = [n for n in re.findall(r"^(\S+):", asm, re.M) if loop.__name__ in n and n.startswith("_ZN")
               and "cpython" not in n]
    return asm.split(name + ":")[1].split(".Lfunc_end")[0]


def test_prefetch_loads_the_loops_on_a_thread_of_their_own_where_a_run_would_take_them():
    """compiled.prefetch(backend, tokens) in a fresh process: no thread, and numba not imported, below
    COMPILE_AT tokens, on numpy float32 told never, or on torch; from COMPILE_AT, one thread that loads the loops
    (the main thread's own loops() then finds them loaded), and none once they are."""
    pytest.importorskip("numba")
    child = (
        "import sys, threading\n"
        "from vectorize_cli import compiled\n"
        "from vectorize_cli.backend import Backend\n"
        "auto = Backend('numpy', 'cpu', 'float32')\n"
        "def threads(): return [t for t in threading.enumerate() if t.name == 'vectorize-compiled-load']\n"
        "for b, n in ((auto, compiled.COMPILE_AT - 1), (Backend('numpy', 'cpu', 'float32', compiled='never'), 10**9),"
        " (Backend('torch', 'cpu', 'float32'), 10**9), (Backend('numpy', 'cpu', 'float64'), 10**9)):\n"
        "    compiled.prefetch(b, n)\n"
        "    assert not threads() and 'numba' not in sys.modules and not compiled._loaded, (b, n)\n"
        "compiled.prefetch(auto, compiled.COMPILE_AT)\n"
        "(t,) = threads()\n"
        "t.join()\n"
        "assert compiled._loaded['loops'] is not None and 'numba' in sys.modules\n"
        "assert compiled.loops(auto, True) is compiled._loaded['loops']\n"
        "compiled.prefetch(auto, compiled.COMPILE_AT)\n"
        "assert not threads()\n"
        "print('ok')\n")
    r = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and r.stdout == "ok\n" and not r.stderr, r.stderr


def test_compiled_loops_are_vectorized(kernels):
    """Their speed comes from LLVM running 4, 8 or 16 elements per instruction; a call or a raising branch in
    a loop (a libm exp, numba's division check, index wrapping) would make it one at a time, silently.
    Read in the machine code numba made (its public inspect_asm), each loop's own function."""
    from vectorize_cli import compiled, compiled_decoder, numba_loops

    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip(f"reads x86 machine code; this is {platform.machine()}")
    import llvmlite.binding as llvm

    assert compiled_decoder.decoder_fused(compiled.for_run(ALWAYS, 1)) is not None  # the decoder's loops too
    from vectorize_cli import numba_decoder_loops as decoder

    fma = llvm.get_host_cpu_features().get("fma", False)  # x86 CPUs before 2013 have none: nothing to fuse
    for loop in numba_loops.LOOPS + decoder.DECODER_LOOPS:
        body = loop_body(loop)
        exp_ops = ("vfn?m(add|sub)\\d+ps" if fma else "mulps", "addps", "cvttps2dq")
        gelu_ops = ("mulps", "divps", "addps")
        ops = {numba_loops.gelu_loop: gelu_ops, numba_loops.bias_gelu_loop: gelu_ops,
               numba_loops.add_center_loop: ("addps", "subps"), numba_loops.scale_shift_loop: ("mulps", "addps"),
               numba_loops.softmax_loop: (*exp_ops, "divps"), decoder.swiglu_loop: (*gelu_ops, "cvttps2dq"),
               decoder.add_rms_norm_loop: ("addps", "mulps")}.get(loop, exp_ops)
        missing = [op for op in ops if not re.search(rf"\bv?{op}\b", body)]
        assert not missing, f"{loop.__name__}: no packed float32 {missing}: not vectorized (or exp's not fused)"
        # LayerNorm's row sums, numpy's pairwise order, are a call a row (and its arrays counted in and out, once)
        called = set(re.findall(r"movabsq\s+\$([A-Za-z_]\w*)", body))  # the functions whose address it loads
        allowed = {"NRT_incref", "NRT_decref"} if loop in (numba_loops.add_center_loop, decoder.add_rms_norm_loop) \
            else set()
        assert re.search(r"\bcall", body) is None or (
            allowed and all(c in allowed or "pairwise_sum" in c for c in called)), f"{loop.__name__} calls {called}"
        if ops is gelu_ops or loop in (numba_loops.add_center_loop, numba_loops.scale_shift_loop,
                                       *decoder.DECODER_LOOPS):
            # numpy rounds each product and sum: a fused one would change the bits
            assert not re.search(r"\bvfn?m(add|sub)", body), f"{loop.__name__} fuses multiply-adds"


@pytest.mark.fuzz
def test_compiled_loops_on_every_float32(kernels):
    """All 2^32 float32 bit patterns through GELU, the same bits as numpy's, and all 2^31 with the sign bit
    (a <= 0) through exp: within 2 ulps of float64 and one of numpy's formula (a few minutes: pytest -m fuzz)."""
    step = 1 << 24
    zero = np.zeros((step // 1024, 1), np.float32)
    for start in range(0, 1 << 32, step):
        x = np.arange(start, start + step, dtype=np.uint32).view(np.float32)
        ours, numpy_path = kernels.gelu_(x.copy()), nn._chunked(x.copy(), nn._gelu_chunk)
        same = same_bits(ours, numpy_path)
        assert same.all(), x[~same][:5]
        if start >= 1 << 31:  # negative: exp's domain (with the NaNs of that sign)
            with np.errstate(invalid="ignore"):
                ours, numpy_path = kernels.exp_shift_(x.reshape(-1, 1024).copy(), zero).ravel(), nn.exp_le0(x.copy())
                assert_exp_within_two_ulps(x, ours)
            near = ulps_apart(ours, numpy_path) <= 1
            assert near.all(), x[~near][:5]
