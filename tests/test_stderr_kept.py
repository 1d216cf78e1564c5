"""Issue 26: the one line a signal ends a run with is never lost. The tokenizer points fd 2 at a scratch file while
the Rust side runs (its panic reports); a signal that cuts that short (between the redirection and the `try` that
undoes it, or in the `finally` before fd 2 is put back) once left stderr there: exit 143 and an empty stderr
(tests/test_embed.py::test_sigterm_keeps_whole_parts_only_and_resume_finishes, 1 run in 8). Here the window is
reached deterministically: the redirection entered and never left, as such a signal leaves it, and a real SIGTERM
sent the moment fd 2 moves (exit 143 and an empty stderr before the fix)."""

import subprocess
import sys

from conftest import ROOT

CUT = """
import sys
from pathlib import Path
from vectorize_cli.errors import tell
from vectorize_cli.model.tokenizer import _rust

held = _rust(Path("tokenizer.json"), "x")  # kept: its finally never runs, as when a signal cut it
held.__enter__()  # fd 2 on the scratch file; the signal came before it was put back
print("on the scratch file", file=sys.stderr)
tell("error", "terminated by SIGTERM")
sys.exit(143)
"""


def test_the_last_line_reaches_stderr_even_when_a_signal_cut_the_redirection_short():
    r = subprocess.run([sys.executable, "-c", CUT], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 143
    assert r.stderr.strip().splitlines()[-1] == "vectorize: error: terminated by SIGTERM", r.stderr


def test_the_redirection_keeps_the_rusts_reports_off_stderr_and_puts_it_back():
    code = ("import sys; from pathlib import Path; from vectorize_cli.model.tokenizer import _rust\n"
            "with _rust(Path('t.json'), 'x'):\n    print('hidden', file=sys.stderr, flush=True)\n"
            "print('shown', file=sys.stderr)")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "shown\n", r.stderr


SIGNAL_IN_THE_WINDOW = """
import os, signal, sys
real, fired = os.dup2, []

def dup2(fd, fd2, inheritable=True):  # SIGTERM the moment fd 2 is first pointed at the scratch file
    real(fd, fd2, inheritable)
    if fd2 == 2 and not fired:
        fired.append(fd)
        os.kill(os.getpid(), signal.SIGTERM)  # its handler raises as soon as this call returns

os.dup2 = dup2
sys.argv = ["vectorize", "embed", sys.argv[1], "-o", sys.argv[2]]
from vectorize_cli.__main__ import main
main()
"""


def test_sigterm_right_after_the_redirection_is_exit_143_and_its_line(minilm, tmp_path):
    (tmp_path / "in.txt").write_text("one\ntwo\n", encoding="utf-8")
    r = subprocess.run([sys.executable, "-c", SIGNAL_IN_THE_WINDOW, str(tmp_path / "in.txt"), str(tmp_path / "ds")],
                       cwd=ROOT, capture_output=True, text=True)
    assert (r.returncode, r.stderr) == (143, "vectorize: error: terminated by SIGTERM\n")
