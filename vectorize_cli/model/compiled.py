"""nn.py's formulas compiled into loops over arrays, vectorized by LLVM (8 float32 lanes on AVX2), one pass
over memory each:
    gelu_(x)          x <- x * gelu_factor(x), in place: about 1.7 ns an element here, where numpy's chunks
                      of the same formula take 7-10 ns (the model's GELU)
    exp_shift_(s, m, total)
                      s <- exp_le0(s - m), each row of s shifted by its m, and total <- each new row's sum:
                      flash attention's softmax step, about 0.7-1 ns an element, where numpy's subtract, exp
                      and sum take 2.5-3 (benchmarks/README.md)
Not second implementations: numba compiles nn.py's own functions (gelu_factor, exp_le0 and what they call)
for one float32 value, and each loop applies them element by element as numpy applies them to an array.
GELU's loop gives numpy's bits. The exp loop lets LLVM fuse each multiply and add into one FMA
(fastmath "contract": one rounding instead of two, a shorter chain, about 1.5x faster): within an ulp of
numpy's bits and 2 of float64's exp; its row sums run in vector lanes (fastmath "reassoc" in row_sum
alone). tests/test_compiled.py checks all three.

numba (in the `model` extra) compiles them once per machine; the machine code is kept as one object file in
the cache folder (object_cache.py), named by what it depends on, and later processes load it with llvmlite alone:
about 0.2 s with the imports, where importing numba and loading its own cache takes 1.3 s or more. The
functions called are C ones (KERNELS); ctypes lets go of the GIL while they run, so the threads of
parallel.core_map run them on every core at once.

How a loop stays vectorized: LLVM vectorizes a loop only when its body has no calls and no branches it
cannot turn into selects. Hence error_model="numpy" (numba's float division otherwise checks for zero and
raises) and nn.py's own exp (libm's expf would be called one lane at a time: pip's llvmlite has no vector
math library).
"""

import ctypes
import hashlib
import importlib.metadata
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from vectorize_cli.errors import tell
from vectorize_cli.model import nn, object_cache

# the C functions in the object file and their parameters: numba's loops (numba_ir) take the same ones
KERNELS = {"vectorize_gelu": ("float *x", "int64 n"),
           "vectorize_exp_shift": ("float *s", "float *m", "float *total", "int64 rows", "int64 cols",
                                   "int64 row_stride")}


