"""Low-rank adapters on chosen linear projections, merged into the weights that leave the trainer.

`LoRALinear` keeps the base layer's `weight`/`bias` under their original names, so a merged state
dict has exactly the Hugging Face keys of the base model and inference needs no adapter support.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class LoRALinear(nn.Module):
    """y = x W^T + b + (alpha / rank) * dropout(x) A^T B^T with W, b frozen and B initialised to zero."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float) -> None:
        super().__init__()
        self.in_features = base.in_features
        self.out_features = base.out_features
        self.weight = base.weight
        self.bias = base.bias
        self.weight.requires_grad_(False)
        if self.bias is not None:
            self.bias.requires_grad_(False)
        self.scaling = alpha / rank
        self.lora_A = nn.Parameter(
            torch.empty(rank, self.in_features, dtype=base.weight.dtype, device=base.weight.device)
        )
        self.lora_B = nn.Parameter(
            torch.zeros(self.out_features, rank, dtype=base.weight.dtype, device=base.weight.device)
        )
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        base = nn.functional.linear(x, self.weight, self.bias)
        return (
            base
            + nn.functional.linear(nn.functional.linear(self.dropout(x), self.lora_A), self.lora_B)
            * self.scaling
        )


def apply_lora(
    model: nn.Module, target_modules: list[str], rank: int, alpha: float, dropout: float
) -> list[str]:
    """Freeze the model and wrap every `nn.Linear` whose attribute name is in `target_modules`.

    Returns the wrapped module names; none matching is an error because training would do nothing.
    """
    for param in model.parameters():
        param.requires_grad_(False)
    targets = set(target_modules)
    wrapped = []
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if child_name in targets and isinstance(child, nn.Linear):
                setattr(module, child_name, LoRALinear(child, rank, alpha, dropout))
                wrapped.append(f"{name}.{child_name}" if name else child_name)
    if not wrapped:
        raise ValueError(f"model.lora.target_modules: no linear layer is named any of {sorted(targets)}")
    return wrapped


def merge_lora_state_dict(state_dict: dict[str, torch.Tensor], scaling: float) -> dict[str, torch.Tensor]:
    """Fold `lora_A`/`lora_B` into their layer's weight and drop them (pure: inputs untouched)."""
    merged = {k: v for k, v in state_dict.items() if not k.endswith((".lora_A", ".lora_B"))}
    for key in state_dict:
        if key.endswith(".lora_A"):
            prefix = key[: -len(".lora_A")]
            lora_a = state_dict[key].float()
            lora_b = state_dict[f"{prefix}.lora_B"].float()
            weight = state_dict[f"{prefix}.weight"]
            merged[f"{prefix}.weight"] = (weight.float() + scaling * lora_b @ lora_a).to(weight.dtype)
    return merged
