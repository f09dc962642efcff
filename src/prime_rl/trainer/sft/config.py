"""Config of supervised fine-tuning (`sft @ train.toml`)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from prime_rl.config import BaseConfig, env_str, output_dir_default
from prime_rl.layout import check_run_id
from prime_rl.trainer.config import TrainerSections


class SFTDataConfig(BaseConfig):
    """Conversations to train on, packed into rows of seq_len tokens."""

    env: str | None = None
    """Build conversations offline from this environment's examples (answer as the assistant turn)."""
    env_args: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments for the environment."""
    answer_template: str = "{answer}"
    """Assistant turn built from an example's answer, e.g. '<reversed_text>{answer}</reversed_text>'."""
    path: str | None = None
    """Local JSONL file of {"messages": [...]} conversations (instead of env)."""
    num_examples: int | None = Field(None, gt=0)
    """Use only the first this many conversations."""
    seed: int = 0
    """Seed for example generation and per-epoch shuffling."""
    seq_len: int = Field(4096, gt=0)
    """Tokens per packed row."""
    batch_size: int = Field(32, gt=0)
    """Packed rows per optimizer step, over all processes."""
    micro_batch_size: int = Field(1, gt=0)
    """Packed rows per forward pass on one process."""

    @model_validator(mode="after")
    def _one_source(self) -> SFTDataConfig:
        if (self.env is None) == (self.path is None):
            raise ValueError(
                f"data: set exactly one of data.env (got {self.env!r}) and data.path (got {self.path!r})"
            )
        if self.batch_size % self.micro_batch_size != 0:
            raise ValueError(
                f"data.batch_size={self.batch_size} is not divisible by data.micro_batch_size="
                f"{self.micro_batch_size}; it must be a multiple of micro_batch_size x world size"
            )
        if "{answer}" not in self.answer_template:
            raise ValueError(f"data.answer_template={self.answer_template!r} must contain '{{answer}}'")
        return self


class SFTConfig(TrainerSections):
    """Supervised fine-tuning with loss on assistant tokens only."""

    max_steps: int = Field(100, gt=0)
    """Optimizer steps."""
    output_dir: str = Field(default_factory=output_dir_default)
    """Output directory (checkpoints, weights, logs)."""
    run_id: str | None = Field(default_factory=env_str("RUN_ID", None))
    """The run (default $RUN_ID): finished/sft.json is stamped with it, so a restarted process of a
    finished run trains no step again. None: every start trains (no restart can be recognised)."""
    data: SFTDataConfig = Field(default_factory=lambda: SFTDataConfig(env="reverse-text"))

    @field_validator("run_id")
    @classmethod
    def _valid_run_id(cls, value: str | None) -> str | None:
        return check_run_id(value)
