"""Model and tokenizer loading from a Hugging Face name or a local directory.

Many pods may fetch the same hub model into one shared HF_HOME at once. That needs no lock here:
huggingface_hub (file_download.py) downloads each blob under a per-blob FileLock in
``<cache>/.locks`` (a soft lock file where the filesystem has no flock) into a process-unique
temporary file that it renames into place, so no reader sees a partial file even where the volume
does not honour the lock. A local directory
built on the shared volume by ``prime-rl-tiny-model`` is renamed into place whole (see
``prime_rl.tiny_model``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from prime_rl.trainer.errors import TrainerError

if TYPE_CHECKING:
    from torch import nn

    from prime_rl.trainer.config import ModelConfig


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~")) or Path(name).exists()


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """`auto` means bfloat16 on GPU and float32 on CPU (CPU bf16 matmuls are slow and imprecise)."""
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[dtype]


def check_model_source(name: str) -> None:
    """Fail early, before any process group work, when a local model path is missing."""
    if _looks_like_path(name):
        path = Path(name).expanduser()
        if not path.is_dir() or not (path / "config.json").is_file():
            raise TrainerError(f"model.name: '{name}' is not a model directory (no config.json there)")


def load_model(config: ModelConfig, device: torch.device) -> nn.Module:
    """Load the causal LM on `device` in the optimization dtype, with packing-aware attention."""
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    check_model_source(config.name)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            str(Path(config.name).expanduser()) if _looks_like_path(config.name) else config.name,
            dtype=resolve_dtype(config.optimization_dtype, device),
            attn_implementation=config.attn_implementation,
            trust_remote_code=config.trust_remote_code,
        )
    except (OSError, ValueError) as e:
        raise TrainerError(f"model.name: cannot load '{config.name}': {str(e).splitlines()[0]}") from None
    model.config.use_cache = False
    return model.to(device)


def load_tokenizer(name: str, trust_remote_code: bool = False) -> Any:
    from transformers import AutoTokenizer

    check_model_source(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            str(Path(name).expanduser()) if _looks_like_path(name) else name,
            trust_remote_code=trust_remote_code,
        )
    except (OSError, ValueError) as e:
        raise TrainerError(
            f"model.name: cannot load the tokenizer of '{name}': {str(e).splitlines()[0]}"
        ) from None
    return tokenizer


def pad_token_id(tokenizer: Any) -> int:
    """Padding id for packed rows (never trained on); falls back to EOS, then 0."""
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if candidate is not None:
            return int(candidate)
    return 0


def prepare_model(config: ModelConfig, device: torch.device, world_size: int) -> nn.Module:
    """Load, add LoRA, enable activation checkpointing, then shard: the order FSDP2 needs."""
    from prime_rl.trainer.lora import apply_lora
    from prime_rl.trainer.parallel import enable_activation_checkpointing, shard_model

    model = load_model(config, device)
    if config.lora is not None:
        try:
            apply_lora(
                model, config.lora.target_modules, config.lora.rank, config.lora.alpha, config.lora.dropout
            )
        except ValueError as e:
            raise TrainerError(str(e)) from None
    if config.activation_checkpointing:
        enable_activation_checkpointing(model)
    return shard_model(model, device, world_size, resolve_dtype(config.dtype, device))


def output_dtype(weights_dtype: str, model: ModelConfig, device: torch.device) -> torch.dtype:
    """Dtype of broadcasts and exports: ``auto`` is the compute dtype, so inference gets bfloat16 on
    GPUs even though the trainer keeps float32 master weights."""
    return resolve_dtype(model.dtype if weights_dtype == "auto" else weights_dtype, device)


def lora_scaling(config: ModelConfig) -> float | None:
    """Merge factor for published weights; None without LoRA."""
    return None if config.lora is None else config.lora.alpha / config.lora.rank
