"""The dense layers' matrix products on numpy float32, and the one place that picks the library that runs them:

    product(x, W) = x W      x (M, K) float32, W (K, N) float32 -> (M, N) float32

numpy's own `x @ W` (the OpenBLAS numpy ships), or Intel MKL's cblas_sgemm where Intel's `mkl` package is installed
(`pip install 'vectorize-cli[mkl]'`, x86-64 Linux): on this project's machine MKL runs MiniLM's products 1.07-1.19x
faster than OpenBLAS, and a whole 3,000-line run 1.12x (benchmarks/README.md, "The dense products by MKL").
No Python binding: the `mkl` wheel's libmkl_rt is opened with ctypes (which lets go of the GIL during the call, so
parallel.core_map's threads multiply on every core at once), its threading layer set to sequential before any
other call (vectorize runs one batch per core itself; MKL's own threads would fight them).

When: as Backend.blas says (VECTORIZE_BLAS, read once by backend.resolve): numpy, mkl, or auto (MKL where installed);
every run of a model, whatever its size, so a text's numbers never depend on how many texts ran with it. A failure
to load MKL is said once, on stderr, and numpy's product runs.

Numbers: both are float32 products; MKL sums each dot product in another order than OpenBLAS, so their results
differ by float32 rounding (the model's vectors within about 3e-7, tests/test_sgemm.py). MKL's are the same bits
run after run. At MiniLM's shapes a row's product does not depend on the rows beside it from two rows up (tested;
a BERT batch has at least two tokens); MKL's paths for one row, and for up to 128 rows at some larger shapes
(K = 1,024, N = 3,072), sum in another order, as OpenBLAS's one-row path does: there a text's numbers can differ
by float32 rounding with its batch, as they already do through attention's products over padded keys.
"""

import ctypes
import operator
import threading
from collections.abc import Callable

import numpy as np

from vectorize_cli.errors import tell

NOTE = "dense products by Intel MKL's sgemm (sgemm.py): numpy's within float32 rounding"
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112  # CBLAS_LAYOUT, CBLAS_TRANSPOSE
SEQUENTIAL = 1  # MKL_THREADING_SEQUENTIAL
INT_MAX = (1 << 31) - 1  # MKL's LP64 interface: 32-bit dimensions and leading dimensions


def product(blas: str) -> Callable:
    """The product of a run whose Backend.blas is blas (numpy | mkl | auto), on numpy float32 arrays:
    MKL's (mkl_product) where asked for or auto and it can be had, else numpy's operator.matmul."""
    if blas == "numpy":
        return operator.matmul
    found = _open_mkl(told=blas == "mkl")
    return operator.matmul if found is None else found


def for_backend(backend) -> Callable:
    """The product of a forward pass on this Backend: product(backend.blas) on numpy; on torch, torch's own `@`
    (operator.matmul: MKL or cuBLAS inside torch, never this module's)."""
    return product(backend.blas) if backend.name == "numpy" else operator.matmul


def used(f: Callable) -> bool:
    """Whether f, a product() result, is MKL's (a model's record notes it)."""
    return f is not operator.matmul


_opening = threading.Lock()
_opened: dict[str, Callable | None] = {}


def _open_mkl(told: bool) -> Callable | None:
    """MKL's product, its library opened and set sequential once a process; None where the `mkl` package is not
    installed (said once where VECTORIZE_BLAS=mkl asked for it) or where opening it fails (said once)."""
    with _opening:
        if "mkl" not in _opened:
            _opened["mkl"] = None
            path = library()
            if path is None:
                if told:
                    tell("warning", "VECTORIZE_BLAS=mkl, but Intel's mkl package is not installed "
                                    "(pip install 'vectorize-cli[mkl]'): numpy's BLAS computes the products")
                return None
            try:
                _opened["mkl"] = _bind(ctypes.CDLL(path))
            except (OSError, AttributeError) as e:
                tell("warning", f"Intel MKL could not be opened ({type(e).__name__}: {e}); numpy's BLAS computes the "
                                "products instead")
        return _opened["mkl"]


def library() -> str | None:
    """The path of libmkl_rt in the installed `mkl` distribution (the wheel puts it in the environment's lib/),
    or None where there is none."""
    from importlib import metadata

    try:
        files = metadata.distribution("mkl").files or []
    except metadata.PackageNotFoundError:
        return None
    found = [f for f in files if f.name.startswith("libmkl_rt.so")]
    return str(found[0].locate().resolve()) if found else None


def _bind(lib: ctypes.CDLL) -> Callable:
    """mkl_product over this opened libmkl_rt, its threading layer set sequential first (MKL's rule: before any
    other call)."""
    lib.MKL_Set_Threading_Layer.argtypes = [ctypes.c_int]
    lib.MKL_Set_Threading_Layer(SEQUENTIAL)
    sgemm = lib.cblas_sgemm
    sgemm.restype = None
    i, f, p = ctypes.c_int, ctypes.c_float, ctypes.c_void_p
    sgemm.argtypes = [i, i, i, i, i, i, f, p, i, p, i, f, p, i]

    def mkl_product(x: np.ndarray, w: np.ndarray) -> np.ndarray:
        """x W by MKL's sgemm: x (M, K) float32 rows of unit stride, W (K, N) float32, C-contiguous or a transposed
        view of an (N, K) array (torch's nn.Linear layout) -> (M, N) float32, a new C-contiguous array. Anything
        else (another dtype or layout, a dimension past MKL's 32-bit ints) goes to numpy's product."""
        if not _fits(x, w):
            return x @ w
        (M, K), N = x.shape, w.shape[1]
        if M == 0 or N == 0 or K == 0:
            return x @ w
        y = np.empty((M, N), dtype=np.float32)  # (M, N)
        trans, ldb = (NO_TRANS, N) if w.flags.c_contiguous else (TRANS, K)
        sgemm(ROW_MAJOR, NO_TRANS, trans, M, N, K, 1.0, x.ctypes.data, x.strides[0] // 4, w.ctypes.data, ldb,
              0.0, y.ctypes.data, N)
        return y

    return mkl_product


def _fits(x: np.ndarray, w: np.ndarray) -> bool:
    """Two float32 matrices in layouts cblas_sgemm reads as they lie: x's rows of unit stride (its leading
    dimension its row stride), W C- or F-contiguous, every dimension within 32-bit ints."""
    return (isinstance(x, np.ndarray) and isinstance(w, np.ndarray) and x.dtype == w.dtype == np.float32
            and x.ndim == w.ndim == 2 and x.shape[1] == w.shape[0] and x.strides[1] == 4
            and x.strides[0] % 4 == 0 and x.strides[0] >= 4 * max(x.shape[1], 1)
            and (w.flags.c_contiguous or w.flags.f_contiguous) and max(*x.shape, *w.shape, x.strides[0] // 4) <= INT_MAX)
