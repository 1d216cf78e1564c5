"""`vectorize bench`: every case measured or skipped with the memory estimate, numbers that make
sense against the float64 reference, JSON for the raw numbers, plots in the terminal and to files."""

import json
import re
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from vectorize_cli import bench, memory
from vectorize_cli.cli import app
from vectorize_cli.config import Config


def invoke(*args):
    return CliRunner(env={"COLUMNS": "120"}).invoke(app, list(args))


def test_cases_cover_the_grid_and_skip_numpy_on_cuda():
    cases = bench.cases(["multi-head", "flash"], ["numpy", "torch"], ["cpu", "cuda"], [8, 16])
    assert len(cases) == 2 * 2 * 3
    assert not [c for c in cases if c.backend == "numpy" and c.device == "cuda"]


def test_measure_times_memory_and_accuracy():
    base = Config(dim=32, heads=4)
    for variant in ("flash", "multi-head", "additive"):
        m = bench.measure(bench.Case(variant, "numpy", "cpu", 40), base, repeat=2, warmup=1)
        assert m.skipped is None
        assert 0 < m.min_s <= m.median_s <= m.max_s
        assert m.peak_mib > 0
        assert m.max_abs_delta < 1e-5  # float32 against float64
    torch_flash = bench.measure(bench.Case("flash", "torch", "cpu", 40), base, repeat=1, warmup=1)
    assert torch_flash.kernel == "aten::_scaled_dot_product_flash_attention_for_cpu"
    assert torch_flash.max_abs_delta < 1e-5


def test_explicit_memory_grows_quadratically_and_flash_linearly(monkeypatch):
    from vectorize_cli import parallel

    # flash holds a few tiles per core at a time: the growth in T is measured at a fixed number of cores
    # (on 16 cores, T = 1,024 has work for every core and T = 256 for few: more cores, not longer rows)
    monkeypatch.setattr(parallel, "cores", lambda: 2)
    base = Config(dim=64, heads=8)
    peak = {(v, T): bench.measure(bench.Case(v, "numpy", "cpu", T), base, 1, 0).peak_mib
            for v in ("multi-head", "flash") for T in (256, 1024)}
    assert peak["multi-head", 1024] / peak["multi-head", 256] > 10  # 16x the weights
    assert peak["flash", 1024] / peak["flash", 256] < 6  # tiles of fixed size; the rest linear
    assert peak["flash", 1024] < peak["multi-head", 1024] / 5


def test_cases_over_the_memory_limit_are_skipped_with_the_estimate():
    config = Config(dim=64, heads=8, max_memory=2**28)
    m = bench.measure(bench.Case("multi-head", "numpy", "cpu", 5000), config, repeat=1, warmup=0)
    need = memory.total(replace(config, attention=("multi-head",)), 5000)
    assert need > 8 * 5000**2 * 4  # the H x T x T weights at least
    assert m.skipped == f"needs {memory.human(need)} > --max-memory 256.0 MiB" and m.median_s is None


def test_a_skipped_case_leaves_the_table_readable():
    """The skip note wraps in its own column; the numbers of the other rows stay whole at 120 columns."""
    r = invoke("bench", "-a", "multi-head", "-a", "flash", "-T", "64", "-T", "20000", "--dim", "64", "-r", "1")
    assert r.exit_code == 0, r.stderr
    assert re.search(r"skipped: needs [0-9.]+ GiB > --max-memory 4\.0 GiB", " ".join(r.stdout.split()))
    for row in [line.split() for line in r.stdout.splitlines() if line.split()[:1] == ["64"]]:
        assert row[1] in ("multi-head", "flash") and row[2] == "numpy" and float(row[4]) > 0, row


def test_bench_cuda_without_a_gpu_is_an_error_as_in_run():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: nothing to refuse")
    r = invoke("bench", "--device", "cuda", "-b", "torch", "-T", "8")
    assert r.exit_code == 1 and r.stderr == "vectorize: error: --device cuda: torch sees no CUDA GPU on this machine\n"
    r = invoke("bench", "--device", "cuda", "-T", "8")  # numpy only: no case exists
    assert r.exit_code == 2 and "needs -b torch" in r.stderr and r.stdout == ""


