"""The rl launcher's config handling and plan, without starting any component."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from prime_rl.config import ConfigError, load_config
from prime_rl.launcher.config import RLConfig, inline_toml
from prime_rl.launcher.rl import build_plan

SMOKE = Path(__file__).resolve().parents[2] / "examples" / "smoke"


def _config(tmp_path: Path, *args: str) -> RLConfig:
    return load_config(RLConfig, ["--output-dir", str(tmp_path / "out"), *args])


def test_inline_sections_with_shared_keys_reach_every_component(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        "--model", "/models/tiny",
        "--max-steps", "7",
        "--orchestrator.batch-size", "8",
        "--orchestrator.rollouts-per-example", "2",
        "--inference.server.port", "8123",
        "--trainer-processes", "2",
    )  # fmt: skip
    plan = build_plan(config)
    inference, orchestrator, trainer = (plan.resolved[r] for r in ("inference", "orchestrator", "trainer"))
    assert inference.model.name == "/models/tiny"
    assert orchestrator.model.name == "/models/tiny" and trainer.model.name == "/models/tiny"
    assert orchestrator.max_steps == trainer.max_steps == 7
    assert orchestrator.batch_size == 8
    assert orchestrator.client.urls == ["http://127.0.0.1:8123/v1"]
    assert orchestrator.num_train_workers == trainer.num_train_workers == 2
    assert orchestrator.output_dir == trainer.output_dir == str(tmp_path / "out")
    assert plan.health_url == "http://127.0.0.1:8123/health"
    assert plan.commands["trainer"][1:6] == [
        "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m",
    ]  # fmt: skip
    assert plan.envs["trainer"]["TRAINER_WORLD_SIZE"] == "2"
    assert plan.fresh


def test_orchestrator_model_is_the_served_name(tmp_path: Path) -> None:
    config = _config(tmp_path, "--model", "/models/tiny", "--inference.model.served-model-name", "tiny")
    orchestrator = build_plan(config).resolved["orchestrator"]
    assert orchestrator.model.name == "tiny"
    assert orchestrator.model.tokenizer == "/models/tiny"


def test_component_files_then_inline_keys_then_cli(tmp_path: Path) -> None:
    rl = tmp_path / "rl.toml"
    rl.write_text(
        f'model = "/m"\n[orchestrator]\nconfig = "{SMOKE / "orch.toml"}"\nseq_len = 256\n'
        f'[trainer]\nconfig = "{SMOKE / "train.toml"}"\n[inference]\nconfig = "{SMOKE / "infer.toml"}"\n'
    )
    config = load_config(RLConfig, ["@", str(rl), "--orchestrator.sampling.max-tokens", "8"])
    orchestrator = build_plan(config).resolved["orchestrator"]
    assert (orchestrator.batch_size, orchestrator.seq_len, orchestrator.sampling.max_tokens) == (16, 256, 8)


def test_smoke_rl_toml_resolves(tmp_path: Path) -> None:
    config = load_config(RLConfig, ["@", str(SMOKE / "rl.toml"), "--output-dir", str(tmp_path)])
    assert config.build_tiny_model and config.inference["config"] == "examples/smoke/infer.toml"


def test_a_path_string_is_short_for_a_config_table() -> None:
    config = RLConfig.model_validate({"trainer": "a.toml"})
    assert config.trainer == {"config": "a.toml"}


def test_inline_toml_round_trips_nested_values() -> None:
    import tomllib

    table = {"a": 1, "b": [1.5, "x"], "c": {"d": True, "e": {"f": "g"}}}
    assert tomllib.loads(inline_toml(table)) == table


def test_fails_on_unknown_key_in_a_component_section(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"orchestrator config: unknown key 'bogus' in \[orchestrator\] of the rl"
    ):
        build_plan(_config(tmp_path, "--orchestrator.bogus", "1"))


def test_fails_on_invalid_value_in_a_component_file(tmp_path: Path) -> None:
    bad = tmp_path / "orch.toml"
    bad.write_text("batch_size = 10\nrollouts_per_example = 4\n")
    rl = tmp_path / "rl.toml"
    rl.write_text(f'orchestrator = "{bad}"\n')
    with pytest.raises(ConfigError, match=r"orchestrator config: invalid value for 'batch_size': 10"):
        build_plan(load_config(RLConfig, ["@", str(rl)]))


def test_fails_when_only_one_component_resumes(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"must both be set .* got -1 and None"):
        build_plan(_config(tmp_path, "--orchestrator.ckpt.resume-step", "-1"))


def test_fails_when_max_steps_differ(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="orchestrator max_steps=3 and trainer max_steps=5 differ"):
        build_plan(_config(tmp_path, "--orchestrator.max-steps", "3", "--trainer.max-steps", "5"))


def test_fails_on_config_error_with_exit_2_before_starting_anything(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "prime_rl.launcher.rl",
            "--output-dir",
            str(tmp_path),
            "--trainer.optim.lr",
            "-1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("rl: error: trainer config: invalid value for 'optim.lr'")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "configs").exists()
