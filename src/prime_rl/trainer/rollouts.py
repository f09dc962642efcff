"""Reading the orchestrator's rollout files: wait for them to appear, then check them thoroughly."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from threading import Event

import torch

from prime_rl import layout
from prime_rl.lifecycle import NO_HEARTBEAT, Heartbeat
from prime_rl.trainer.errors import TrainerError

logger = logging.getLogger("prime_rl.trainer")

TENSOR_KEYS: dict[str, torch.dtype] = {
    "input_ids": torch.long,
    "position_ids": torch.long,
    "loss_mask": torch.bool,
    "advantages": torch.float32,
    "inference_logprobs": torch.float32,
}


@dataclass(frozen=True)
class MicroBatch:
    """One packed row of samples as the trainer consumes it (tensors shaped [1, L])."""

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    loss_mask: torch.Tensor
    advantages: torch.Tensor
    inference_logprobs: torch.Tensor
    temperature: float


def rollout_path(output_dir: Path, step: int, rank: int) -> Path:
    return output_dir / "rollouts" / f"step_{step}" / f"rank_{rank}.pt"


class ForeignRunError(TrainerError):
    """A rollout file of another run: never trained on; the trainer waits for its own run's file."""


def await_run_id(
    output_dir: Path,
    configured: str | None,
    poll_interval: float,
    stop: Event | None = None,
    timeout: float | None = None,
    heartbeat: Heartbeat = NO_HEARTBEAT,
) -> str | None:
    """The run to train: `configured` ($RUN_ID), else the one the orchestrator started (run.json).

    Waits for run.json when neither exists yet (beating `heartbeat`); returns None if `stop` is
    set meanwhile.
    """
    if configured is not None:
        return configured
    start = time.monotonic()
    last_log = start
    while (run := layout.read_run(output_dir)) is None:
        if stop is not None and stop.is_set():
            return None
        if timeout is not None and time.monotonic() - start > timeout:
            raise TrainerError(
                f"rollouts.timeout: no {output_dir / layout.RUN_FILE} after {timeout:g} s; start the "
                "orchestrator, or give the trainer its run with run_id ($RUN_ID)"
            )
        if time.monotonic() - last_log >= 30.0:
            logger.info(
                "waiting for %s (%.0f s so far)", output_dir / layout.RUN_FILE, time.monotonic() - start
            )
            last_log = time.monotonic()
        heartbeat.sleep(poll_interval)
    return run["run_id"]


def _modified(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return None


def wait_for_rollout(
    path: Path,
    poll_interval: float,
    timeout: float | None,
    log_every: float = 30.0,
    *,
    stop: Event | None = None,
    not_version: int | None = None,
    heartbeat: Heartbeat = NO_HEARTBEAT,
) -> bool:
    """Block until `path` exists (it appears atomically by rename), logging and beating while waiting.

    With `not_version` (a file's mtime), waits until the file there is another one. Returns False
    as soon as `stop` is set (the trainer is being terminated), True once the file is there.
    """
    start = time.monotonic()
    last_log = start
    while (modified := _modified(path)) is None or modified == not_version:
        if stop is not None and stop.is_set():
            return False
        now = time.monotonic()
        if timeout is not None and now - start > timeout:
            raise TrainerError(f"rollouts.timeout: no rollout file at {path} after {timeout:g} s")
        if now - last_log >= log_every:
            logger.info("waiting for %s (%.0f s so far)", path, now - start)
            last_log = now
        heartbeat.sleep(poll_interval)
    return True


def _check_micro_batch(path: Path, index: int, mb: object, seq_len: int | None) -> MicroBatch:
    where = f"rollout file {path}: micro_batches[{index}]"
    if not isinstance(mb, dict):
        raise TrainerError(f"{where} is a {type(mb).__name__}, expected a dict")
    missing = sorted((set(TENSOR_KEYS) | {"temperature"}) - set(mb))
    if missing:
        raise TrainerError(f"{where} lacks key(s) {missing}")
    length = None
    for key, dtype in TENSOR_KEYS.items():
        value = mb[key]
        if not isinstance(value, torch.Tensor):
            raise TrainerError(f"{where}: '{key}' is a {type(value).__name__}, expected a tensor")
        if value.dim() != 2 or value.shape[0] != 1:
            raise TrainerError(f"{where}: '{key}' has shape {list(value.shape)}, expected [1, L]")
        if dtype.is_floating_point != value.dtype.is_floating_point or (dtype == torch.bool) != (
            value.dtype == torch.bool
        ):
            raise TrainerError(f"{where}: '{key}' has dtype {value.dtype}, expected {dtype}")
        if length is None:
            length = value.shape[1]
        elif value.shape[1] != length:
            raise TrainerError(f"{where}: '{key}' has length {value.shape[1]}, 'input_ids' has {length}")
    if seq_len is not None and length is not None and length > seq_len:
        raise TrainerError(f"{where}: length {length} exceeds seq_len={seq_len}")
    temperature = mb["temperature"]
    if not isinstance(temperature, int | float) or isinstance(temperature, bool) or temperature <= 0:
        raise TrainerError(f"{where}: 'temperature' is {temperature!r}, expected a positive number")
    return MicroBatch(
        input_ids=mb["input_ids"].long(),
        position_ids=mb["position_ids"].long(),
        loss_mask=mb["loss_mask"].bool(),
        advantages=mb["advantages"].float(),
        inference_logprobs=mb["inference_logprobs"].float(),
        temperature=float(temperature),
    )


def load_rollout(
    path: Path,
    step: int,
    rank: int,
    world_size: int,
    seq_len: int | None = None,
    run_id: str | None = None,
) -> list[MicroBatch]:
    """Load and validate one rank's rollout file; every problem names the file.

    With `run_id`, a file stamped with another run (or with none) raises ForeignRunError.
    """
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise TrainerError(f"rollout file {path}: cannot be read ({type(e).__name__}: {e})") from None
    if not isinstance(data, dict):
        raise TrainerError(f"rollout file {path}: holds a {type(data).__name__}, expected a dict")
    missing = sorted({"step", "rank", "world_size", "micro_batches"} - set(data))
    if missing:
        raise TrainerError(f"rollout file {path}: lacks key(s) {missing}")
    if run_id is not None and data.get("run_id") != run_id:
        raise ForeignRunError(
            f"rollout file {path}: belongs to run {data.get('run_id')!r}, not to this run {run_id!r}"
        )
    if data["world_size"] != world_size:
        raise TrainerError(
            f"rollout file {path}: written for world_size={data['world_size']} but the trainer runs "
            f"{world_size} process(es); set the orchestrator's num_train_workers to {world_size}"
        )
    if data["step"] != step or data["rank"] != rank:
        raise TrainerError(
            f"rollout file {path}: says step={data['step']} rank={data['rank']}, "
            f"expected step={step} rank={rank}"
        )
    micro_batches = data["micro_batches"]
    if not isinstance(micro_batches, list) or not micro_batches:
        raise TrainerError(f"rollout file {path}: 'micro_batches' must be a non-empty list")
    return [_check_micro_batch(path, i, mb, seq_len) for i, mb in enumerate(micro_batches)]
