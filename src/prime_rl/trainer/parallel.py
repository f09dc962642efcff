"""Process group set-up from the torchrun environment, FSDP2 sharding and activation checkpointing."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class World:
    """Where this process sits: rank/world size from torchrun, and the device it computes on."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def local_rank() -> int:
    """This process's rank within its node (torchrun's LOCAL_RANK; 0 without torchrun)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def init_world() -> World:
    """Read RANK/WORLD_SIZE/LOCAL_RANK (torchrun) and start NCCL on GPU or gloo on CPU when needed."""
    rank = int(os.environ.get("RANK", "0"))
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local = local_rank()
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, device_id=device if device.type == "cuda" else None)
    return World(rank=rank, world_size=world_size, local_rank=local, device=device)


def close_world() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(value: torch.Tensor) -> torch.Tensor:
    """Sum a tensor over ranks (identity in a single process)."""
    if dist.is_initialized():
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value


def all_reduce_max(value: torch.Tensor) -> torch.Tensor:
    if dist.is_initialized():
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return value


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def enable_activation_checkpointing(model: nn.Module) -> None:
    """Recompute decoder-layer activations in backward: less memory for about a third more compute."""
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def shard_model(
    model: nn.Module, device: torch.device, world_size: int, compute_dtype: torch.dtype
) -> nn.Module:
    """FSDP2: shard each decoder layer, then the root, over all ranks.

    Parameters stay in their loaded (optimization) dtype; FSDP casts them to `compute_dtype` for
    forward and backward and reduces gradients in float32. One process is sharded too when the
    two dtypes differ, so a single-GPU run also keeps float32 master weights; otherwise it stays
    a plain module. Losses are normalised by the global token count, so the trainer scales its
    loss by the world size to undo FSDP's gradient averaging.
    """
    param_dtype = next(model.parameters()).dtype
    if world_size == 1 and compute_dtype == param_dtype:
        return model
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    if not dist.is_initialized():
        # A one-process group for FSDP's collectives (torchrun sets up the group of many).
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1)
    mesh = init_device_mesh(device.type, (world_size,))
    policy = MixedPrecisionPolicy(param_dtype=compute_dtype, reduce_dtype=torch.float32)
    layers = getattr(getattr(model, "model", model), "layers", [])
    for layer in layers:
        fully_shard(layer, mesh=mesh, mp_policy=policy)
    fully_shard(model, mesh=mesh, mp_policy=policy)
    return model


def is_sharded(model: nn.Module) -> bool:
    """Whether FSDP2 manages the parameters (then state dicts and gradient sync go through it)."""
    from torch.distributed.tensor import DTensor

    return any(isinstance(p, DTensor) for p in model.parameters())
