"""The one Backend: where arrays live (numpy | torch), on which device, in which dtype.

numpy (default): the CPU in float32. torch: CPU or CUDA, float32 / float16 / bfloat16. Both
pipelines (the toy and a pretrained model) and every attention function ask this one object to
move arrays in and out, so `--backend`, `--device` and `--dtype` mean the same thing everywhere.
The kernels themselves are written once against the array API (attention/kernels.py, model/nn.py).
torch is imported here only, and only when `--backend torch` asks for it.

On numpy (float32) some of the formulas may run compiled by numba (compiled.py): whether they may is a
field of the backend, VECTORIZE_COMPILED read once by resolve(), and so are the loops chosen for a run
(compiled.for_run); every caller passes the backend down, so no module holds that choice. So is the library of
the dense products (sgemm.py): VECTORIZE_BLAS, read by resolve() too.
"""

import os
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from vectorize_cli.errors import UsageError, VectorizeError, tell

BACKEND_NAMES = ("numpy", "torch")
DEVICE_NAMES = ("auto", "cpu", "cuda")
DTYPE_NAMES = ("float32", "float16", "bfloat16")


@lru_cache(maxsize=1)
def import_torch():
    """torch, once asked for; array-api-compat too, through which the kernels run on torch tensors."""
    try:
        import torch
        import array_api_compat  # noqa: F401
    except ImportError as e:
        package = (e.name or "torch").replace("_", "-")
        raise VectorizeError(f"--backend torch needs {package}: pip install 'vectorize-cli[torch]'") from None
    return torch


@lru_cache(maxsize=8)
def resolve_device(device: str, backend: str) -> str:
    """auto -> cuda when torch (asked for) sees a GPU, else cpu; cuda without one is an error."""
    if backend == "numpy":
        if device == "cuda":
            raise UsageError("--device cuda needs --backend torch (numpy runs on the CPU)")
        return "cpu"
    cuda = import_torch().cuda.is_available()
    if device == "cuda" and not cuda:
        raise VectorizeError("--device cuda: torch sees no CUDA GPU on this machine")
    return "cuda" if device == "cuda" or (device == "auto" and cuda) else "cpu"


@dataclass(frozen=True)
class Backend:
    name: str  # numpy | torch
    device: str  # cpu | cuda
    dtype: str  # the dtype that runs, which may differ from --dtype (see resolve)
    notes: tuple[str, ...] = ()  # why it differs
    # numba's loops (compiled.py) on numpy float32: never | always | auto (where the input is big enough), as
    # VECTORIZE_COMPILED says; and this backend's run's choices (compiled.for_run): the steps between the
    # products, bias + GELU and bias + residual + LayerNorm (fused: numpy | compiled, the same bits; a decoder's
    # SwiGLU and residual + RMSNorm, within ulps), explicit attention's masked softmax (softmax: numpy | compiled,
    # within ulps). Not compared: two backends that
    # differ in them hold their arrays alike
    compiled: str = field(default="auto", compare=False)
    fused: str = field(default="numpy", compare=False)
    softmax: str = field(default="numpy", compare=False)
    # the dense products' library on numpy float32 (sgemm.py): numpy | mkl | auto (MKL where installed), as
    # VECTORIZE_BLAS says
    blas: str = field(default="auto", compare=False)

    @property
    def threads(self) -> bool:
        """Batches may run one per core in Python threads (numpy); torch threads inside each op."""
        return self.name == "numpy"

    def asarray(self, a: np.ndarray):
        """A numpy array as this backend's: floats in its dtype on its device, integers and booleans as they are."""
        floating = np.issubdtype(np.asarray(a).dtype, np.floating)
        if self.name == "numpy":
            return np.asarray(a, dtype=np.float32) if floating else np.asarray(a)
        torch = import_torch()
        t = torch.from_numpy(np.ascontiguousarray(a))
        if floating:
            return t.to(device=self.device, dtype=getattr(torch, self.dtype))
        if self.device == "cuda":  # a batch's ids and masks: copied while the GPU still runs the batch before
            return t.pin_memory().to(self.device, non_blocking=True)
        return t

    def numpy(self, a) -> np.ndarray | None:
        """Back to a float32 numpy array (bfloat16 has no numpy dtype)."""
        if a is None or isinstance(a, np.ndarray):
            return a
        return a.detach().float().cpu().numpy()

    def no_grad(self):
        """The context of a forward pass: no autograd graph on torch."""
        return import_torch().inference_mode() if self.name == "torch" else nullcontext()


def namespace(a):
    """numpy for numpy arrays (its main namespace follows the array API since 2.0), else the
    array-api-compat namespace of the array (torch), imported only then."""
    if isinstance(a, np.ndarray):
        return np
    from array_api_compat import array_namespace

    return array_namespace(a)


NUMPY = Backend("numpy", "cpu", "float32")

