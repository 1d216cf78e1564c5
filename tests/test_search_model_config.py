"""`search -m MODEL` (issue 26): the same weights are not enough; the rest of what makes a vector (pooling, max
length, normalisation, lower-casing, prompts, dtype, truncate_dim: encoder.SAME_MODEL, SAME_RUN) must be the one the
dataset recorded, else one usage error naming each differing field (exit 2). A copy of the folder that differs in
nothing searches exactly as the dataset's own model."""

import json

import pytest

from conftest import link_tree
from test_cli import invoke
from test_dataset_hostile import LINES
from test_embed import embed, one_error


@pytest.fixture(scope="module")
def dataset(minilm, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("search-model")
    (tmp / "in.txt").write_text("\n".join(LINES) + "\n", encoding="utf-8")
    embed(tmp / "in.txt", "-o", tmp / "ds")
    return tmp / "ds"


def _write(path, doc) -> None:
    path.unlink(missing_ok=True)  # a linked file: never written through
    path.write_text(json.dumps(doc), encoding="utf-8")


def _pool_cls(m):
    doc = json.loads((m / "1_Pooling" / "config.json").read_text())
    _write(m / "1_Pooling" / "config.json", {**doc, "pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False})


def _sbert(m, **change):
    doc = json.loads((m / "sentence_bert_config.json").read_text())
    _write(m / "sentence_bert_config.json", {**doc, **change})


def _no_normalize(m):
    modules = json.loads((m / "modules.json").read_text())
    _write(m / "modules.json", [x for x in modules if "Normalize" not in x["type"]])


def _prompts(m):
    doc = json.loads((m / "config_sentence_transformers.json").read_text())
    _write(m / "config_sentence_transformers.json", {**doc, "prompts": {"query": "query: ", "document": ""}})


CHANGES = {"pool": (_pool_cls, "pool 'first', not 'mean'"),  # pooling.POOLING's name for CLS
           "max_length": (lambda m: _sbert(m, max_seq_length=128), "max_length 128, not 256"),
           "normalize": (_no_normalize, "normalize False, not True"),
           "do_lower_case": (lambda m: _sbert(m, do_lower_case=True), "do_lower_case True, not False"),
           "prompts": (_prompts, "prompts {'query': 'query: ', 'document': ''}, not {}")}


@pytest.mark.parametrize("change", CHANGES)
def test_the_same_weights_with_another_config_are_refused_naming_the_field(dataset, minilm_path, tmp_path, change):
    folder = link_tree(minilm_path, tmp_path / "m")
    edit, said = CHANGES[change]
    edit(folder)
    one_error(invoke("search", "cats", "-D", str(dataset), "-m", str(folder)), 2, str(folder), said)


def test_two_fields_at_once_are_both_named(dataset, minilm_path, tmp_path):
    folder = link_tree(minilm_path, tmp_path / "m")
    _pool_cls(folder)
    _sbert(folder, max_seq_length=64)
    one_error(invoke("search", "cats", "-D", str(dataset), "-m", str(folder)), 2, "pool 'first'", "max_length 64")


def test_a_copy_that_differs_in_nothing_searches_the_same(dataset, minilm_path, tmp_path):
    folder = link_tree(minilm_path, tmp_path / "m")
    own = invoke("search", "cats", "-D", str(dataset), "-F", "json", "-k", "5")
    copy = invoke("search", "cats", "-D", str(dataset), "-F", "json", "-k", "5", "-m", str(folder))
    assert own.exit_code == 0 and copy.exit_code == 0, copy.stderr
    assert copy.stdout == own.stdout


def test_a_recorded_folder_edited_since_is_refused_too(minilm_path, tmp_path):
    """Without -m the dataset's own folder is opened: edited after the embedding, it is no longer the model the
    vectors came from (exit 1: nothing the user asked for is wrong). Real processes: one process reads a folder
    once."""
    import subprocess
    import sys

    from conftest import ROOT

    folder = link_tree(minilm_path, tmp_path / "m")
    (tmp_path / "in.txt").write_text("\n".join(LINES) + "\n", encoding="utf-8")
    embed(tmp_path / "in.txt", "-o", tmp_path / "ds", "-m", folder)

    def search():
        return subprocess.run([sys.executable, "-m", "vectorize_cli", "search", "cats", "-D", str(tmp_path / "ds")],
                              capture_output=True, text=True, cwd=ROOT, timeout=300)

    assert search().returncode == 0
    _sbert(folder, max_seq_length=32)
    p = search()
    assert p.returncode == 1 and p.stdout == "", p.stderr
    assert p.stderr.count("\n") == 1 and "max_length 32, not 256" in p.stderr, p.stderr
