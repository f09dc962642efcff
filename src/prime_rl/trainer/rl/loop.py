"""The RL training loop: wait for rollouts, one optimizer step per batch, publish the new policy.

After the last step (final checkpoint and export written) rank 0 records `finished/trainer.json`
for the run; a restarted trainer of that run finds it before starting torch.distributed or loading
the model, on every rank, and takes no step. Heartbeat and idling: see `prime_rl.lifecycle`.
With METRICS_PORT set, LOCAL_RANK 0 of each pod serves the step's metrics (`prime_rl.metrics`) from
before that check until the process exits, so an idle finished trainer stays scrapeable.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path
from threading import Event

import torch
from torch import nn

from prime_rl import layout
from prime_rl.lifecycle import Heartbeat, Lifecycle
from prime_rl.metrics import TrainerMetrics, serve_trainer_metrics
from prime_rl.trainer.ckpt import TrainState, is_due, load_checkpoint, resolve_resume_step, save_checkpoint
from prime_rl.trainer.errors import TrainerError
from prime_rl.trainer.logging import StepLogger, add_step_timing, setup_console
from prime_rl.trainer.loss import rl_loss, shifted_logprobs_and_entropy
from prime_rl.trainer.model import (
    check_model_source,
    load_tokenizer,
    lora_scaling,
    output_dtype,
    prepare_model,
)
from prime_rl.trainer.optim import build_optimizer, build_scheduler, clip_and_step
from prime_rl.trainer.parallel import (
    World,
    all_reduce_max,
    all_reduce_sum,
    barrier,
    close_world,
    init_world,
    is_sharded,
    local_rank,
)
from prime_rl.trainer.rl.config import RLLossConfig, RLTrainerConfig
from prime_rl.trainer.rollouts import (
    ForeignRunError,
    MicroBatch,
    await_run_id,
    load_rollout,
    rollout_path,
    wait_for_rollout,
)
from prime_rl.trainer.weights import (
    clear_broadcasts,
    export_hf,
    gather_full_state_dict,
    is_published,
    prune_broadcasts,
    publish_broadcast,
)

logger = logging.getLogger("prime_rl.trainer")

ROLE = "trainer"


def rl_train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    micro_batches: list[MicroBatch],
    loss_config: RLLossConfig,
    world: World,
    max_norm: float,
    *,
    defer_gradient_sync: bool = False,
) -> dict[str, float]:
    """Forward/backward every micro-batch, then clip and step once; returns step metrics (all ranks).

    Gradients are reduced after every micro-batch unless `defer_gradient_sync` (see OptimConfig).
    """
    device = world.device
    defer_sync = defer_gradient_sync and is_sharded(model)
    local_tokens = torch.tensor(float(sum(int(mb.loss_mask.sum()) for mb in micro_batches)), device=device)
    total_tokens = max(float(all_reduce_sum(local_tokens.clone())), 1.0)
    # FSDP averages gradients over ranks; the loss is already normalised globally, so undo that.
    scale = float(world.world_size)
    # loss, entropy, masked tokens, kept ratios, input tokens, masked low, masked high, mismatch KL
    sums = torch.zeros(8, device=device)
    model.train()
    for index, mb in enumerate(micro_batches):
        if defer_sync:
            model.set_requires_gradient_sync(index == len(micro_batches) - 1)
        input_ids = mb.input_ids.to(device)
        loss_mask = mb.loss_mask.to(device)
        logits = model(input_ids=input_ids, position_ids=mb.position_ids.to(device), use_cache=False).logits
        logprobs, entropy = shifted_logprobs_and_entropy(logits, input_ids, mb.temperature)
        out = rl_loss(
            logprobs,
            mb.inference_logprobs.to(device),
            mb.advantages.to(device),
            loss_mask,
            total_tokens,
            loss_config.mask_low,
            loss_config.mask_high,
        )
        (out.loss * scale).backward()
        with torch.no_grad():
            entropy = (entropy * loss_mask).sum()
            sums += torch.stack(
                [
                    out.loss.detach(),
                    entropy,
                    out.num_masked.float(),
                    out.ratio_sum,
                    torch.tensor(float(input_ids.numel()), device=device),
                    out.num_masked_low.float(),
                    out.num_masked_high.float(),
                    out.mismatch_kl_sum,
                ]
            )
        del logits, logprobs, out
    grad_norm = clip_and_step(model, optimizer, max_norm)
    all_reduce_sum(sums)
    kept_tokens = max(total_tokens - float(sums[2]), 1.0)
    return {
        "loss": float(sums[0]),
        "entropy": float(sums[1]) / total_tokens,
        "masked_fraction": float(sums[2]) / total_tokens,
        "masked_low": float(sums[5]) / total_tokens,
        "masked_high": float(sums[6]) / total_tokens,
        "mismatch_kl": float(sums[7]) / total_tokens,
        "mean_ratio": float(sums[3]) / kept_tokens,
        "grad_norm": grad_norm,
        "loss_tokens": total_tokens,
        "tokens": float(sums[4]),
    }


def _check_same_count(count: int, world: World, path: Path) -> None:
    """Ranks with different micro-batch counts would hang in FSDP collectives: fail instead."""
    counts = torch.tensor([float(count), float(-count)], device=world.device)
    all_reduce_max(counts)
    if int(counts[0]) != -int(counts[1]):
        raise TrainerError(
            f"rollout file {path}: ranks hold different numbers of micro-batches "
            f"(from {-int(counts[1])} to {int(counts[0])}); every rank must get the same number"
        )


def train(config: RLTrainerConfig, lifecycle: Lifecycle) -> None:
    """Train the run to max_steps, or recognise that this run already finished; then idle or return."""
    setup_console(config.log.level, int(os.environ.get("RANK", "0")))
    # Known without waiting: $RUN_ID, else the run on the volume (the one await_run_id would adopt).
    run_id = config.run_id or (layout.read_run(config.output_dir) or {}).get("run_id")
    telemetry = serve_trainer_metrics(lifecycle.metrics_port, local_rank())
    telemetry.set_run(run_id)
    done = layout.finished_step(config.output_dir, ROLE, run_id)
    if run_id is not None and done is not None and done >= config.max_steps:
        telemetry.step.set(done)
        lifecycle.already_finished(ROLE, config.output_dir, run_id, done)
        return
    heartbeat = lifecycle.heartbeat()
    stop = Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        world = init_world()
        try:
            run_id = _train(config, world, stop, heartbeat, telemetry)
        finally:
            close_world()
        if torch.cuda.is_initialized():
            torch.cuda.empty_cache()  # an idle pod keeps no accelerator memory
        lifecycle.finished(run_id, config.max_steps, heartbeat, stop)
    finally:
        signal.signal(signal.SIGTERM, previous)


class Terminated(Exception):
    """SIGTERM arrived: the trainer saved a checkpoint of its finished steps and stopped."""


def _stop_agreed(world: World, stopping: bool) -> bool:
    """Whether any rank is stopping; every rank calls it, so all decide together (the checkpoint
    that follows is collective)."""
    flag = torch.tensor([1.0 if stopping else 0.0], device=world.device)
    all_reduce_max(flag)
    return bool(flag.item())


def _next_rollout(
    config: RLTrainerConfig,
    output_dir: Path,
    step: int,
    world: World,
    run_id: str | None,
    stop: Event,
    heartbeat: Heartbeat,
) -> list[MicroBatch] | None:
    """This rank's micro-batches of `step` for this run, or None when stopping.

    A file of another run is logged once and waited past until this run's file replaces it.
    """
    path = rollout_path(output_dir, step, world.rank)
    foreign: int | None = None
    while wait_for_rollout(
        path,
        config.rollouts.poll_interval,
        config.rollouts.timeout,
        stop=stop,
        not_version=foreign,
        heartbeat=heartbeat,
    ):
        try:
            return load_rollout(path, step, world.rank, world.world_size, config.seq_len, run_id)
        except ForeignRunError as exc:
            logger.warning("%s; waiting for this run's file", exc)
            foreign = path.stat().st_mtime_ns
    return None


def _train(
    config: RLTrainerConfig, world: World, stop: Event, heartbeat: Heartbeat, telemetry: TrainerMetrics
) -> str:
    """All steps of the run; returns its id once the last step's files and the marker are written."""
    if config.num_train_workers is not None and config.num_train_workers != world.world_size:
        raise TrainerError(
            f"num_train_workers={config.num_train_workers} but the trainer runs {world.world_size} "
            "process(es); they must be equal"
        )
    output_dir = Path(config.output_dir)
    check_model_source(config.model.name)
    model = prepare_model(config.model, world.device, world.world_size)
    tokenizer = load_tokenizer(config.model.name, config.model.trust_remote_code) if world.is_main else None
    optimizer = build_optimizer(model, config.optim)
    scheduler = build_scheduler(optimizer, config.optim, config.max_steps)
    merge_scale = lora_scaling(config.model)
    out_dtype = output_dtype(config.weights.dtype, config.model, world.device)
    heartbeat.beat()  # the model is loaded: the main loop starts

    if config.ckpt.resume_step not in (None, -1):
        # A named checkpoint that does not exist is a mistake to report now, not after waiting for a run.
        resolve_resume_step(output_dir, config.ckpt.resume_step)
    run_id = await_run_id(
        output_dir, config.run_id, config.rollouts.poll_interval, stop, config.rollouts.timeout, heartbeat
    )
    if _stop_agreed(world, run_id is None):
        raise Terminated
    assert run_id is not None
    telemetry.set_run(run_id)
    logger.info("training run %s", run_id)
    resume = resolve_resume_step(output_dir, config.ckpt.resume_step, run_id)
    start_step = 0
    if resume is not None:
        start_step = load_checkpoint(
            output_dir, resume, model, optimizer, scheduler, world.rank, world.world_size
        ).step
        logger.info("resumed from checkpoint step %d", start_step)
        telemetry.step.set(start_step)
    elif world.is_main:
        clear_broadcasts(output_dir)
    barrier()
    if start_step > 0 and not is_published(output_dir, start_step, run_id):
        # The policy the orchestrator waits for was lost (e.g. cleared): publish it again.
        restored = gather_full_state_dict(model, merge_scale)
        if world.is_main:
            publish_broadcast(restored, output_dir, start_step, out_dtype, run_id)
        del restored

    step_logger = StepLogger(
        config.log,
        output_dir,
        "trainer",
        world.rank,
        config.max_steps,
        start_step,
        config.model_dump(mode="json"),
    )
    state: dict[str, torch.Tensor] = {}
    saved = start_step

    def checkpoint(done: int) -> None:
        """The trainer's state after `done` steps of this run (collective: every rank calls it)."""
        save_checkpoint(
            output_dir,
            TrainState(done, done, run_id),
            model,
            optimizer,
            scheduler,
            world.rank,
            world.world_size,
            config.ckpt.keep,
        )

    try:
        for step in range(start_step, config.max_steps):
            heartbeat.beat()
            micro_batches = _next_rollout(config, output_dir, step, world, run_id, stop, heartbeat)
            if _stop_agreed(world, micro_batches is None or stop.is_set()):
                if step > saved:
                    checkpoint(step)
                    logger.info("stopping: saved a checkpoint after %d steps", step)
                raise Terminated
            assert micro_batches is not None
            _check_same_count(len(micro_batches), world, rollout_path(output_dir, step, world.rank))

            started = time.perf_counter()
            metrics = rl_train_step(
                model,
                optimizer,
                micro_batches,
                config.loss,
                world,
                config.optim.max_norm,
                defer_gradient_sync=config.optim.defer_gradient_sync,
            )
            metrics["lr"] = scheduler.get_last_lr()[0]
            scheduler.step()
            state = gather_full_state_dict(model, merge_scale)
            if world.is_main:
                publish_broadcast(state, output_dir, step + 1, out_dtype, run_id)
                prune_broadcasts(output_dir, config.max_async_level + 1)
            add_step_timing(metrics, started, world.device)
            step_logger.log(step + 1, metrics)
            telemetry.observe_step(step + 1, metrics)
            heartbeat.beat()

            done = step + 1
            last = done == config.max_steps
            if is_due(done, config.ckpt.interval, config.max_steps):
                checkpoint(done)
                saved = done
            if world.is_main and (last or is_due(done, config.weights.export_interval, config.max_steps)):
                export_hf(state, model.config, tokenizer, output_dir, done, out_dtype)
            if not last:
                state = {}
            barrier()
    finally:
        step_logger.close()
    if world.is_main:
        layout.write_finished(output_dir, ROLE, run_id, config.max_steps)
    logger.info("finished %d steps; weights in %s", config.max_steps, output_dir / "weights")
    return run_id
