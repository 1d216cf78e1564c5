"""Issue 26: the one line a signal ends a run with is never lost. The tokenizer points fd 2 at a scratch file while
the Rust side runs (its panic reports); a signal that cuts that short (between the redirection and the `try` that
undoes it, or in the `finally` before fd 2 is put back) once left stderr there: exit 143 and an empty stderr
(tests/test_embed.py::test_sigterm_keeps_whole_parts_only_and_resume_finishes, 1 run in 8). Here the window is
reached deterministically: the redirection entered and never left, as such a signal leaves it."""

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
