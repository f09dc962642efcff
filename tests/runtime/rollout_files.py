"""Rollout files built exactly as the orchestrator contract describes, for trainer tests."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from prime_rl import layout


def make_micro_batch(
    model: torch.nn.Module | None,
    generator: torch.Generator,
    vocab_size: int,
    samples: int = 2,
    prompt_len: int = 4,
    completion_len: int = 6,
    advantage: float = 1.0,
    temperature: float = 1.0,
) -> dict:
    """Pack `samples` prompt+completion samples into one [1, L] micro-batch with real inference logprobs."""
    ids, positions, mask, advantages = [], [], [], []
    for i in range(samples):
        length = prompt_len + completion_len
        ids.append(torch.randint(3, vocab_size, (length,), generator=generator))
        positions.append(torch.arange(length))
        mask.append(torch.tensor([False] * prompt_len + [True] * completion_len))
        sign = 1.0 if i % 2 == 0 else -1.0
        advantages.append(torch.tensor([0.0] * prompt_len + [sign * advantage] * completion_len))
    input_ids = torch.cat(ids)[None]
    position_ids = torch.cat(positions)[None]
    loss_mask = torch.cat(mask)[None]
    inference_logprobs = torch.zeros(input_ids.shape)
    if model is not None:
        from prime_rl.trainer.loss import shifted_logprobs

        with torch.no_grad():
            logits = model(input_ids=input_ids, position_ids=position_ids, use_cache=False).logits
            inference_logprobs = shifted_logprobs(logits, input_ids, temperature) * loss_mask
    return {
        "input_ids": input_ids,
        "position_ids": position_ids,
        "loss_mask": loss_mask,
        "advantages": torch.cat(advantages)[None] * loss_mask,
        "inference_logprobs": inference_logprobs.float(),
        "temperature": temperature,
    }


#: The run the files below belong to; `run.json` names it, as a fresh orchestrator's would.
RUN_ID = "test-run"


def write_rollout(
    output_dir: Path,
    step: int,
    rank: int,
    world_size: int,
    micro_batches: list[dict],
    run_id: str | None = RUN_ID,
) -> Path:
    """One rank's rollout file of `run_id` (None: unstamped), and run.json naming that run."""
    if run_id is not None and (layout.read_run(output_dir) or {}).get("run_id") != run_id:
        layout.write_run(output_dir, run_id)
    path = output_dir / "rollouts" / f"step_{step}" / f"rank_{rank}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    payload = {
        "step": step,
        "rank": rank,
        "world_size": world_size,
        "run_id": run_id,
        "micro_batches": micro_batches,
    }
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def write_steps(
    model_dir: Path,
    output_dir: Path,
    steps: range,
    world_size: int = 1,
    micro_batches: int = 2,
    seed: int = 0,
) -> None:
    """Rollouts for every step and rank, inference logprobs from the base model."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    for step in steps:
        for rank in range(world_size):
            mbs = [make_micro_batch(model, generator, model.config.vocab_size) for _ in range(micro_batches)]
            write_rollout(output_dir, step, rank, world_size, mbs)
