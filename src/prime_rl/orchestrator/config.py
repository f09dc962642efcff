"""Orchestrator configuration: which model and environment, batch shape, async limits, servers.

Imports only pydantic and ``prime_rl.config`` so that ``orchestrator --help`` and config errors are
fast; nothing here touches the network or the file system.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from prime_rl.config import BaseConfig, env_int, env_str, output_dir_default
from prime_rl.layout import check_run_id

DEFAULT_INFERENCE_URL = "http://localhost:8000/v1"


def inference_urls_default() -> list[str]:
    """``$INFERENCE_URLS`` (comma-separated), else ``$INFERENCE_URL``, else the local server."""
    for name in ("INFERENCE_URLS", "INFERENCE_URL"):
        raw = os.environ.get(name, "")
        urls = [item.strip() for item in raw.split(",") if item.strip()]
        if urls:
            return urls
    return [DEFAULT_INFERENCE_URL]


class ModelConfig(BaseConfig):
    """The policy model; its name must equal the name the inference servers serve."""

    name: str = "Qwen/Qwen3-0.6B"
    """Served model name (a Hugging Face name or a local path); also where the tokenizer is loaded from."""

    tokenizer: str | None = None
    """Tokenizer name or path when it differs from `name` (for example a served alias)."""


class EnvironmentConfig(BaseConfig):
    """The environment that provides prompts, multi-turn responses and rewards."""

    id: str = "reverse-text"
    """Environment id: reverse-text, wordle, alphabet-sort or fixed-answer."""

    args: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments passed to the environment's constructor."""


#: Sampling fields every request pins to their neutral values. vLLM would otherwise take them from
#: the model's generation_config.json (Qwen3: top_k 20, top_p 0.95) and return the logprobs of that
#: truncated distribution, while the trainer scores the full softmax(logits / temperature).
NEUTRAL_SAMPLING: dict[str, float | int] = {
    "top_p": 1.0,
    "top_k": -1,
    "min_p": 0.0,
    "repetition_penalty": 1.0,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
}


class SamplingConfig(BaseConfig):
    """Sampling parameters of every completion request."""

    max_tokens: Annotated[int, Field(ge=1)] = 128
    """Most tokens sampled per assistant turn (also capped by what is left of `seq_len`)."""

    temperature: Annotated[float, Field(gt=0)] = 1.0
    """Sampling temperature; the trainer divides its logits by the same value."""

    top_p: float = 1.0
    """Only 1 (no nucleus truncation): the trainer scores the full distribution."""

    top_k: int = -1
    """Only -1 (no top-k truncation): the trainer scores the full distribution."""

    min_p: float = 0.0
    """Only 0 (no min-p truncation): the trainer scores the full distribution."""

    @model_validator(mode="after")
    def _full_distribution(self) -> SamplingConfig:
        for name in ("top_p", "top_k", "min_p"):
            value, neutral = getattr(self, name), NEUTRAL_SAMPLING[name]
            if value != neutral:
                raise ValueError(
                    f"sampling.{name}={value} would truncate the sampling distribution, but the trainer "
                    f"scores the full softmax(logits / temperature), so every importance ratio would be "
                    f"biased and the policy trained would not be the one sampling; use {neutral} "
                    "(lower the temperature to sample more greedily)"
                )
        return self


class ClientConfig(BaseConfig):
    """How the orchestrator talks to the inference servers."""

    urls: list[str] = Field(default_factory=inference_urls_default, min_length=1)
    """Base URLs ending in /v1; default $INFERENCE_URLS, else $INFERENCE_URL, else http://localhost:8000/v1."""

    timeout_s: Annotated[float, Field(gt=0)] = 600.0
    """Timeout of one HTTP request (a long completion counts as one request)."""

    health_timeout_s: Annotated[float, Field(gt=0)] = 900.0
    """How long to wait for a server to become healthy, at start-up or after it went away."""

    backoff_initial_s: Annotated[float, Field(gt=0)] = 0.5
    """First delay between retries; doubles after every failed attempt."""

    backoff_max_s: Annotated[float, Field(gt=0)] = 10.0
    """Longest delay between two retries."""

    max_concurrent_requests: Annotated[int, Field(ge=1)] = 256
    """Most completion requests in flight per server."""

    @model_validator(mode="after")
    def _check_urls(self) -> ClientConfig:
        for url in self.urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(
                    f"invalid value for 'client.urls': {url!r} (expected an http(s) url ending in /v1)"
                )
        return self


class CheckpointConfig(BaseConfig):
    """Orchestrator checkpoints (step and data position), written next to the trainer's."""

    interval: Annotated[int, Field(ge=1)] | None = None
    """Checkpoint every this many steps (None: never)."""

    resume_step: int | None = None
    """Resume from checkpoints/step_N/orchestrator; -1 means the latest; None starts fresh."""


