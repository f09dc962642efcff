"""LoRA: only adapters train and merged weights reproduce the adapted model; activation checkpointing."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from prime_rl.trainer.lora import LoRALinear, apply_lora, merge_lora_state_dict

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _tiny(tiny_model_dir: Path) -> nn.Module:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)


def test_merge_formula_on_hand_tensors() -> None:
    state = {
        "l.weight": torch.zeros(2, 3),
        "l.lora_A": torch.tensor([[1.0, 0.0, 2.0]]),
        "l.lora_B": torch.tensor([[1.0], [3.0]]),
        "other": torch.ones(1),
    }
    merged = merge_lora_state_dict(state, scaling=2.0)
    assert set(merged) == {"l.weight", "other"}
    torch.testing.assert_close(merged["l.weight"], torch.tensor([[2.0, 0.0, 4.0], [6.0, 0.0, 12.0]]))
    assert torch.count_nonzero(state["l.weight"]) == 0


def test_only_adapters_train_and_keys_keep_hf_names(tiny_model_dir: Path) -> None:
    model = _tiny(tiny_model_dir)
    base_keys = set(model.state_dict())
    wrapped = apply_lora(model, TARGETS, rank=4, alpha=8.0, dropout=0.0)
    assert len(wrapped) == 2 * 7  # two layers, seven projections each
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.endswith((".lora_A", ".lora_B")) for n in trainable)
    merged = merge_lora_state_dict(dict(model.state_dict()), scaling=2.0)
    assert set(merged) == base_keys


def test_merged_model_output_equals_lora_model_output(tiny_model_dir: Path) -> None:
    model = _tiny(tiny_model_dir)
    apply_lora(model, TARGETS, rank=4, alpha=8.0, dropout=0.0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, LoRALinear):
                module.lora_B.normal_(std=0.05)
    model.eval()
    input_ids = torch.tensor([[3, 14, 15, 92, 65, 35]])
    with torch.no_grad():
        lora_logits = model(input_ids=input_ids).logits
    merged = merge_lora_state_dict(dict(model.state_dict()), scaling=8.0 / 4)
    plain = _tiny(tiny_model_dir)
    plain.load_state_dict(merged)
    plain.eval()
    with torch.no_grad():
        merged_logits = plain(input_ids=input_ids).logits
        base_logits = _tiny(tiny_model_dir)(input_ids=input_ids).logits
    torch.testing.assert_close(merged_logits, lora_logits, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(base_logits, lora_logits, atol=1e-3)


def test_fails_when_no_module_matches(tiny_model_dir: Path) -> None:
    model = _tiny(tiny_model_dir)
    with pytest.raises(
        ValueError, match=r"model\.lora\.target_modules: no linear layer is named any of \['qkv'\]"
    ):
        apply_lora(model, ["qkv"], rank=4, alpha=8.0, dropout=0.0)


@pytest.mark.parametrize("checkpointing", [True, False])
def test_activation_checkpointing_recomputes_layers_and_still_trains_adapters(
    tiny_model_dir: Path, checkpointing: bool
) -> None:
    from prime_rl.trainer.config import LoRAConfig, ModelConfig
    from prime_rl.trainer.model import prepare_model

    config = ModelConfig(
        name=str(tiny_model_dir), activation_checkpointing=checkpointing, lora=LoRAConfig(rank=4, alpha=8.0)
    )
    model = prepare_model(config, torch.device("cpu"), world_size=1)
    calls = []
    model.model.layers[0].register_forward_pre_hook(lambda *_: calls.append(1))
    model.train()
    model(input_ids=torch.tensor([[3, 14, 15, 92]]), use_cache=False).logits.sum().backward()
    # With checkpointing the layer is entered again in backward to rebuild its activations
    # (a pre-hook: recomputation stops early, before the layer returns).
    assert len(calls) == (2 if checkpointing else 1)
    lora_b = model.model.layers[0].self_attn.q_proj.lora_B  # starts at zero, so only B has a gradient yet
    assert lora_b.grad is not None and torch.count_nonzero(lora_b.grad) > 0
