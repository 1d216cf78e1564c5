"""nn.py's GELU compiled into one loop over the array, vectorized by LLVM (8 float32 lanes on AVX2): one
pass over memory at about 1.7 ns an element on this machine, where the numpy chunks take 7-10 ns
(benchmarks/README.md). Not a second implementation: numba compiles nn.py's own gelu_factor (and what it
calls) for one float32 value, and the loop multiplies x[i] by it as a numpy chunk multiplies the array,
so both give the same bits (tests/test_model_nn.py checks it).

numba (in the `model` extra) compiles it once per machine; the machine code is kept as an object file in
the cache folder (CACHE), named by what it depends on, and later processes load it with llvmlite alone:
about 0.2 s with the imports, where importing numba and loading its own cache takes 1.3 s or more. The
function called is a C one, `void vectorize_gelu(float *x, int64 n)`, wrapped around the loop; ctypes lets
go of the GIL while it runs, so the batches' threads (parallel.core_map) run it on every core at once.

How the loop stays vectorized: LLVM vectorizes a loop only when its body has no calls and no branches it
cannot turn into selects. Hence error_model="numpy" (numba's float division otherwise checks for zero and
raises) and nn.py's own exp (libm's expf would be called one lane at a time: pip's llvmlite has no vector
math library).
"""

import contextlib
import ctypes
import hashlib
import importlib.metadata
import os
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np

from vectorize_cli.model import nn

SYMBOL = "vectorize_gelu"  # the C function in the object file
CACHE = Path(os.environ.get("VECTORIZE_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
             / "vectorize-cli")


def load_gelu() -> Callable[[np.ndarray], np.ndarray]:
    """GELU(x) = x * gelu_factor(x) in place on a contiguous float32 x, compiled for this CPU: from the
    cache where it is, else compiled by numba now (and cached). Raises ImportError without llvmlite, or
    without numba when it has to compile."""
    import llvmlite.binding as llvm

    machine = _target_machine(llvm)
    path = CACHE / f"gelu-{_key(llvm, machine)}.o"
    obj = _read(path)
    if obj is None:
        obj = _compile(llvm, machine)
        _write(path, obj)
    engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), machine)
    engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
    engine.finalize_object()
    address = engine.get_function_address(SYMBOL)
    if not address:  # calling address 0 would end the process: say so instead
        raise RuntimeError(f"{path} holds no {SYMBOL}")
    loop = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64)(address)

    def gelu_simd_(x: np.ndarray) -> np.ndarray:
        nn.check_in_place(x)  # the loop writes x.size float32s from x's first byte
        loop(x.ctypes.data, x.size)  # ctypes: the GIL is let go meanwhile
        return x

    gelu_simd_.engine = engine  # the machine code lives as long as the engine does
    return gelu_simd_


def _target_machine(llvm):
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    return llvm.Target.from_default_triple().create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(), opt=3, reloc="pic")


def _key(llvm, machine) -> str:
    """What the machine code depends on: the formulas' source, the compilers' versions, the CPU."""
    h = hashlib.sha256()
    for part in (Path(nn.__file__).read_bytes(), Path(__file__).read_bytes(),
                 importlib.metadata.version("llvmlite").encode(), _numba_version().encode(),
                 llvm.get_host_cpu_name().encode(), llvm.get_host_cpu_features().flatten().encode(),
                 machine.triple.encode()):
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()[:24]


def _numba_version() -> str:
    try:
        return importlib.metadata.version("numba")
    except importlib.metadata.PackageNotFoundError:
        return ""


def _read(path: Path) -> bytes | None:
    """The object file, if it is there whole: its first 32 bytes are the sha256 of the rest."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    digest, obj = data[:32], data[32:]
    return obj if obj and hashlib.sha256(obj).digest() == digest else None


def _write(path: Path, obj: bytes) -> None:
    """Written to a file of its own beside, then renamed: no reader sees half a file, however many processes
    or threads compile at once. Best effort: without a writable cache, the next process compiles again."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(hashlib.sha256(obj).digest() + obj)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _compile(llvm, machine) -> bytes:
    """The object file: SYMBOL and the loop, for this CPU."""
    return machine.emit_object(c_module(llvm, machine))


def c_module(llvm, machine):
    """numba's loop with SYMBOL, a C function, around it, and nothing it would need numba for: numba's own
    Python-facing wrappers are dropped (global dead-code elimination; numba optimised the loop already)."""
    ir, inner = numba_ir()
    c_abi = llvm.parse_assembly(
        f'declare i32 @"{inner}"(ptr, ptr, ptr, i64)\n'
        f"define void @{SYMBOL}(ptr %x, i64 %n) {{\n"
        "  %ret = alloca ptr\n  %exc = alloca ptr\n"  # numba's calling convention: status, return, exception
        f'  %status = call i32 @"{inner}"(ptr %ret, ptr %exc, ptr %x, i64 %n)\n  ret void\n}}\n')
    module = llvm.parse_assembly(ir)
    c_abi.triple, c_abi.data_layout = module.triple, module.data_layout
    c_abi.link_in(module)
    for value in (*c_abi.functions, *c_abi.global_variables):
        if not value.is_declaration and value.name != SYMBOL:
            value.linkage = llvm.Linkage.internal
    passes = llvm.ModulePassManager()
    passes.add_global_dead_code_eliminate_pass()  # the wrappers, and what only they call
    passes.run(c_abi, llvm.create_pass_builder(machine, llvm.create_pipeline_tuning_options(speed_level=0)))
    return c_abi


@cache
def numba_ir() -> tuple[str, str]:
    """(LLVM IR of the loop as numba optimised it, the loop's function name). Imports numba."""
    from llvmlite import ir
    from numba import carray, njit, types
    from numba.extending import intrinsic, overload, register_jitable

    @intrinsic
    def bits_as_float32(typingctx, i):
        """The float32 whose bits are the low 32 bits of the integer i (a bit cast, not a conversion)."""

        def codegen(context, builder, signature, args):
            (v,) = args
            if v.type.width > 32:  # numba widens int32 arithmetic to int64
                v = builder.trunc(v, ir.IntType(32))
            return builder.bitcast(v, ir.FloatType())

        return types.float32(i), codegen

    overload(nn.float_bits)(lambda i: lambda i: bits_as_float32(i))
    for formula in (nn.times_poly, nn.exp_le0, nn.erf_abs, nn.gelu_factor):
        register_jitable(formula)  # numba compiles the Python function itself wherever a compiled one calls it

    signature = types.void(types.CPointer(types.float32), types.int64)

    @njit(signature, error_model="numpy")
    def gelu_loop(p, n):
        x = carray(p, (n,))
        for i in range(n):
            x[i] *= nn.gelu_factor(x[i])

    compiled = gelu_loop.overloads[signature.args]
    return compiled.library.get_llvm_str(), compiled.fndesc.llvm_func_name