@dataclass(frozen=True)
class Kernels:
    """The compiled loops of one object file, as numpy functions. Both check their arrays first: the loops
    read and write exactly the memory those describe."""

    engine: object  # llvmlite's; the machine code lives as long as it does
    gelu: Callable  # the C functions of KERNELS, called through ctypes
    exp_shift: Callable

    def gelu_(self, x: np.ndarray) -> np.ndarray:
        """GELU(x) = x * gelu_factor(x) in place on a contiguous float32 x."""
        nn.check_in_place(x)  # the loop writes x.size float32s from x's first byte
        self.gelu(x.ctypes.data, x.size)  # ctypes: the GIL is let go meanwhile
        return x

    def exp_shift_(self, s: np.ndarray, m: np.ndarray, total: np.ndarray | None = None) -> np.ndarray:
        """s <- exp_le0(s - m) in place, and total <- sum_j s_j of each row where given: s (..., n) float32,
        its rows evenly spaced (a contiguous array, or the first n columns of one), m and total (..., 1)
        contiguous float32, one value per row of s, each in memory of its own."""
        stride = _row_stride(s) if s.size else 0  # an empty s: nothing of it is read or written
        sums = np.empty(m.shape, np.float32) if total is None else total  # the loop always writes them
        if stride is None or any(a.dtype != np.float32 or not a.flags.c_contiguous or a.shape != (*s.shape[:-1], 1)
                                 for a in (m, sums)) or not sums.flags.writeable or _overlap(s, m, sums):
            raise TypeError(f"exp_shift_ takes writeable float32 rows evenly spaced and a contiguous float32 "
                            f"shift (and total) a row, apart from them and each other, not {s.dtype} {s.shape} "
                            f"strides {s.strides} and {m.dtype} {m.shape}"
                            + ("" if total is None else f" and {total.dtype} {total.shape}"))
        if s.size:
            self.exp_shift(s.ctypes.data, m.ctypes.data, sums.ctypes.data, s.size // s.shape[-1], s.shape[-1], stride)
        else:
            sums[...] = 0  # rows of no columns sum to 0
        return s


def _overlap(*arrays: np.ndarray) -> bool:
    """Whether any two of the arrays may share memory."""
    return any(np.may_share_memory(a, b) for i, a in enumerate(arrays) for b in arrays[i + 1 :])


def _row_stride(s: np.ndarray) -> int | None:
    """The elements from one row of s to the next, where s is writeable float32, each row's elements one
    after another and the rows evenly spaced, not overlapping (a contiguous array, or the first columns of
    one); else None."""
    if s.dtype != np.float32 or s.ndim == 0 or not s.flags.writeable or (s.shape[-1] > 1 and s.strides[-1] != 4):
        return None
    outer = [(n, step) for n, step in zip(s.shape[:-1], s.strides[:-1]) if n > 1]  # a size-1 axis steps nowhere
    if not outer:
        return s.shape[-1]  # one row at most
    for (_, step), (n_inner, step_inner) in zip(outer, outer[1:]):
        if step != step_inner * n_inner:  # each outer axis steps over whole blocks of the one inside it
            return None
    stride, rem = divmod(outer[-1][1], 4)
    return stride if not rem and stride >= s.shape[-1] else None


def load_kernels() -> Kernels:
    """The loops of KERNELS compiled for this CPU: from the cache where they are, else compiled by numba now
    (and cached). Raises ImportError without llvmlite, or without numba when it has to compile."""
    import llvmlite.binding as llvm

    machine = _target_machine(llvm)
    path = object_cache.object_path(_key(llvm, machine))
    obj = object_cache.load_object(path)
    if obj is None:
        obj = _compile(llvm, machine)
        object_cache.store_object(path, obj)
    engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), machine)
    engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
    engine.finalize_object()
    loops = []
    for symbol, params in KERNELS.items():
        address = engine.get_function_address(symbol)
        if not address:  # calling address 0 would end the process: say so instead
            raise RuntimeError(f"{path} holds no {symbol}")
        c_types = [ctypes.c_void_p if "*" in p else ctypes.c_int64 for p in params]
        loops.append(ctypes.CFUNCTYPE(None, *c_types)(address))
    return Kernels(engine, *loops)


_lock = threading.Lock()
_tried = False
_kernels: Kernels | None = None


def _new_lock() -> None:
    global _lock
    _lock = threading.Lock()  # a forked child: no thread of it holds the lock, whatever the parent's did


os.register_at_fork(after_in_child=_new_lock)


def kernels(worth_loading: bool = True) -> Kernels | None:
    """The compiled loops for a call whose size makes them worth_loading (their 0.09 s, or 2-3 s to compile),
    or None for numpy to run the formulas. VECTORIZE_COMPILED decides first (TOLD): 0 never, 1 always (a
    process that makes many small calls), unset or auto by the size alone, so that the same input takes the
    same path in every process (flash's outputs differ in the last bits between its two exps). Loaded on the
    first call that needs them, once per process (a failure is said once, on stderr); None where they cannot
    be had (no numba nor a cached object file, no llvmlite)."""
    global _tried, _kernels
    told = _told()
    if told == "never" or (told != "always" and not worth_loading):
        return None
    with _lock:  # flash attention may ask from several threads at once
        if not _tried:
            _tried = True
            try:
                _kernels = load_kernels()
            except ImportError:  # no numba (nor a cached object file) or no llvmlite: numpy, silently
                pass
            except Exception as e:  # numba there but failing: slower, not wrong; say why once
                tell("warning", f"the compiled kernels could not be built ({type(e).__name__}: {e}); numpy "
                                "computes their formulas instead, more slowly")
    return _kernels


TOLD = {"0": "never", "false": "never", "no": "never", "off": "never", "1": "always", "true": "always",
        "yes": "always", "on": "always", "": "auto", "auto": "auto"}  # VECTORIZE_COMPILED's values


