"""Issue 26: Ray that fails fast. A dead --address (loopback only here), GPUs the cluster lacks and SIGTERM during
a run: one line on stderr within seconds, none of Ray's own log lines, exit 1 (143 for SIGTERM)."""

import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT

pytestmark = pytest.mark.ray
ray = pytest.importorskip("ray", reason="the ray extra: pip install 'vectorize-cli[ray]'")


def start(tmp_path, *args, lines: int = 4):
    (tmp_path / "in.txt").write_text("".join(f"sentence {i} about cats\n" for i in range(lines)), encoding="utf-8")
    return subprocess.Popen([sys.executable, "-m", "vectorize_cli", "embed", str(tmp_path / "in.txt"), "-o",
                             str(tmp_path / "ds"), "--engine", "ray", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def one_line(p, code: int, *words: str, within: float) -> None:
    t0 = time.monotonic()
    try:
        _, err = p.communicate(timeout=within)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        pytest.fail(f"still running after {within} s")
    assert p.returncode == code, (p.returncode, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vectorize: error: "), err
    for w in words:
        assert w in lines[0], (w, lines[0])
    return time.monotonic() - t0


def test_a_dead_address_fails_within_seconds_in_one_line(tmp_path):
    one_line(start(tmp_path, "--address", "127.0.0.1:1"), 1, "127.0.0.1:1", within=30)
    assert not (tmp_path / "ds").exists()  # the run made it and failed: no empty directory left behind


def test_gpus_the_cluster_lacks_are_refused_before_anything_waits(tmp_path):
    one_line(start(tmp_path, "--gpus-per-worker", "1"), 1, "GPU", within=120)


def test_sigterm_during_a_ray_run_is_exit_143_and_one_line(tmp_path):
    p = start(tmp_path, "--part-rows", "8", lines=4000)
    deadline = time.monotonic() + 120
    while not (tmp_path / "ds" / ".staging").exists() and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(1)
    p.send_signal(signal.SIGTERM)
    one_line(p, 128 + signal.SIGTERM, "terminated by SIGTERM", within=60)
    assert not list((tmp_path / "ds").glob(".*.part"))