class OrchestratorConfig(BaseConfig):
    """Samples prompts, gets rollouts from the inference servers, scores them and writes training batches."""

    model: ModelConfig = Field(default_factory=ModelConfig)
    environment: EnvironmentConfig = Field(default_factory=EnvironmentConfig)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    client: ClientConfig = Field(default_factory=ClientConfig)
    ckpt: CheckpointConfig = Field(default_factory=CheckpointConfig)

    skip_uniform_groups: bool = True
    """Groups whose rewards are all equal have zero advantage everywhere: they cost a forward and
    backward pass and dilute the loss normalisation, so they do not count towards a step's batch
    and others are sampled in their place."""

    max_skipped_groups_per_step: Annotated[int, Field(ge=0)] | None = None
    """Bound on that oversampling; past it the step trains on what it has. None = groups per step."""

    keep_rollouts: bool = False
    """Keep every step's rollout files. By default a step's files are deleted once the trainer can
    no longer need them: older than the async window and than the trainer's newest checkpoint (a
    restarted trainer resumes there and reads from that step on)."""

    mask_truncated_completions: bool = False
    """Drop from the loss every token of a rollout cut at max_tokens or seq_len."""

    run_id: str | None = Field(default_factory=env_str("RUN_ID", None))
    """The run this orchestrator serves (default $RUN_ID). None: continue the run on the volume when
    resuming, else start a new one with a generated id. A different id than the volume's starts a
    new run: the earlier run's rollouts and broadcasts are cleared, its checkpoints kept."""

    output_dir: str = Field(default_factory=output_dir_default)
    """Shared output directory (rollouts/, broadcasts/, checkpoints/); default $OUTPUT_DIR, else outputs."""

    @field_validator("run_id")
    @classmethod
    def _valid_run_id(cls, value: str | None) -> str | None:
        return check_run_id(value)

    batch_size: Annotated[int, Field(ge=1)] = 128
    """Samples per step; a multiple of `rollouts_per_example`."""

    rollouts_per_example: Annotated[int, Field(ge=1)] = 16
    """Samples per prompt (one group); the advantage is the reward minus the group mean."""

    seq_len: Annotated[int, Field(ge=2)] = 2048
    """Length of one packed micro-batch; a sample is never longer (generation stops there)."""

    max_steps: Annotated[int, Field(ge=1)] = 20
    """Number of training steps to produce rollouts for."""

    max_async_level: Annotated[int, Field(ge=0)] = Field(default_factory=env_int("MAX_ASYNC_LEVEL", 1))
    """Rollouts of step n come from a policy loaded at version >= n - this; default $MAX_ASYNC_LEVEL, else 1.

    On a cluster the deployment sets ``MAX_ASYNC_LEVEL`` for orchestrator and trainer alike.
    """

    max_off_policy_steps: Annotated[int, Field(ge=0)] | None = None
    """Drop (and regenerate) groups started under a policy older than step - this; None = max_async_level."""

    num_train_workers: Annotated[int, Field(ge=1)] = Field(default_factory=env_int("TRAINER_WORLD_SIZE", 1))
    """Trainer ranks the micro-batches are split across; default $TRAINER_WORLD_SIZE, else 1."""

    seed: int = 0
    """Seed of the example order."""

    poll_interval_s: Annotated[float, Field(gt=0)] = 0.5
    """How often to look for a new broadcast while waiting for one."""

    @model_validator(mode="after")
    def _check(self) -> OrchestratorConfig:
        if self.batch_size % self.rollouts_per_example:
            raise ValueError(
                f"invalid value for 'batch_size': {self.batch_size} "
                f"(expected a multiple of rollouts_per_example={self.rollouts_per_example})"
            )
        if self.max_off_policy_steps is not None and self.max_off_policy_steps < self.max_async_level:
            raise ValueError(
                f"invalid value for 'max_off_policy_steps': {self.max_off_policy_steps} "
                f"(expected None or >= max_async_level={self.max_async_level})"
            )
        world = os.environ.get("TRAINER_WORLD_SIZE", "").strip()
        if world.isdigit() and int(world) != self.num_train_workers:
            raise ValueError(
                f"invalid value for 'num_train_workers': {self.num_train_workers} "
                f"(the trainer world size from TRAINER_WORLD_SIZE is {world}; they must match)"
            )
        return self

    @property
    def off_policy_limit(self) -> int:
        """The oldest policy a step may use, as a number of steps behind it."""
        return self.max_async_level if self.max_off_policy_steps is None else self.max_off_policy_steps

    @property
    def groups_per_step(self) -> int:
        return self.batch_size // self.rollouts_per_example

    @property
    def max_skipped_groups(self) -> int:
        """Groups skipped for equal rewards a step may replace before it trains on what it has."""
        if self.max_skipped_groups_per_step is None:
            return self.groups_per_step
        return self.max_skipped_groups_per_step
