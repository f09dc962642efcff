"""Config sections shared by the RL trainer and SFT (model, optimizer, checkpoints, logging, weights)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from prime_rl.config import BaseConfig

DType = Literal["auto", "bfloat16", "float16", "float32"]
FloatDType = Literal["bfloat16", "float16", "float32"]

DEFAULT_LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class LoRAConfig(BaseConfig):
    """Low-rank adapters; the published and exported weights have them merged in."""

    rank: int = Field(16, gt=0)
    """Adapter rank r."""
    alpha: float = Field(32.0, gt=0)
    """Scale numerator: updates are multiplied by alpha / rank."""
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    """Dropout on the adapter input."""
    target_modules: list[str] = Field(default_factory=lambda: list(DEFAULT_LORA_TARGETS), min_length=1)
    """Attribute names of the linear layers that get adapters."""


class ModelConfig(BaseConfig):
    """The policy model."""

    name: str = "Qwen/Qwen3-0.6B"
    """Hugging Face model name or local model directory."""
    dtype: DType = "auto"
    """Compute dtype of forward and backward; auto = bfloat16 on GPU, float32 on CPU."""
    optimization_dtype: FloatDType = "float32"
    """Dtype of the parameters the optimizer updates and of its state (the master weights).

    float32 keeps small updates: at lr 1e-6 most bfloat16 updates round away to nothing. When it
    differs from the compute dtype, FSDP2 casts parameters for compute and reduces gradients in
    float32, on one rank as on many."""
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2"] = "sdpa"
    """Attention kernel; all of them honour packed-sample boundaries from position_ids."""
    activation_checkpointing: bool = False
    """Recompute decoder-layer activations in backward to save memory."""
    trust_remote_code: bool = False
    """Allow model code shipped with the checkpoint."""
    lora: LoRAConfig | None = None
    """LoRA adapters; None trains all parameters."""


class OptimConfig(BaseConfig):
    """AdamW with linear warm-up and an optional decay."""

    lr: float = Field(1e-6, gt=0)
    """Peak learning rate."""
    weight_decay: float = Field(0.01, ge=0)
    """Decoupled weight decay."""
    betas: tuple[float, float] = (0.9, 0.999)
    """Adam beta1, beta2."""
    eps: float = Field(1e-8, gt=0)
    """Adam epsilon."""
    max_norm: float = Field(1.0, gt=0)
    """Gradient-norm clipping threshold."""
    warmup_steps: int = Field(0, ge=0)
    """Steps of linear warm-up from 0 to lr."""
    scheduler: Literal["constant", "linear", "cosine"] = "constant"
    """Shape after warm-up: constant, linear to 0, or cosine to 0 at max_steps."""
    defer_gradient_sync: bool = False
    """Reduce gradients only after a step's last micro-batch: fewer collectives, but every rank
    then holds a full unsharded gradient until the step ends. By default they are reduced after
    every micro-batch."""


class CkptConfig(BaseConfig):
    """Checkpoints under <output_dir>/checkpoints/step_N/trainer (state after N steps)."""

    interval: int | None = Field(None, gt=0)
    """Save every this many steps (and after the last step); None never saves."""
    resume_step: int | None = Field(None, ge=-1)
    """Resume from this step's checkpoint; -1 = the latest one (fresh start when there is none)."""
    keep: int | None = Field(None, gt=0)
    """Keep only the newest this many checkpoints; None keeps all."""


class WandbConfig(BaseConfig):
    """Weights & Biases logging, used when `project` is set and wandb is installed."""

    project: str | None = None
    """Project name; None disables wandb."""
    name: str | None = None
    """Run name."""
    entity: str | None = None
    """Team or user."""


class LogConfig(BaseConfig):
    """Console, metrics.jsonl and optional wandb logging."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    """Console log level."""
    wandb: WandbConfig = Field(default_factory=WandbConfig)
    """Weights & Biases."""


class WeightsConfig(BaseConfig):
    """Weights that leave the trainer: broadcasts for inference and HF exports."""

    dtype: DType = "auto"
    """Dtype of published and exported tensors; auto = the compute dtype (model.dtype)."""
    export_interval: int | None = Field(None, gt=0)
    """Also export <output_dir>/weights/step_N every this many steps (always after the last step)."""


class TrainerSections(BaseConfig):
    """Sections every trainer has."""

    model: ModelConfig = Field(default_factory=ModelConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    ckpt: CkptConfig = Field(default_factory=CkptConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    weights: WeightsConfig = Field(default_factory=WeightsConfig)

    @model_validator(mode="after")
    def _warmup_fits(self) -> TrainerSections:
        max_steps = getattr(self, "max_steps", None)
        if max_steps is not None and self.optim.warmup_steps > max_steps:
            raise ValueError(
                f"optim.warmup_steps={self.optim.warmup_steps} exceeds max_steps={max_steps}; "
                "it must be at most max_steps"
            )
        return self