# the CPU instructions that compute in half precision natively; without them torch converts each
# element to float32 and back, and half precision runs slower than float32 (benchmarks/README.md)
NATIVE_HALF = {"bfloat16": ("avx512_bf16", "amx_bf16"), "float16": ("avx512_fp16", "amx_fp16")}


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux's /proc/cpuinfo); empty where there is none to read."""
    try:
        with open("/proc/cpuinfo") as f:
            line = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return frozenset()
    return frozenset(line.partition(":")[2].split())


def slow_precision(backend: Backend) -> str | None:
    """Why this backend's dtype would run slower than float32 (half precision on a CPU without the
    instructions for it), or None. Only Linux says: elsewhere nothing is claimed."""
    if backend.device != "cpu" or backend.dtype not in NATIVE_HALF or not cpu_flags():
        return None
    wanted = NATIVE_HALF[backend.dtype]
    if cpu_flags() & set(wanted):
        return None
    return (f"--dtype {backend.dtype} on this CPU is emulated (no {' or '.join(wanted)} among its flags): slower "
            f"than float32 here; --dtype float32 is faster")


def check_finite(what: str, backend: Backend, *arrays) -> None:
    """Never a wrong number: an overflow (float16 holds no more than 65504) is an error, not NaN in the output."""
    if not all(a is None or np.isfinite(a).all() for a in arrays):
        raise overflowed(what, backend)


def overflowed(what: str, backend: Backend) -> VectorizeError:
    """The error of a computation that gave NaN or inf in the backend's dtype."""
    if backend.dtype == "float32":
        return VectorizeError(f"{what} overflowed float32 (NaN or inf): its numbers are too large to compute with")
    other = "float32 or bfloat16" if backend.dtype == "float16" else "float32"
    return VectorizeError(f"{what} overflowed in {backend.dtype}: some scores or outputs are beyond its range; "
                          f"use --dtype {other}")


TOLD = {"0": "never", "false": "never", "no": "never", "off": "never", "1": "always", "true": "always",
        "yes": "always", "on": "always", "": "auto", "auto": "auto"}  # VECTORIZE_COMPILED's values
_said: set[tuple[str, str]] = set()  # (variable, value) told already: each is said once a process


def told_compiled() -> str:
    """VECTORIZE_COMPILED as never | always | auto; another value is said once, on stderr, and means auto."""
    value = os.environ.get("VECTORIZE_COMPILED", "")
    told = TOLD.get(value.strip().lower())
    if told is None:
        if ("VECTORIZE_COMPILED", value) not in _said:
            _said.add(("VECTORIZE_COMPILED", value))
            tell("warning", f"VECTORIZE_COMPILED={value!r} is not 0, 1 or auto (nor false/true, no/yes, off/on); "
                            "auto: the compiled loops run where the input is big enough")
        return "auto"
    return told


BLAS_NAMES = ("auto", "numpy", "mkl")  # VECTORIZE_BLAS's values


def told_blas() -> str:
    """VECTORIZE_BLAS as auto | numpy | mkl; another value is said once, on stderr, and means auto."""
    value = os.environ.get("VECTORIZE_BLAS", "")
    told = value.strip().lower() or "auto"
    if told not in BLAS_NAMES:
        if ("VECTORIZE_BLAS", value) not in _said:
            _said.add(("VECTORIZE_BLAS", value))
            tell("warning", f"VECTORIZE_BLAS={value!r} is not auto, numpy or mkl; auto: MKL where it is installed")
        return "auto"
    return told


def resolve(backend: str, device: str, dtype: str, family: str = "explicit", strict: bool = False) -> Backend:
    """The backend a computation runs on. family is the attention's: explicit | flash. CUDA's flash
    kernel takes half precision only: with strict (that kernel or nothing) float32 is cast for it, and
    said so; without, float32 stays and the attention falls back to the next fused kernel (sdpa.py).
    On numpy, VECTORIZE_COMPILED and VECTORIZE_BLAS are read here (told_compiled, told_blas), once for the run."""
    for option, value, allowed in (("--backend", backend, BACKEND_NAMES), ("--device", device, DEVICE_NAMES),
                                   ("--dtype", dtype, DTYPE_NAMES)):
        if value not in allowed:
            raise UsageError(f"{option} {value!r}: choose from {', '.join(allowed)}")
    device = resolve_device(device, backend)
    if backend == "numpy":
        if dtype != "float32":
            raise UsageError(f"--dtype {dtype} needs --backend torch (numpy computes in float32)")
        return Backend("numpy", "cpu", "float32", compiled=told_compiled(), blas=told_blas())
    notes = ()
    if family == "flash" and device == "cuda" and dtype == "float32" and strict:
        dtype = "bfloat16" if import_torch().cuda.is_bf16_supported() else "float16"
        notes = (f"torch's CUDA flash kernel takes float16/bfloat16 only (--strict): float32 inputs cast to {dtype}",)
    return Backend("torch", device, dtype, notes)
