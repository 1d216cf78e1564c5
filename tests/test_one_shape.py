"""The "one shape" contract: --device, --dtype, --strict and --max-memory mean the same with --model as
without; which options apply to which mode is read off the config dataclasses; both pipelines give a Trace
that every view reads."""

import json

import numpy as np
import pytest
import typer

from test_cli import invoke
from vectorize_cli.commands.run import MODEL_ONLY, TOY_ONLY
from vectorize_cli.config import Config, ModelConfig

SENTENCE = "The cat sat on the mat."


def _run_params() -> dict:
    from typer.main import get_command

    from vectorize_cli.cli import app

    return {p.name: p for p in get_command(app).commands["run"].params}


def _cli_args(param) -> list[str]:
    """The option as a user types it, with a value the option accepts (its default, or a choice)."""
    flag = param.opts[0]
    if param.is_flag:
        return [flag]
    default = param.default[0] if isinstance(param.default, (list, tuple)) and param.default else param.default
    value = getattr(default, "value", default)
    return [flag, "1" if value is None else str(value)]


def test_every_run_option_is_the_toys_the_models_or_both():
    fields = set(Config.__dataclass_fields__) | set(ModelConfig.__dataclass_fields__)
    both = {"text", "file", "whole", "model", "decimals", "output_format", "output", "force", "omit", "token",
            "deprecated_precision"}  # --precision: --decimals' old name (commands/command.py)
    assert set(_run_params()) == fields | both  # a new option is a field of a config, or input/output
    assert set(TOY_ONLY) == set(Config.__dataclass_fields__) - set(ModelConfig.__dataclass_fields__)
    assert set(MODEL_ONLY) == {"layer", "head", "batch_size", "rollout", "prompt", "prompt_name", "truncate_dim"}
    assert {"device", "dtype", "strict", "max_memory", "backend", "attention"} <= set(ModelConfig.__dataclass_fields__)


@pytest.mark.parametrize("name", TOY_ONLY)
def test_each_toy_option_is_refused_with_model(minilm, name):
    r = invoke("run", SENTENCE, "-m", "minilm", *_cli_args(_run_params()[name]))
    assert r.exit_code == 2 and "does not apply with --model" in r.stderr, (name, r.stderr)


@pytest.mark.parametrize("name", MODEL_ONLY)
def test_each_model_option_is_refused_without_model(name):
    r = invoke("run", SENTENCE, *_cli_args(_run_params()[name]))
    assert r.exit_code == 2 and "applies with --model" in r.stderr, (name, r.stderr)


def test_model_on_torch_in_bfloat16_reports_what_ran(minilm):
    pytest.importorskip("torch")
    from vectorize_cli.pipelines.bert import encode

    r = invoke("run", SENTENCE, "-m", "minilm", "-b", "torch", "--device", "cpu", "--dtype", "bfloat16", "-F", "json")
    assert r.exit_code == 0, r.stderr
    rec = json.loads(r.stdout)
    assert rec["config"]["backend"] == "torch" and rec["config"]["dtype"] == "bfloat16"
    assert rec["config"]["device"] == "cpu" and rec["config"]["kernel"] == "explicit"
    v16 = np.float32(rec["sentence_vector"])
    v32 = encode(minilm, [SENTENCE])[0][0]
    cos = float(v16 @ v32 / np.linalg.norm(v16) / np.linalg.norm(v32))
    assert 0.99 < cos < 1.0  # bfloat16 keeps 8 bits of mantissa: close to float32, and not equal to it
    table = invoke("run", SENTENCE, "-m", "minilm", "-b", "torch", "--device", "cpu", "--dtype", "bfloat16")
    assert "on torch (cpu, bfloat16)" in table.stdout and "kernel: explicit" in table.stdout


def test_model_flash_strict_runs_torchs_flash_kernel(minilm):
    pytest.importorskip("torch")
    from vectorize_cli.attention.sdpa import SDPA_OPS

    r = invoke("run", SENTENCE, "-m", "minilm", "-a", "flash", "-b", "torch", "--device", "cpu", "--strict",
               "-F", "json")
    assert r.exit_code == 0, r.stderr
    cfg = json.loads(r.stdout)["config"]
    assert cfg["kernel"] == SDPA_OPS["FLASH_ATTENTION", "cpu"] and cfg["notes"] == []


def test_model_half_precision_needs_torch(minilm):
    r = invoke("run", SENTENCE, "-m", "minilm", "--dtype", "float16")
    assert r.exit_code == 2 and "--dtype float16 needs --backend torch" in r.stderr


def test_model_device_cuda_without_a_gpu_is_refused(minilm):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    r = invoke("run", SENTENCE, "-m", "minilm", "-b", "torch", "--device", "cuda")
    assert r.exit_code == 1 and r.stderr == "vectorize: error: --device cuda: torch sees no CUDA GPU on this machine\n"


def test_model_max_memory_refuses_before_running(minilm):
    r = invoke("run", "-", "-m", "minilm", "-F", "npy", "--max-memory", "1MiB", input=SENTENCE + "\n")
    assert r.exit_code == 1 and "over --max-memory 1.0 MiB" in r.stderr and r.stdout == ""
    r = invoke("run", SENTENCE, "-m", "minilm", "--max-memory", "1MiB")
    assert r.exit_code == 1 and "over --max-memory" in r.stderr


def test_omit_leaves_fields_out_of_a_models_record(minilm):
    r = invoke("run", SENTENCE, "-m", "minilm", "--omit", "weights", "-F", "json")
    rec = json.loads(r.stdout)
    assert rec["omitted"] == ["weights"] and all(set(L) == {"layer", "output"} for L in rec["layers"])
    r = invoke("run", SENTENCE, "-m", "minilm", "--omit", "params", "-F", "jsonl")
    assert r.exit_code == 2 and "--omit params: this record has no such field" in r.stderr


def test_both_pipelines_give_a_trace_every_view_reads(minilm):
    from vectorize_cli.pipelines import bert, toy
    from vectorize_cli.trace import Trace
    from vectorize_cli.views.json import model_record, toy_record

    t_toy = toy.trace(SENTENCE, Config(attention=("multi-head", "flash")))
    t_bert = bert.trace(minilm, SENTENCE)
    assert isinstance(t_toy, Trace) and isinstance(t_bert, Trace)
    assert not t_toy.layered and [b.variant for b in t_toy.blocks] == ["multi-head", "flash"]
    assert t_bert.layered and [b.layer for b in t_bert.blocks] == [1, 2, 3, 4, 5, 6]
    rec = model_record(t_bert)
    for s in t_bert.stages:  # every stage is in the record under its key, as computed
        np.testing.assert_array_equal(rec[s.key], s.values)
    rec = toy_record(t_toy)
    for s in t_toy.stages:
        np.testing.assert_array_equal(rec[s.key], s.values)
