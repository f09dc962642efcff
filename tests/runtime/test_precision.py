"""fp32 master weights with bf16 compute: small updates survive, published weights are bf16."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

from prime_rl.config import load_config
from prime_rl.trainer.config import ModelConfig
from prime_rl.trainer.model import output_dtype, prepare_model
from prime_rl.trainer.parallel import close_world, is_sharded
from prime_rl.trainer.rl.config import RLTrainerConfig
from prime_rl.trainer.weights import gather_full_state_dict

REPO = Path(__file__).resolve().parents[2]
CPU = torch.device("cpu")


def test_precision_benchmark_keeps_updates_at_lr_1e_6() -> None:
    """The benchmark as a user runs it: fp32 master weights keep >= 99% of updates, bf16 ones lose most."""
    result = subprocess.run(
        [sys.executable, "benchmarks/precision.py"], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-1].startswith("changed_fraction=")
    assert float(lines[-1].split("=", 1)[1]) >= 0.99
    bf16 = next(line for line in lines if line.startswith("master weights in bfloat16"))
    assert float(bf16.split(": ", 1)[1].split()[0]) < 0.5


def test_defaults_keep_fp32_master_weights_and_publish_in_the_compute_dtype() -> None:
    config = load_config(RLTrainerConfig, [])
    assert config.model.optimization_dtype == "float32"
    assert config.optim.defer_gradient_sync is False
    assert output_dtype("auto", ModelConfig(dtype="bfloat16"), CPU) == torch.bfloat16
    assert output_dtype("auto", ModelConfig(), CPU) == torch.float32  # auto compute on CPU is fp32
    assert output_dtype("float16", ModelConfig(dtype="bfloat16"), CPU) == torch.float16


def test_one_rank_with_bf16_compute_is_sharded_with_fp32_parameters(tiny_model_dir: Path) -> None:
    try:
        model = prepare_model(ModelConfig(name=str(tiny_model_dir), dtype="bfloat16"), CPU, world_size=1)
        assert is_sharded(model)
        assert {p.dtype for p in model.parameters()} == {torch.float32}
        ids = torch.arange(8)[None]
        logits = model(input_ids=ids, position_ids=ids, use_cache=False).logits
        assert logits.dtype == torch.bfloat16
        state = gather_full_state_dict(model, None)
        assert state and all(t.dtype == torch.float32 for t in state.values())
    finally:
        close_world()


def test_one_rank_computing_in_its_own_dtype_stays_a_plain_module(tiny_model_dir: Path) -> None:
    model = prepare_model(ModelConfig(name=str(tiny_model_dir)), CPU, world_size=1)
    assert not is_sharded(model)


def test_gpu_check_refuses_clearly_without_a_gpu() -> None:
    """The GPU check cannot run here; it must say so in one line, not fail somewhere inside."""
    import os

    if torch.cuda.is_available():
        return
    result = subprocess.run(
        ["bash", "benchmarks/gpu_check.sh"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"gpu_check: no CUDA device visible to {sys.executable}; this check needs a GPU"
    )
