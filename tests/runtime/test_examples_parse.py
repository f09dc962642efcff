"""Every runtime TOML under examples/ loads into its config class without a single error."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from prime_rl.config import BaseConfig, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TOMLS = sorted(p.relative_to(ROOT).as_posix() for p in EXAMPLES.rglob("*.toml"))

RL_TRAINER = "prime_rl.trainer.rl.config:RLTrainerConfig"
SFT = "prime_rl.trainer.sft.config:SFTConfig"
ORCHESTRATOR = "prime_rl.orchestrator.config:OrchestratorConfig"
INFERENCE = "prime_rl.inference.config:InferenceConfig"
LAUNCHER = "prime_rl.launcher.config:RLConfig"
# Roles that write to the shared volume; the inference server only reads from it.
WITH_OUTPUT_DIR = {RL_TRAINER, SFT, ORCHESTRATOR, LAUNCHER}

# Files the examples must provide (the k8s presets and the documented recipes point at them).
REQUIRED = [
    "examples/reverse_text/sft/train.toml",
    "examples/wordle/sft/train.toml",
    *(
        f"examples/{ex}/configs/{f}.toml"
        for ex in ("reverse_text", "wordle", "alphabet_sort")
        for f in ("train", "orch", "infer")
    ),
    *(f"examples/smoke/{f}.toml" for f in ("train", "orch", "infer", "rl")),
]

# Environment the manifests set; cleared so every file is checked against its own defaults.
MANIFEST_ENV = [
    "POD_NAME", "POD_IP", "POD_NAMESPACE", "POD_INDEX", "ROLE", "STATEFUL_REPLICAS", "HEADLESS_SERVICE",
    "INFERENCE_URL", "INFERENCE_URLS", "ADMIN_INFERENCE_URLS", "TRAINER_WORLD_SIZE", "MASTER_ADDR",
    "MASTER_PORT", "OUTPUT_DIR",
]  # fmt: skip


def config_class_path(rel: str) -> str:
    """The config class a runtime TOML is written for, from where it lives and its name."""
    parts = rel.split("/")
    name = parts[-1]
    parent = parts[-2] if len(parts) >= 2 else ""
    if name == "rl.toml":
        return LAUNCHER
    if parent == "sft" and name == "train.toml":
        return SFT
    if parent in ("configs", "smoke"):
        by_name = {"train.toml": RL_TRAINER, "orch.toml": ORCHESTRATOR, "infer.toml": INFERENCE}
        if name in by_name:
            return by_name[name]
    raise AssertionError(f"{rel}: no config class is known for this file; name it after a runtime role")


def config_class(path: str) -> type[BaseConfig]:
    module_name, _, class_name = path.partition(":")
    module = importlib.import_module(module_name)  # a missing module fails the test: it must exist
    cls = getattr(module, class_name)
    assert issubclass(cls, BaseConfig), f"{path} must derive from prime_rl.config.BaseConfig"
    return cls


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in MANIFEST_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(ROOT)


def test_required_example_files_exist() -> None:
    missing = [rel for rel in REQUIRED if rel not in TOMLS]
    assert not missing, f"missing example configs: {', '.join(missing)}"


@pytest.mark.parametrize("rel", TOMLS)
def test_example_parses(rel: str) -> None:
    cls = config_class(config_class_path(rel))
    cfg = parse_config(cls, ["@", rel], prog=Path(rel).stem)
    assert isinstance(cfg, cls)
    # the programmatic path gives the same result
    assert load_config(cls, [f"@{rel}"]) == cfg


def _writes_outputs(rel: str) -> bool:
    try:
        return config_class_path(rel) in WITH_OUTPUT_DIR
    except AssertionError:  # reported by test_example_parses
        return False


@pytest.mark.parametrize("rel", [rel for rel in TOMLS if _writes_outputs(rel)])
def test_example_accepts_cli_override_of_output_dir(rel: str, tmp_path: Path) -> None:
    cls = config_class(config_class_path(rel))
    cfg = parse_config(cls, ["@", rel, "--output-dir", str(tmp_path)], prog=Path(rel).stem)
    assert str(cfg.output_dir) == str(tmp_path)


@pytest.mark.parametrize("path", sorted(WITH_OUTPUT_DIR))
def test_output_dir_defaults_to_manifest_env(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    cls = config_class(path)
    monkeypatch.setenv("OUTPUT_DIR", "/data/outputs")
    assert str(load_config(cls, []).output_dir) == "/data/outputs"
    monkeypatch.delenv("OUTPUT_DIR")
    assert str(load_config(cls, []).output_dir) == "outputs"


@pytest.mark.parametrize("path", sorted({RL_TRAINER, SFT, ORCHESTRATOR, INFERENCE, LAUNCHER}))
def test_config_help(path: str, capsys: pytest.CaptureFixture[str]) -> None:
    cls = config_class(path)
    with pytest.raises(SystemExit) as exc:
        parse_config(cls, ["--help"], prog="cmd")
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: cmd")
    assert all(f"{name}" in out for name in cls.model_fields)


def test_mapping_of_files_to_classes() -> None:
    assert config_class_path("examples/wordle/configs/train.toml") == RL_TRAINER
    assert config_class_path("examples/wordle/sft/train.toml") == SFT
    assert config_class_path("examples/smoke/orch.toml") == ORCHESTRATOR
    assert config_class_path("examples/alphabet_sort/configs/infer.toml") == INFERENCE
    assert config_class_path("examples/smoke/rl.toml") == LAUNCHER
    with pytest.raises(AssertionError, match="no config class"):
        config_class_path("examples/smoke/notes.toml")


@pytest.mark.parametrize("example", ["reverse_text", "wordle", "alphabet_sort"])
def test_pod_examples_resume_a_restarted_pod(example: str) -> None:
    """Pods restart; both sides must pick up from their newest checkpoint, and together: an
    orchestrator that started fresh would clear the broadcasts the running trainer publishes."""
    configs = {
        name: load_config(config_class(cls), [f"@examples/{example}/configs/{name}.toml"])
        for name, cls in (("train", RL_TRAINER), ("orch", ORCHESTRATOR))
    }
    assert configs["train"].ckpt.resume_step == configs["orch"].ckpt.resume_step == -1
    assert configs["train"].ckpt.interval == configs["orch"].ckpt.interval
