"""Half precision on the CPU: a warning where the CPU has no instructions for it (issue 15), read off
/proc/cpuinfo independently here; nothing where it has them or on float32."""

import os

import pytest
from test_cli import invoke
from test_one_shape import SENTENCE

from vectorize_cli import backend
from vectorize_cli.backend import Backend, slow_precision


def flags() -> set[str]:
    with open("/proc/cpuinfo") as f:
        return set(next(line for line in f if line.startswith("flags")).split(":", 1)[1].split())


needs_linux = pytest.mark.skipif(not os.path.exists("/proc/cpuinfo"), reason="no /proc/cpuinfo")


@needs_linux
@pytest.mark.parametrize("dtype, native", [("bfloat16", {"avx512_bf16", "amx_bf16"}),
                                           ("float16", {"avx512_fp16", "amx_fp16"})])
def test_warning_follows_the_cpu_flags(dtype, native):
    why = slow_precision(Backend("torch", "cpu", dtype))
    assert (why is None) == bool(flags() & native)
    if why:
        assert dtype in why and all(f in why for f in native)


@pytest.mark.parametrize("b", [Backend("torch", "cpu", "float32"), Backend("numpy", "cpu", "float32"),
                               Backend("torch", "cuda", "bfloat16"), Backend("torch", "cuda", "float16")])
def test_no_warning_for_float32_or_cuda(b):
    assert slow_precision(b) is None


def test_a_cpu_with_the_instructions_gets_no_warning(monkeypatch):
    monkeypatch.setattr(backend, "cpu_flags", lambda: frozenset({"avx2", "avx512_bf16"}))
    assert slow_precision(Backend("torch", "cpu", "bfloat16")) is None
    assert "avx512_fp16 or amx_fp16" in slow_precision(Backend("torch", "cpu", "float16"))
    monkeypatch.setattr(backend, "cpu_flags", lambda: frozenset({"avx2"}))
    assert "avx512_bf16 or amx_bf16" in slow_precision(Backend("torch", "cpu", "bfloat16"))


@needs_linux
def test_the_model_command_warns_in_one_line_and_still_runs(minilm):
    pytest.importorskip("torch")
    r = invoke("run", SENTENCE, "-m", "minilm", "-b", "torch", "--device", "cpu", "--dtype", "bfloat16", "-F", "json")
    assert r.exit_code == 0, r.stderr
    lines = r.stderr.splitlines()
    if flags() & {"avx512_bf16", "amx_bf16"}:
        assert lines == []
    else:
        assert len(lines) == 1 and lines[0].startswith("vectorize: warning: --dtype bfloat16 on this CPU is emulated")
    r32 = invoke("run", SENTENCE, "-m", "minilm", "-b", "torch", "--device", "cpu", "-F", "json")
    assert r32.exit_code == 0 and r32.stderr == ""
