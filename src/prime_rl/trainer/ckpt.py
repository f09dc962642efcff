"""Trainer checkpoints: model, optimizer, scheduler, step and data position, written atomically.

`checkpoints/step_N/trainer` is the state after N completed steps. Files hold full (unsharded)
state dicts, so a run can resume on a different number of processes.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from prime_rl import layout
from prime_rl.trainer.errors import TrainerError
from prime_rl.trainer.weights import atomic_dir

TRAINER_DIR = "trainer"


@dataclass(frozen=True)
class TrainState:
    """What besides tensors a resumed run needs: the next step and how much data was consumed."""

    step: int
    data_position: int
    run_id: str | None = None
    """The run the checkpoint belongs to; a trainer resumes only from its own run's checkpoints."""


def is_due(done: int, interval: int | None, max_steps: int) -> bool:
    """Whether a periodic write falls after `done` steps: every `interval` steps and after the last one."""
    return interval is not None and (done % interval == 0 or done == max_steps)


def checkpoint_root(output_dir: Path) -> Path:
    return output_dir / "checkpoints"


def available_checkpoints(output_dir: Path) -> list[int]:
    """Steps that have a complete trainer checkpoint (the directory only appears once complete)."""
    return layout.checkpoint_steps(output_dir, TRAINER_DIR)


def resolve_resume_step(output_dir: Path, resume_step: int | None, run_id: str | None = None) -> int | None:
    """None: fresh start; -1: the latest checkpoint (of `run_id`, when given; fresh when none); N: that
    one, which must exist."""
    return layout.resolve_resume_step(output_dir, resume_step, TRAINER_DIR, TrainerError, run_id)


def _full_options(world_size: int, loading: bool) -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    if world_size == 1:
        return StateDictOptions(full_state_dict=True)
    if loading:
        return StateDictOptions(full_state_dict=True, broadcast_from_rank0=True)
    return StateDictOptions(full_state_dict=True, cpu_offload=True)


def save_checkpoint(
    output_dir: Path,
    state: TrainState,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    rank: int,
    world_size: int,
    keep: int | None,
) -> Path | None:
    """Gather on every rank, write on rank 0 into a tmp dir, then rename it into place."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, get_optimizer_state_dict

    options = _full_options(world_size, loading=False)
    model_state = get_model_state_dict(model, options=options)
    optim_state = get_optimizer_state_dict(model, optimizer, options=options)
    if rank != 0:
        return None
    target = checkpoint_root(output_dir) / f"step_{state.step}" / TRAINER_DIR
    with atomic_dir(target) as tmp:
        torch.save(model_state, tmp / "model.pt")
        torch.save(optim_state, tmp / "optimizer.pt")
        torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
        (tmp / "state.json").write_text(
            json.dumps({"step": state.step, "data_position": state.data_position, "run_id": state.run_id})
        )
    if keep is not None:
        for old in available_checkpoints(output_dir)[:-keep]:
            old_dir = checkpoint_root(output_dir) / f"step_{old}"
            shutil.rmtree(old_dir / TRAINER_DIR, ignore_errors=True)
            if old_dir.is_dir() and not any(old_dir.iterdir()):
                old_dir.rmdir()
    return target


def load_checkpoint(
    output_dir: Path,
    step: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    rank: int,
    world_size: int,
) -> TrainState:
    """Restore a checkpoint written by `save_checkpoint` (rank 0 reads, FSDP broadcasts to the others)."""
    from torch.distributed.checkpoint.state_dict import set_model_state_dict, set_optimizer_state_dict

    source = checkpoint_root(output_dir) / f"step_{step}" / TRAINER_DIR
    options = _full_options(world_size, loading=True)
    reads = rank == 0 or world_size == 1
    model_state = torch.load(source / "model.pt", map_location="cpu", weights_only=True) if reads else {}
    optim_state = torch.load(source / "optimizer.pt", map_location="cpu", weights_only=True) if reads else {}
    set_model_state_dict(model, model_state, options=options)
    set_optimizer_state_dict(model, optimizer, optim_state, options=options)
    scheduler.load_state_dict(torch.load(source / "scheduler.pt", weights_only=True))
    meta = json.loads((source / "state.json").read_text())
    return TrainState(
        step=int(meta["step"]), data_position=int(meta["data_position"]), run_id=meta.get("run_id")
    )
