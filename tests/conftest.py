import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTICLE = ROOT.parent / "shared" / "seed" / "attention-article.txt"


@pytest.fixture
def rng():
    """A generator with a fresh seed each run (fresh random inputs), printed so a failure can be replayed:
    VECTORIZE_TEST_SEED=<seed> pytest ..."""
    seed = int(os.environ.get("VECTORIZE_TEST_SEED", np.random.SeedSequence().entropy % 2**32))
    print(f"random inputs from VECTORIZE_TEST_SEED={seed}")
    return np.random.default_rng(seed)
