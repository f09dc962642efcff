"""Config of the local launcher ``rl @ rl.toml``: the three components plus what they share.

Each of ``[inference]``, ``[orchestrator]`` and ``[trainer]`` is a table of that component's own
config keys (inline), optionally with ``config = "path.toml"`` (or a list of paths) read first; a
plain string ``trainer = "path.toml"`` is short for ``[trainer] config = "path.toml"``. The shared
keys (``output_dir``, ``model``, ``max_steps``, ``max_async_level``) are applied to every component
that has them, so the three always agree. Component configs are validated here, before anything
starts, with the components' own config classes.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator

from prime_rl.config import BaseConfig, ConfigError, load_config, output_dir_default


class RLConfig(BaseConfig):
    """Runs inference, orchestrator and trainer on one machine with one shared output directory."""

    output_dir: str = Field(default_factory=output_dir_default)
    """Shared output directory of all three components; default $OUTPUT_DIR, else outputs."""

    model: str | None = None
    """Model for all three components (inference model.name, orchestrator and trainer model.name)."""

    max_steps: Annotated[int, Field(ge=1)] | None = None
    """Training steps for orchestrator and trainer; None keeps their own values."""

    max_async_level: Annotated[int, Field(ge=0)] | None = None
    """Async level for orchestrator and trainer; None keeps their own values."""

    build_tiny_model: bool = False
    """Build the tiny offline test model at `model` first when it is not there (CPU smoke runs)."""

    inference: dict[str, Any] = Field(default_factory=dict)
    """Inference config: inline keys, and/or `config` = TOML path(s) read first."""

    orchestrator: dict[str, Any] = Field(default_factory=dict)
    """Orchestrator config: inline keys, and/or `config` = TOML path(s) read first."""

    trainer: dict[str, Any] = Field(default_factory=dict)
    """RL trainer config: inline keys, and/or `config` = TOML path(s) read first."""

    trainer_processes: Annotated[int, Field(ge=1)] = 1
    """Trainer processes (torchrun when more than 1); the orchestrator splits batches across them."""

    inference_gpu_ids: list[int] | None = None
    """CUDA_VISIBLE_DEVICES of the inference server; None leaves the environment as it is."""

    trainer_gpu_ids: list[int] | None = None
    """CUDA_VISIBLE_DEVICES of the trainer; None leaves the environment as it is."""

    health_timeout_s: Annotated[float, Field(gt=0)] = 900.0
    """How long to wait for the inference server to become healthy."""

    stop_timeout_s: Annotated[float, Field(gt=0)] = 15.0
    """Grace period between SIGTERM and SIGKILL when stopping the components."""

    @field_validator("inference", "orchestrator", "trainer", mode="before")
    @classmethod
    def _path_shorthand(cls, value: Any) -> Any:
        """``"path.toml"`` -> ``{"config": "path.toml"}``; tables pass through."""
        return {"config": value} if isinstance(value, str) else value


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise ConfigError(f"cannot write {value!r} ({type(value).__name__}) to toml")


def inline_toml(table: Mapping[str, Any]) -> str:
    """A TOML document with the keys of ``table`` (nested tables become inline tables)."""
    return "".join(f"{json.dumps(str(k))} = {_toml_value(v)}\n" for k, v in table.items())


def component_config(section: Mapping[str, Any], cls: type, role: str, overrides: list[str]) -> Any:
    """Validates one component's config: its TOML files, then its inline keys, then ``overrides``."""
    files = section.get("config") or []
    files = [files] if isinstance(files, str) else list(files)
    inline = {k: v for k, v in section.items() if k != "config"}
    argv: list[str] = []
    for path in files:
        argv += ["@", str(path)]
    with tempfile.TemporaryDirectory() as tmp:
        if inline:
            inline_path = Path(tmp) / f"{role}.toml"
            inline_path.write_text(inline_toml(inline))
            argv += ["@", str(inline_path)]
        try:
            return load_config(cls, [*argv, *overrides])
        except ConfigError as exc:
            text = str(exc).replace(str(Path(tmp) / f"{role}.toml"), f"[{role}] of the rl config")
            raise ConfigError(f"{role} config: {text}") from None
