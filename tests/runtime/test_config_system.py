"""The config system every entry point uses: files, overrides, env defaults, errors, help."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Literal

import pytest
from pydantic import Field, model_validator

from prime_rl.config import (
    BaseConfig,
    ConfigError,
    dump,
    env_int,
    env_list,
    env_str,
    load_config,
    output_dir_default,
    parse_config,
    to_toml,
)


class OptimConfig(BaseConfig):
    lr: float = Field(1e-5, description="peak learning rate")
    weight_decay: float = 0.01
    betas: list[float] = [0.9, 0.999]


class ModelConfig(BaseConfig):
    name: str = Field("Qwen/Qwen3-0.6B", description="hub name or local path")
    dtype: Literal["bf16", "fp32"] = "bf16"
    compile: bool = False
    max_len: int | None = None


class EnvConfig(BaseConfig):
    id: str = "reverse-text"
    args: dict = Field(default_factory=dict)


class LoraConfig(BaseConfig):
    rank: int = 16
    alpha: float = 32.0


class DemoConfig(BaseConfig):
    """A demo trainer config."""

    lora: LoraConfig | None = Field(None, description="adapters")
    optim: OptimConfig = Field(default_factory=OptimConfig, description="optimizer settings")
    model: ModelConfig = ModelConfig()
    env: list[EnvConfig] = Field(default_factory=lambda: [EnvConfig()])
    max_steps: int | None = 20
    batch_size: int = 8
    micro_batch_size: int = 2
    output_dir: Path = Field(default_factory=output_dir_default)
    pod_index: int = Field(default_factory=env_int("POD_INDEX", 0))
    inference_urls: list[str] = Field(
        default_factory=env_list("INFERENCE_URLS", ["http://localhost:8000/v1"])
    )
    role: str | None = Field(default_factory=env_str("ROLE", None))
    seed: int = Field(default_factory=lambda: env_int("SEED", 7))

    @model_validator(mode="after")
    def _divisible(self) -> DemoConfig:
        if self.batch_size % self.micro_batch_size:
            sizes = f"batch_size ({self.batch_size})", f"micro_batch_size ({self.micro_batch_size})"
            raise ValueError(f"{sizes[0]} must be divisible by {sizes[1]}")
        return self


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def fail_message(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        parse_config(DemoConfig, argv, prog="demo")
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("demo: error: ")
    assert "Traceback" not in err
    return err


def test_defaults_without_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OUTPUT_DIR", "POD_INDEX", "INFERENCE_URLS", "ROLE", "SEED"):
        monkeypatch.delenv(name, raising=False)
    cfg = parse_config(DemoConfig, [], prog="demo")
    assert cfg.optim.lr == 1e-5
    assert cfg.output_dir == Path("outputs")
    assert cfg.pod_index == 0
    assert cfg.inference_urls == ["http://localhost:8000/v1"]
    assert cfg.role is None
    assert cfg.seed == 7


def test_later_files_win_and_cli_wins(tmp_path: Path) -> None:
    a = write(
        tmp_path,
        "a.toml",
        """
        max-steps = 5
        [optim]
        lr = 3e-6
        weight-decay = 0.1
        [model]
        name = "first"
        """,
    )
    b = write(
        tmp_path,
        "b.toml",
        """
        [optim]
        lr = 2e-6
        [model]
        dtype = "fp32"
        """,
    )
    cfg = parse_config(
        DemoConfig, ["@", a, f"@{b}", "--optim.lr", "1e-4", "--model.max-len=512"], prog="demo"
    )
    assert cfg.max_steps == 5
    assert cfg.optim.lr == 1e-4
    assert cfg.optim.weight_decay == 0.1  # kept from a.toml: deep merge, not replace
    assert cfg.model.name == "first"
    assert cfg.model.dtype == "fp32"
    assert cfg.model.max_len == 512


def test_cli_value_literals() -> None:
    cfg = parse_config(
        DemoConfig,
        ["--optim.betas", "[0.8, 0.9]", "--model.name", "123", "--max_steps", "None", "--batch-size", "16"],
        prog="demo",
    )
    assert cfg.optim.betas == [0.8, 0.9]
    assert cfg.model.name == "123"  # a string field keeps the raw text
    assert cfg.max_steps is None
    assert cfg.batch_size == 16


def test_bool_flags() -> None:
    assert parse_config(DemoConfig, ["--model.compile"], prog="demo").model.compile is True
    assert parse_config(DemoConfig, ["--model.compile", "false"], prog="demo").model.compile is False
    assert parse_config(DemoConfig, ["--model.compile=true"], prog="demo").model.compile is True
    cfg = parse_config(DemoConfig, ["--model.compile", "--model.no-compile"], prog="demo")
    assert cfg.model.compile is False
    cfg = parse_config(DemoConfig, ["--model.compile", "--optim.lr", "0.5"], prog="demo")
    assert cfg.model.compile is True
    assert cfg.optim.lr == 0.5


def test_optional_section() -> None:
    assert parse_config(DemoConfig, [], prog="demo").lora is None
    cfg = parse_config(DemoConfig, ["--lora.rank", "32"], prog="demo")
    assert cfg.lora == LoraConfig(rank=32, alpha=32.0)
    assert parse_config(DemoConfig, ["--lora.rank", "32", "--lora", "None"], prog="demo").lora is None


def test_none_string_in_toml_is_null(tmp_path: Path) -> None:
    path = write(tmp_path, "a.toml", 'max_steps = "None"\n[model]\nmax_len = "None"\n')
    cfg = parse_config(DemoConfig, ["@", path], prog="demo")
    assert cfg.max_steps is None
    assert cfg.model.max_len is None


def test_array_of_tables_and_opaque_dicts(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "a.toml",
        """
        [[env]]
        id = "wordle"
        args = { max-turns = 3 }
        [[env]]
        id = "alphabet-sort"
        """,
    )
    cfg = parse_config(DemoConfig, ["@", path], prog="demo")
    assert [e.id for e in cfg.env] == ["wordle", "alphabet-sort"]
    assert cfg.env[0].args == {"max-turns": 3}  # keys of free-form dicts are kept verbatim


def test_env_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTPUT_DIR", "/data/outputs")
    monkeypatch.setenv("POD_INDEX", "3")
    monkeypatch.setenv("INFERENCE_URLS", "http://a:8000/v1, http://b:8000/v1,")
    monkeypatch.setenv("ROLE", "trainer")
    monkeypatch.setenv("SEED", "11")
    cfg = parse_config(DemoConfig, [], prog="demo")
    assert cfg.output_dir == Path("/data/outputs")
    assert cfg.pod_index == 3
    assert cfg.inference_urls == ["http://a:8000/v1", "http://b:8000/v1"]
    assert cfg.role == "trainer"
    assert cfg.seed == 11
    # the command line still wins over the environment
    assert parse_config(DemoConfig, ["--pod-index", "5"], prog="demo").pod_index == 5


def test_validate_assignment() -> None:
    cfg = DemoConfig()
    with pytest.raises(ValueError, match="lr"):
        cfg.optim.lr = "fast"  # type: ignore[assignment]


def test_to_toml_round_trip(tmp_path: Path) -> None:
    cfg = parse_config(
        DemoConfig, ["--max-steps", "None", "--model.compile", "--optim.lr", "3e-6"], prog="demo"
    )
    path = dump(cfg, tmp_path / "sub" / "resolved.toml")
    assert not list(path.parent.glob("*.tmp"))
    again = parse_config(DemoConfig, ["@", str(path)], prog="demo")
    assert again == cfg
    assert 'max_steps = "None"' in to_toml(cfg)


def test_help_lists_every_field(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_config(DemoConfig, ["@", "missing.toml", "--help"], prog="demo")
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: demo")
    assert "A demo trainer config." in out
    assert "--optim.lr: float = 1e-05" in out
    assert "peak learning rate" in out
    assert "--model.dtype: 'bf16' | 'fp32' = 'bf16'" in out
    assert "--model.max_len: int | None = None" in out
    assert "--pod_index: int = $POD_INDEX or 0" in out
    assert "--output_dir: Path = $OUTPUT_DIR or 'outputs'" in out
    assert "[optim]  optimizer settings" in out
    assert "[lora]  (optional: off unless set; 'None' turns it off)  adapters" in out
    assert "--lora.rank: int = 16" in out


def test_short_help_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_config(DemoConfig, ["-h"], prog="demo")
    assert exc.value.code == 0
    assert "--batch_size: int = 8" in capsys.readouterr().out


def test_import_is_light() -> None:
    code = (
        "import sys, prime_rl.config, prime_rl.envs\n"
        "for env_id in prime_rl.envs.ENVIRONMENTS: prime_rl.envs.load_environment(env_id)\n"
        "heavy = [m for m in ('torch', 'transformers', 'vllm', 'numpy') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_load_config_raises_config_error() -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'optim\.lrr'"):
        load_config(DemoConfig, ["--optim.lrr", "1"])


def test_fails_unknown_cli_key(capsys: pytest.CaptureFixture[str]) -> None:
    err = fail_message(["--optim.lrr", "1e-4"], capsys)
    assert "unknown key 'optim.lrr'" in err
    assert "allowed keys under 'optim': betas, lr, weight_decay" in err
    assert "did you mean 'optim.lr'?" in err


def test_fails_unknown_toml_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "a.toml", "[model]\nnmae = 'x'\n")
    err = fail_message(["@", path], capsys)
    assert f"unknown key 'model.nmae' in {path}" in err
    assert "compile, dtype, max_len, name" in err
    assert "did you mean 'model.name'?" in err


def test_fails_unknown_top_level_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "a.toml", "[optimizer]\nlr = 1\n")
    err = fail_message(["@", path], capsys)
    assert "unknown key 'optimizer'" in err
    assert "allowed keys at the top level:" in err
    assert "did you mean 'optim'?" in err


def test_fails_unknown_key_in_table_array(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "a.toml", "[[env]]\nidd = 'x'\n")
    err = fail_message(["@", path], capsys)
    assert "unknown key 'env[0].idd'" in err


def test_fails_wrong_type(capsys: pytest.CaptureFixture[str]) -> None:
    err = fail_message(["--optim.lr", "fast"], capsys)
    assert "invalid value for 'optim.lr': 'fast' (expected float)" in err


def test_fails_wrong_type_in_toml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "a.toml", "batch_size = 'many'\n")
    err = fail_message(["@", path], capsys)
    assert "invalid value for 'batch_size': 'many' (expected int)" in err


def test_fails_literal_choice(capsys: pytest.CaptureFixture[str]) -> None:
    err = fail_message(["--model.dtype", "fp16"], capsys)
    assert "invalid value for 'model.dtype': 'fp16' (expected 'bf16' | 'fp32')" in err


def test_fails_model_validator(capsys: pytest.CaptureFixture[str]) -> None:
    err = fail_message(["--batch-size", "7"], capsys)
    assert "batch_size (7) must be divisible by micro_batch_size (2)" in err


def test_fails_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    err = fail_message(["@", "does/not/exist.toml"], capsys)
    assert "config file 'does/not/exist.toml' not found" in err


def test_fails_malformed_toml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "bad.toml", "a = 1\nb = \n")
    err = fail_message([f"@{path}"], capsys)
    assert f"config file '{path}' is not valid toml" in err
    assert "line 2" in err


def test_fails_directory_as_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = fail_message(["@", str(tmp_path)], capsys)
    assert "is not a file" in err


def test_fails_dangling_at(capsys: pytest.CaptureFixture[str]) -> None:
    err = fail_message(["@"], capsys)
    assert "'@' must be followed by a toml file" in err


def test_fails_positional_argument(capsys: pytest.CaptureFixture[str]) -> None:
    err = fail_message(["train.toml"], capsys)
    assert "unexpected argument 'train.toml'" in err


def test_fails_option_without_value(capsys: pytest.CaptureFixture[str]) -> None:
    err = fail_message(["--optim.lr"], capsys)
    assert "option '--optim.lr' needs a value (expected float)" in err


def test_fails_option_below_a_scalar(capsys: pytest.CaptureFixture[str]) -> None:
    err = fail_message(["--optim.lr.x", "1"], capsys)
    assert "'optim.lr' is not a section" in err


def test_fails_no_prefix_on_non_bool(capsys: pytest.CaptureFixture[str]) -> None:
    err = fail_message(["--no-batch-size"], capsys)
    assert "unknown key 'no_batch_size'" in err


def test_fails_bad_env_int(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("POD_INDEX", "first")
    err = fail_message([], capsys)
    assert "environment variable POD_INDEX='first' is not an integer" in err


def test_fails_several_errors_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "a.toml", "batch_size = 'x'\n[optim]\nlr = 'y'\n")
    err = fail_message(["@", path], capsys)
    assert "2 config errors" in err
    assert "'batch_size'" in err
    assert "'optim.lr'" in err


def test_fails_duplicate_kebab_and_snake(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "a.toml", "batch_size = 4\nbatch-size = 8\n")
    err = fail_message(["@", path], capsys)
    assert "key 'batch_size' is given twice" in err
