"""Config of the RL trainer (`trainer @ train.toml`)."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from prime_rl.config import BaseConfig, env_int, env_str, output_dir_default
from prime_rl.layout import check_run_id
from prime_rl.trainer.config import TrainerSections


class RolloutWaitConfig(BaseConfig):
    """How the trainer waits for rollouts/step_N/rank_R.pt."""

    poll_interval: float = Field(0.5, gt=0)
    """Seconds between checks for the next rollout file."""
    timeout: float | None = Field(None, gt=0)
    """Give up after this many seconds without the file; None waits forever (logging every 30 s)."""


class RLLossConfig(BaseConfig):
    """Ratio masking: tokens whose trainer/inference ratio is outside [mask_low, mask_high] drop out."""

    mask_low: float = Field(0.125, gt=0)
    """Lower ratio bound."""
    mask_high: float = Field(8.0, gt=0)
    """Upper ratio bound."""

    @model_validator(mode="after")
    def _ordered(self) -> RLLossConfig:
        if self.mask_low >= self.mask_high:
            raise ValueError(
                f"loss.mask_low={self.mask_low} must be smaller than loss.mask_high={self.mask_high}"
            )
        return self


class RLTrainerConfig(TrainerSections):
    """RL trainer: reads rollout batches, takes one AdamW step per batch, publishes weights for inference."""

    max_steps: int = Field(20, gt=0)
    """Optimizer steps; step s trains on rollouts/step_s and publishes broadcasts/step_{s+1}."""
    max_async_level: int = Field(default_factory=env_int("MAX_ASYNC_LEVEL", 1), ge=0)
    """How stale the orchestrator's policy may be (default $MAX_ASYNC_LEVEL, else 1); the newest
    max_async_level + 1 broadcasts are kept."""
    seq_len: int | None = Field(None, gt=0)
    """When set, a rollout micro-batch longer than this is rejected."""
    num_train_workers: int | None = Field(default_factory=env_int("TRAINER_WORLD_SIZE", None), gt=0)
    """Expected trainer world size (default $TRAINER_WORLD_SIZE); a mismatch with torchrun is an error."""
    run_id: str | None = Field(default_factory=env_str("RUN_ID", None))
    """The run to train (default $RUN_ID); None adopts the run the orchestrator started (run.json).
    Rollout files of any other run are never trained on."""
    output_dir: str = Field(default_factory=output_dir_default)
    """Shared output directory (rollouts, broadcasts, checkpoints, weights, logs)."""
    rollouts: RolloutWaitConfig = Field(default_factory=RolloutWaitConfig)
    loss: RLLossConfig = Field(default_factory=RLLossConfig)

    @field_validator("run_id")
    @classmethod
    def _valid_run_id(cls, value: str | None) -> str | None:
        return check_run_id(value)
