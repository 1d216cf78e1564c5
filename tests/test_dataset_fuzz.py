"""The dataset and index fuzzer (tests/dataset_fuzzing.py) in CI: a fixed slice of damaged datasets in-process and one
case of two writers at once; `pytest -m fuzz` a bigger one from a fresh seed; benchmarks/fuzz.py --datasets, 2,000+."""

import os
import random

import pytest

pytest.importorskip("pyarrow")
pytest.importorskip("usearch")

import dataset_fuzzing as dfz  # noqa: E402


@pytest.fixture(scope="module")
def bases(minilm, tmp_path_factory):
    return dfz.make_bases(tmp_path_factory.mktemp("bases"))


def _run(bases, tmp_path, seed: int, cases: int) -> None:
    rng = random.Random(seed)
    found = []
    for n in range(cases):
        case, failures = dfz.run_case(rng, bases, tmp_path, n)
        found += [f"{case!r}: {f}" for f in failures]
    assert not found, f"seed {seed}:\n" + "\n".join(found[:10])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_damaged_datasets_fixed_slice(bases, tmp_path, seed):
    _run(bases, tmp_path, seed, 20)


def test_the_untampered_bases_search_and_verify(bases):
    for base in bases.values():
        assert dfz.check(base, base.path) == []
        assert "\"hits\"" in base.search and base.search == base.ann  # every row: the graph finds them all


def test_two_writers_at_once(bases, tmp_path):
    what, failures = dfz.concurrent(random.Random(0), bases["float32"].path.parent, tmp_path, 0)
    assert not failures, (what, failures)


@pytest.mark.fuzz
def test_damaged_datasets_random(bases, tmp_path):
    seed = int.from_bytes(os.urandom(4), "little")
    print(f"dataset fuzz seed {seed}")
    _run(bases, tmp_path, seed, 500)
