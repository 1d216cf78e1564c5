"""The model-folder fuzzer (tests/model_fuzzing.py) in CI: a derandomized slice in-process, a few cases
as real processes; `pytest -m fuzz` runs a bigger random one; benchmarks/fuzz.py --model-folders, 2,000+."""

import os

import pytest
from hypothesis import HealthCheck, given, settings

pytest.importorskip("tokenizers")
pytest.importorskip("safetensors")

import model_fuzzing as mf  # noqa: E402

SETTINGS = dict(deadline=None, database=None, suppress_health_check=list(HealthCheck))


def _one(case, tmp_path, real: bool) -> None:
    folder = mf.build(case, tmp_path / f"m{os.urandom(4).hex()}")
    rc, out, err = (mf.run_case if real else mf.run_in_process)(case, folder)
    why = mf.check(case, rc, out, err)
    assert why is None, f"{case.changes} {case.command}: {why}"


@settings(max_examples=60, derandomize=True, **SETTINGS)
@given(case=mf.cases())
def test_crafted_folders_in_process(case, tmp_path_factory):
    _one(case, tmp_path_factory.mktemp("fuzz"), real=False)


@settings(max_examples=4, derandomize=True, **SETTINGS)
@given(case=mf.cases())
def test_crafted_folders_as_real_processes(case, tmp_path_factory):
    _one(case, tmp_path_factory.mktemp("fuzz"), real=True)


@pytest.mark.fuzz
@settings(max_examples=500, **SETTINGS)
@given(case=mf.cases())
def test_crafted_folders_random(case, tmp_path_factory):
    _one(case, tmp_path_factory.mktemp("fuzz"), real=False)
