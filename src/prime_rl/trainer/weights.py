"""Publishing weights: broadcasts for inference (tmp file, rename, then STABLE) and HF exports."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from prime_rl.layout import STABLE, WEIGHTS_FILE, broadcast_dir, stable_run, step_dirs, write_stable
from prime_rl.trainer.lora import merge_lora_state_dict


def gather_full_state_dict(model: nn.Module, lora_scaling: float | None) -> dict[str, torch.Tensor]:
    """Full, unsharded CPU state dict with HF names and LoRA merged; empty on ranks other than 0 under FSDP.

    Every rank must call this: under FSDP2 it runs collectives to gather the shards.
    """
    from prime_rl.trainer.parallel import is_sharded

    if is_sharded(model):
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    else:
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if state and lora_scaling is not None:
        state = merge_lora_state_dict(state, lora_scaling)
    return state


def _for_safetensors(
    state_dict: dict[str, torch.Tensor], dtype: torch.dtype | None
) -> dict[str, torch.Tensor]:
    """Cast, and give every tensor its own storage (safetensors refuses tied embeddings' shared memory)."""
    seen: set[int] = set()
    out = {}
    for key, tensor in state_dict.items():
        t = tensor.detach().to(dtype) if dtype is not None else tensor.detach()
        t = t.contiguous()
        if t.data_ptr() in seen:
            t = t.clone()
        seen.add(t.data_ptr())
        out[key] = t
    return out


@contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield an empty sibling `<name>.tmp` to fill; it replaces `target` on success, vanishes on error.

    Readers of the shared volume thus see either the previous complete directory or the new one
    (a reader racing the replacement of an existing step may find it at `<name>.old` instead).
    """
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    # Re-saving a step: move the complete old copy aside first, so one complete copy exists at
    # every instant (the old one until the rename, the new one after), then drop the old one.
    previous = target.with_name(target.name + ".old")
    shutil.rmtree(previous, ignore_errors=True)
    if target.exists():
        os.replace(target, previous)
    os.replace(tmp, target)
    shutil.rmtree(previous, ignore_errors=True)


def save_safetensors_atomic(
    state_dict: dict[str, torch.Tensor], path: Path, dtype: torch.dtype | None
) -> None:
    """Write `<path>.tmp` then rename it; a failed write (full disk, bad tensor) leaves nothing behind."""
    from safetensors.torch import save_file

    tmp = path.with_name(path.name + ".tmp")
    try:
        save_file(_for_safetensors(state_dict, dtype), str(tmp), metadata={"format": "pt"})
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def publish_broadcast(
    state_dict: dict[str, torch.Tensor],
    output_dir: Path,
    step: int,
    dtype: torch.dtype | None,
    run_id: str | None = None,
) -> Path:
    """Write `broadcasts/step_N/model.safetensors`, then the STABLE marker holding the run id.

    A directory left by an earlier attempt at the same step loses its marker first, so a reader
    never pairs the marker with a partial file.
    """
    target = broadcast_dir(output_dir, step)
    target.mkdir(parents=True, exist_ok=True)
    (target / STABLE).unlink(missing_ok=True)
    save_safetensors_atomic(state_dict, target / WEIGHTS_FILE, dtype)
    write_stable(target, run_id)
    return target


def is_published(output_dir: Path, step: int, run_id: str | None = None) -> bool:
    """Whether step N's broadcast is complete (and of `run_id`, when given)."""
    marker = stable_run(broadcast_dir(output_dir, step))
    return marker is not None and (run_id is None or marker == run_id)


def prune_broadcasts(output_dir: Path, keep: int) -> list[int]:
    """Delete all but the newest `keep` broadcasts (readers only open directories with STABLE)."""
    dirs = step_dirs(output_dir / "broadcasts")
    removed = sorted(dirs)[:-keep] if keep > 0 else []
    for step in removed:
        (dirs[step] / STABLE).unlink(missing_ok=True)
        shutil.rmtree(dirs[step], ignore_errors=True)
    return removed


def clear_broadcasts(output_dir: Path) -> None:
    """A fresh run must not leave an older run's weights where inference could pick them up."""
    for path in step_dirs(output_dir / "broadcasts").values():
        (path / STABLE).unlink(missing_ok=True)
        shutil.rmtree(path, ignore_errors=True)


def export_hf(
    state_dict: dict[str, torch.Tensor],
    model_config: Any,
    tokenizer: Any,
    output_dir: Path,
    step: int,
    dtype: torch.dtype | None,
) -> Path:
    """Write a Hugging Face model directory `weights/step_N` (config, tokenizer, safetensors) atomically."""
    target = output_dir / "weights" / f"step_{step}"
    with atomic_dir(target) as tmp:
        model_config.save_pretrained(tmp)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
        save_safetensors_atomic(state_dict, tmp / WEIGHTS_FILE, dtype)
    return target
