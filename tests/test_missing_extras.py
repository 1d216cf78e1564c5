"""Without the [search] extra (pyarrow), each corpus command says so in one line naming itself and the extra,
exit 1, before reading anything: run as real processes, pyarrow made unimportable by a package of that name
first on the path that raises ImportError, as a missing one does."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("argv", [["index", "DIR"], ["verify", "DIR"], ["search", "a cat", "-D", "DIR"]])
def test_each_command_names_itself_and_the_extra(tmp_path, argv):
    (tmp_path / "shadow" / "pyarrow").mkdir(parents=True)
    (tmp_path / "shadow" / "pyarrow" / "__init__.py").write_text("raise ImportError('No module named pyarrow')\n")
    (tmp_path / "DIR").mkdir()
    r = subprocess.run([sys.executable, "-m", "vectorize_cli", *argv], cwd=tmp_path, capture_output=True, text=True,
                       env={"PYTHONPATH": f"{tmp_path / 'shadow'}:{ROOT}", "PATH": "/usr/bin:/bin"}, timeout=120)
    assert r.returncode == 1, r.stderr
    assert r.stderr.splitlines() == [f"vectorize: error: vectorize {argv[0]} needs pyarrow: "
                                     "pip install 'vectorize-cli[search]'"], r.stderr
    assert r.stdout == ""