def _told() -> str:
    """VECTORIZE_COMPILED as never | always | auto; another value is said once, on stderr, and means auto."""
    value = os.environ.get("VECTORIZE_COMPILED", "")
    told = TOLD.get(value.strip().lower())
    if told is None:
        if value not in _said:
            _said.add(value)
            tell("warning", f"VECTORIZE_COMPILED={value!r} is not 0, 1 or auto (nor false/true, no/yes, off/on); "
                            "auto: the compiled loops run where the input is big enough")
        return "auto"
    return told


_said: set[str] = set()


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


def _compile(llvm, machine) -> bytes:
    """The object file: the C functions of KERNELS and their loops, for this CPU."""
    return machine.emit_object(c_module(llvm, machine))


def c_module(llvm, machine):
    """numba's loops with the C functions of KERNELS around them, and nothing they would need numba for:
    numba's own Python-facing wrappers are dropped (global dead-code elimination; numba optimised the
    loops already)."""
    c_abi = None
    for symbol, (ir, inner) in numba_ir().items():
        params = [("ptr" if "*" in p else "i64", "%" + p.split()[-1].lstrip("*")) for p in KERNELS[symbol]]
        args = ", ".join(f"{t} {name}" for t, name in params)
        wrapper = llvm.parse_assembly(
            f'declare i32 @"{inner}"(ptr, ptr, {", ".join(t for t, _ in params)})\n'
            f"define void @{symbol}({args}) {{\n"
            "  %ret = alloca ptr\n  %exc = alloca ptr\n"  # numba's calling convention: status, return, exception
            f'  %status = call i32 @"{inner}"(ptr %ret, ptr %exc, {args})\n  ret void\n}}\n')
        module = llvm.parse_assembly(ir)
        wrapper.triple, wrapper.data_layout = module.triple, module.data_layout
        wrapper.link_in(module)
        if c_abi is None:
            c_abi = wrapper
        else:
            c_abi.link_in(wrapper)
    for value in (*c_abi.functions, *c_abi.global_variables):
        if not value.is_declaration and value.name not in KERNELS:
            value.linkage = llvm.Linkage.internal
    passes = llvm.ModulePassManager()
    passes.add_global_dead_code_eliminate_pass()  # the wrappers, and what only they call
    passes.run(c_abi, llvm.create_pass_builder(machine, llvm.create_pipeline_tuning_options(speed_level=0)))
    return c_abi


@cache
def numba_ir() -> dict[str, tuple[str, str]]:
    """symbol of KERNELS -> (LLVM IR of its loop as numba optimised it, the loop's function name). Imports numba."""
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
    f32, i64 = types.CPointer(types.float32), types.int64

    def gelu_loop(p, n):
        x = carray(p, (n,))
        for i in range(n):
            x[i] *= nn.gelu_factor(x[i])

    @njit(error_model="numpy", fastmath={"reassoc"})
    def row_sum(row):  # reassociated: LLVM sums in vector lanes, then adds the lanes
        total = np.float32(0)
        for j in range(row.size):
            total += row[j]
        return total

    def exp_shift_loop(p, mp, tp, rows, cols, row_stride):
        s, m, total = carray(p, (rows, row_stride)), carray(mp, (rows,)), carray(tp, (rows,))  # reads s[i, :cols]
        for i in range(rows):
            shift = m[i]  # read once a row: the stores to s could otherwise be m's memory, for all LLVM knows
            for j in range(cols):  # indices from range(): numba knows them >= 0, so no branch to wrap them
                s[i, j] = nn.exp_le0(s[i, j] - shift)
            total[i] = row_sum(s[i, :cols])  # the row is still in the core's cache

    out = {}
    # GELU: numpy's bits. exp: its multiply-adds fused (FMA: one rounding each), 1.5x faster, within an ulp
    for symbol, loop, fastmath in (("vectorize_gelu", gelu_loop, False),
                                   ("vectorize_exp_shift", exp_shift_loop, {"contract"})):
        signature = types.void(*[f32 if "*" in p else i64 for p in KERNELS[symbol]])
        compiled = njit(signature, error_model="numpy", fastmath=fastmath)(loop).overloads[signature.args]
        out[symbol] = compiled.library.get_llvm_str(), compiled.fndesc.llvm_func_name
    return out