def test_bench_cli_table_json_and_plot(tmp_path):
    args = ["bench", "-T", "16", "-T", "64", "--dim", "16", "--heads", "2", "--repeat", "2"]
    r = invoke(*args)
    assert r.exit_code == 0, r.stderr
    assert "tiled-online-softmax" in r.stdout and "time (ms) against sequence length" in r.stdout
    assert "\x1b[" not in r.stdout
    r = invoke(*args, "--format", "json", "-a", "flash", "-b", "numpy", "-b", "torch")
    assert r.exit_code == 0, r.stderr
    record = json.loads(r.stdout)
    assert record["kind"] == "bench" and record["machine"]["cores"] >= 1
    assert [(x["T"], x["backend"]) for x in record["results"]] == [(16, "numpy"), (16, "torch"), (64, "numpy"),
                                                                    (64, "torch")]
    for name in ("bench.png", "bench.svg"):
        r = invoke(*args, "--plot", str(tmp_path / name), "--format", "json")
        assert r.exit_code == 0, r.stderr
        assert (tmp_path / name).stat().st_size > 1000
    assert (tmp_path / "bench.png").read_bytes()[:4] == b"\x89PNG"
    assert b"<svg" in (tmp_path / "bench.svg").read_bytes()[:500]


def test_bench_cli_errors():
    r = invoke("bench", "-T", "0")
    assert r.exit_code == 2 and "--length" in r.stderr and len(r.stderr.splitlines()) == 1
    r = invoke("bench", "-T", "8", "--dim", "8", "--plot", "/no/such/dir/plot.png")  # refused before any case runs
    assert r.exit_code == 1 and "cannot write the plot to /no/such/dir/plot.png" in r.stderr and r.stdout == ""
    r = invoke("bench", "-T", "8", "--dim", "8", "--plot", "plot.unknown")
    assert r.exit_code == 2 and ".png" in r.stderr and r.stdout == "" and len(r.stderr.splitlines()) == 1


def test_bench_results_survive_a_plot_that_cannot_be_written(tmp_path):
    (tmp_path / "plot.png").mkdir()  # the folder is there, the file cannot be written: found only at the end
    r = invoke("bench", "-T", "8", "--dim", "8", "-F", "json", "--plot", str(tmp_path / "plot.png"))
    assert r.exit_code == 1 and "cannot write the plot" in r.stderr
    assert json.loads(r.stdout)["results"][0]["T"] == 8  # the measurements were written first


def test_without_plotext_the_table_says_which_extra_gives_plots(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "plotext", None)  # import plotext raises ImportError
    r = invoke("bench", "-T", "8", "--dim", "8", "--heads", "2", "--repeat", "1")
    assert r.exit_code == 0, r.stderr
    assert "pip install 'vectorize-cli[bench]' for plots" in r.stdout and "tiled-online-softmax" in r.stdout


def test_torch_cpu_memory_is_what_its_allocator_held_fused_kernel_included(capfd):
    """Resident memory read 0.0 MiB for torch's flash kernel (glibc hands it pages earlier runs left resident);
    torch's profiler counts every allocation: flash's peak is linear in T (q, k, v, output), explicit's holds
    the H x T x T weights, and the profiler's own lines never reach stderr."""
    pytest.importorskip("torch")
    base = Config(dim=64, heads=8)
    peak = {(v, T): bench.measure(bench.Case(v, "torch", "cpu", T), base, 1, 1).peak_mib
            for v in ("flash", "multi-head") for T in (256, 1024)}
    T, d, H = 1024, 64, 8
    assert peak["flash", T] >= 4 * T * d * 4 / 2**20  # at least q, k, v and the output, float32
    assert 2 < peak["flash", 1024] / peak["flash", 256] < 6  # linear in T
    assert peak["multi-head", T] >= H * T * T * 4 / 2**20  # the weights, whole
    assert capfd.readouterr().err == ""


def test_a_peak_not_measured_says_so():
    row = bench.Measurement(bench.Case("flash", "torch", "cpu", 8), 0.1, 0.1, 0.1, None, 0.0, "sdpa").to_dict()
    from rich.console import Console

    con = Console(width=120, record=True)
    con.print(bench.table([row], {}))
    assert "not measured" in con.export_text()
