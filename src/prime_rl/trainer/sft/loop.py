"""The SFT loop: packed rows of conversations, gradient accumulation to batch_size, AdamW.

After the last step rank 0 records `finished/sft.json` for the run (`run_id`, default $RUN_ID); a
restarted process of that run finds it before loading anything and takes no step. Heartbeat and
idling: see `prime_rl.lifecycle`; metrics (METRICS_PORT, LOCAL_RANK 0 of each pod): see
`prime_rl.metrics`.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from prime_rl import layout
from prime_rl.config import ConfigError
from prime_rl.lifecycle import Heartbeat, Lifecycle
from prime_rl.metrics import TrainerMetrics, serve_trainer_metrics
from prime_rl.trainer.ckpt import TrainState, is_due, load_checkpoint, resolve_resume_step, save_checkpoint
from prime_rl.trainer.data import (
    Sample,
    build_row,
    environment_conversations,
    load_jsonl_conversations,
    packed_row_stream,
    split_micro_batches,
    tokenize_conversation,
)
from prime_rl.trainer.errors import TrainerError
from prime_rl.trainer.logging import StepLogger, add_step_timing, setup_console
from prime_rl.trainer.loss import sft_loss, shifted_logprobs_and_entropy
from prime_rl.trainer.model import (
    check_model_source,
    load_tokenizer,
    lora_scaling,
    output_dtype,
    pad_token_id,
    prepare_model,
)
from prime_rl.trainer.optim import build_optimizer, build_scheduler, clip_and_step
from prime_rl.trainer.parallel import (
    World,
    all_reduce_sum,
    barrier,
    close_world,
    init_world,
    is_sharded,
    local_rank,
)
from prime_rl.trainer.sft.config import SFTConfig, SFTDataConfig
from prime_rl.trainer.weights import export_hf, gather_full_state_dict

logger = logging.getLogger("prime_rl.trainer")

ROLE = "sft"


def check_batch_divisibility(data: SFTDataConfig, world_size: int) -> None:
    """Every rank must run the same number of micro-batches per step."""
    per_step = data.micro_batch_size * world_size
    if data.batch_size % per_step != 0:
        raise TrainerError(
            f"data.batch_size={data.batch_size} is not divisible by data.micro_batch_size="
            f"{data.micro_batch_size} x world size {world_size} = {per_step}; choose a multiple of {per_step}"
        )


def load_samples(data: SFTDataConfig, tokenizer: Any) -> list[Sample]:
    """Tokenise the configured conversations (same order on every rank)."""
    if data.path is not None:
        conversations = load_jsonl_conversations(Path(data.path))
    else:
        assert data.env is not None
        try:
            conversations = environment_conversations(
                data.env, data.env_args, data.answer_template, data.seed
            )
        except (ConfigError, KeyError, TypeError, ValueError) as e:
            raise TrainerError(f"data.env: cannot build examples of '{data.env}': {e}") from None
    if data.num_examples is not None:
        conversations = conversations[: data.num_examples]
    samples = [sample for messages in conversations for sample in tokenize_conversation(tokenizer, messages)]
    samples = [s for s in samples if any(s.loss_mask)]
    if not samples:
        raise TrainerError("data: no conversation has an assistant turn to train on")
    return samples


def sft_train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    micro_batches: list[dict[str, torch.Tensor]],
    world: World,
    max_norm: float,
    *,
    defer_gradient_sync: bool = False,
) -> dict[str, float]:
    """Accumulate gradients over this rank's micro-batches, normalised by the step's global token count.

    Gradients are reduced after every micro-batch unless `defer_gradient_sync` (see OptimConfig).
    """
    device = world.device
    defer_sync = defer_gradient_sync and is_sharded(model)
    local_tokens = torch.tensor(float(sum(int(mb["loss_mask"].sum()) for mb in micro_batches)), device=device)
    total_tokens = max(float(all_reduce_sum(local_tokens.clone())), 1.0)
    scale = float(world.world_size)
    sums = torch.zeros(3, device=device)  # loss, entropy, input tokens
    model.train()
    for index, mb in enumerate(micro_batches):
        if defer_sync:
            model.set_requires_gradient_sync(index == len(micro_batches) - 1)
        input_ids = mb["input_ids"].to(device)
        loss_mask = mb["loss_mask"].to(device)
        logits = model(
            input_ids=input_ids, position_ids=mb["position_ids"].to(device), use_cache=False
        ).logits
        logprobs, entropy = shifted_logprobs_and_entropy(logits, input_ids)
        loss = sft_loss(logprobs, loss_mask, total_tokens)
        (loss * scale).backward()
        with torch.no_grad():
            entropy = (entropy * loss_mask).sum()
            sums += torch.stack(
                [loss.detach(), entropy, torch.tensor(float(input_ids.numel()), device=device)]
            )
        del logits, logprobs, loss
    grad_norm = clip_and_step(model, optimizer, max_norm)
    all_reduce_sum(sums)
    return {
        "loss": float(sums[0]),
        "entropy": float(sums[1]) / total_tokens,
        "grad_norm": grad_norm,
        "loss_tokens": total_tokens,
        "tokens": float(sums[2]),
    }


def train(config: SFTConfig, lifecycle: Lifecycle) -> None:
    """Train to max_steps, or recognise that this run already finished; then idle or return."""
    setup_console(config.log.level, int(os.environ.get("RANK", "0")))
    telemetry = serve_trainer_metrics(lifecycle.metrics_port, local_rank(), ROLE)
    telemetry.set_run(config.run_id)
    done = layout.finished_step(config.output_dir, ROLE, config.run_id)
    if config.run_id is not None and done is not None and done >= config.max_steps:
        telemetry.step.set(done)
        lifecycle.already_finished(ROLE, config.output_dir, config.run_id, done)
        return
    heartbeat = lifecycle.heartbeat()
    world = init_world()
    try:
        _train(config, world, heartbeat, telemetry)
    finally:
        close_world()
    if torch.cuda.is_initialized():
        torch.cuda.empty_cache()  # an idle pod keeps no accelerator memory
    lifecycle.finished(config.run_id, config.max_steps, heartbeat)


def _train(config: SFTConfig, world: World, heartbeat: Heartbeat, telemetry: TrainerMetrics) -> None:
    check_batch_divisibility(config.data, world.world_size)
    output_dir = Path(config.output_dir)
    check_model_source(config.model.name)
    tokenizer = load_tokenizer(config.model.name, config.model.trust_remote_code)
    samples = load_samples(config.data, tokenizer)
    logger.info("%d training conversations", len(samples))
    model = prepare_model(config.model, world.device, world.world_size)
    optimizer = build_optimizer(model, config.optim)
    scheduler = build_scheduler(optimizer, config.optim, config.max_steps)
    out_dtype = output_dtype(config.weights.dtype, config.model, world.device)

    resume = resolve_resume_step(output_dir, config.ckpt.resume_step)
    start_step, data_position = 0, 0
    if resume is not None:
        restored = load_checkpoint(
            output_dir, resume, model, optimizer, scheduler, world.rank, world.world_size
        )
        start_step, data_position = restored.step, restored.data_position
        logger.info("resumed from checkpoint step %d (row %d)", start_step, data_position)
        telemetry.step.set(start_step)
    heartbeat.beat()  # the model is loaded: the main loop starts

    data = config.data
    pad_id = pad_token_id(tokenizer)
    rows = itertools.islice(packed_row_stream(samples, data.seq_len, data.seed), data_position, None)
    step_logger = StepLogger(
        config.log,
        output_dir,
        "sft",
        world.rank,
        config.max_steps,
        start_step,
        config.model_dump(mode="json"),
    )
    try:
        for step in range(start_step, config.max_steps):
            heartbeat.beat()
            batch = [build_row(row, data.seq_len, pad_id) for row in itertools.islice(rows, data.batch_size)]
            data_position += data.batch_size
            micro_batches = split_micro_batches(batch[world.rank :: world.world_size], data.micro_batch_size)

            started = time.perf_counter()
            metrics = sft_train_step(
                model,
                optimizer,
                micro_batches,
                world,
                config.optim.max_norm,
                defer_gradient_sync=config.optim.defer_gradient_sync,
            )
            metrics["lr"] = scheduler.get_last_lr()[0]
            scheduler.step()
            add_step_timing(metrics, started, world.device)
            step_logger.log(step + 1, metrics)
            telemetry.observe_step(step + 1, metrics)
            heartbeat.beat()

            done = step + 1
            if is_due(done, config.ckpt.interval, config.max_steps):
                save_checkpoint(
                    output_dir,
                    TrainState(done, data_position, config.run_id),
                    model,
                    optimizer,
                    scheduler,
                    world.rank,
                    world.world_size,
                    config.ckpt.keep,
                )
            if done == config.max_steps or is_due(done, config.weights.export_interval, config.max_steps):
                state = gather_full_state_dict(model, lora_scaling(config.model))
                if world.is_main:
                    export_hf(state, model.config, tokenizer, output_dir, done, out_dtype)
                del state
            barrier()
    finally:
        step_logger.close()
    if world.is_main:
        layout.write_finished(output_dir, ROLE, config.run_id, config.max_steps)
    logger.info("finished %d steps; weights in %s", config.max_steps, output_dir / "weights")
