"""Every trainer and SFT example config parses into its config class with the documented values."""

from __future__ import annotations

from pathlib import Path

import pytest

from prime_rl.config import load_config
from prime_rl.trainer.rl.config import RLTrainerConfig
from prime_rl.trainer.sft.config import SFTConfig

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RL_TOMLS = [*sorted(EXAMPLES.glob("*/configs/train.toml")), EXAMPLES / "smoke" / "train.toml"]
SFT_TOMLS = sorted(EXAMPLES.glob("*/sft/train.toml"))


@pytest.mark.parametrize("path", RL_TOMLS, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_rl_example_parses(path: Path) -> None:
    config = load_config(RLTrainerConfig, ["@", str(path)])
    assert config.max_steps > 0


@pytest.mark.parametrize("path", SFT_TOMLS, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_sft_example_parses(path: Path) -> None:
    config = load_config(SFTConfig, ["@", str(path)])
    assert config.data.batch_size % config.data.micro_batch_size == 0


def test_example_hyper_parameters() -> None:
    rt = load_config(RLTrainerConfig, ["@", str(EXAMPLES / "reverse_text/configs/train.toml")])
    assert (rt.model.name, rt.max_steps, rt.optim.lr, rt.seq_len) == ("Qwen/Qwen3-0.6B", 20, 3e-6, 2048)
    sft = load_config(SFTConfig, ["@", str(EXAMPLES / "reverse_text/sft/train.toml")])
    assert (sft.model.name, sft.max_steps, sft.optim.lr) == ("Qwen/Qwen3-0.6B", 100, 2e-5)
    assert (sft.data.seq_len, sft.data.batch_size) == (4096, 32)
    wordle = load_config(RLTrainerConfig, ["@", str(EXAMPLES / "wordle/configs/train.toml")])
    assert (wordle.model.name, wordle.max_steps, wordle.optim.lr, wordle.seq_len) == (
        "Qwen/Qwen3-1.7B",
        100,
        1e-6,
        4096,
    )
    sort = load_config(RLTrainerConfig, ["@", str(EXAMPLES / "alphabet_sort/configs/train.toml")])
    assert sort.model.name == "Qwen/Qwen3-4B-Instruct-2507"
    assert (sort.max_steps, sort.optim.lr, sort.seq_len) == (100, 1e-5, 2048)
    assert sort.model.lora is not None and (sort.model.lora.rank, sort.model.lora.alpha) == (32, 64.0)
    assert len(sort.model.lora.target_modules) == 7


def test_output_dir_defaults_to_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTPUT_DIR", "/data/outputs")
    monkeypatch.setenv("TRAINER_WORLD_SIZE", "4")
    config = load_config(RLTrainerConfig, ["@", str(EXAMPLES / "smoke/train.toml")])
    assert config.output_dir == "/data/outputs"
    assert config.num_train_workers == 4
