"""``orchestrator @ orch.toml``: rollouts from the inference servers, scored and packed for the trainer.

Per step ``s``: make sure every server serves a policy >= ``s - max_async_level`` (waiting for the
trainer's broadcast when needed), collect ``batch_size / rollouts_per_example`` groups that are
recent enough, compute advantages, pack, and write ``rollouts/step_s/rank_R.pt`` atomically.
Generation of the next groups continues meanwhile. Everything that waits is asynchronous; file
writes run in worker threads.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prime_rl import layout
from prime_rl.config import ConfigError, parse_config
from prime_rl.orchestrator.config import OrchestratorConfig

logger = logging.getLogger("prime_rl.orchestrator")

CHECKPOINT_DIR = "orchestrator"


class OrchestratorError(RuntimeError):
    """A problem the user must fix (missing checkpoint, unloadable tokenizer...)."""


# ---------------------------------------------------------------------------------------------
# Data order and checkpoints
# ---------------------------------------------------------------------------------------------


class ExampleStream:
    """Endless example order: every epoch is a permutation derived from (seed, epoch).

    The position alone therefore determines everything that follows, which is what a checkpoint
    stores.
    """

    def __init__(self, examples: Sequence[Any], seed: int, position: int = 0) -> None:
        if not examples:
            raise OrchestratorError(
                "the environment has no examples (expected at least one; check environment.id and "
                "environment.args)"
            )
        self.examples = examples
        self.seed = seed
        self.position = position
        self._epoch = -1
        self._order: list[int] = []

    def _order_of(self, epoch: int) -> list[int]:
        if epoch != self._epoch:
            self._order = list(range(len(self.examples)))
            random.Random(self.seed * 1_000_003 + epoch).shuffle(self._order)
            self._epoch = epoch
        return self._order

    def next(self) -> tuple[int, Any]:
        epoch, offset = divmod(self.position, len(self.examples))
        index = self._order_of(epoch)[offset]
        self.position += 1
        return index, self.examples[index]


def checkpoint_dir(output_dir: Path, step: int) -> Path:
    return output_dir / "checkpoints" / f"step_{step}" / CHECKPOINT_DIR


def resolve_resume_step(output_dir: Path, resume_step: int | None) -> int | None:
    """None: fresh start; -1: the latest checkpoint (fresh when none); N: that one, which must exist."""
    return layout.resolve_resume_step(output_dir, resume_step, CHECKPOINT_DIR, OrchestratorError)


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def save_checkpoint(output_dir: Path, step: int, data_position: int, seed: int) -> None:
    """State after ``step`` completed steps: where the example stream continues.

    Examples of groups still in flight at this point count as consumed; a resumed run does not
    replay them.
    """
    state = {"step": step, "data_position": data_position, "seed": seed}
    write_json_atomic(checkpoint_dir(output_dir, step) / "state.json", state)


def load_checkpoint(output_dir: Path, step: int) -> dict[str, Any]:
    return json.loads((checkpoint_dir(output_dir, step) / "state.json").read_text())


def clear_stale_outputs(output_dir: Path) -> None:
    """A fresh run must neither train on nor load an older run's rollouts and broadcasts."""
    for name in ("rollouts", "broadcasts"):
        shutil.rmtree(output_dir / name, ignore_errors=True)
    (output_dir / "logs" / "orchestrator" / "metrics.jsonl").unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# Rollout files
# ---------------------------------------------------------------------------------------------


def rollout_path(output_dir: Path, step: int, rank: int) -> Path:
    return output_dir / "rollouts" / f"step_{step}" / f"rank_{rank}.pt"


def write_rollouts(output_dir: Path, step: int, ranks: Sequence[list[dict]]) -> None:
    """One file per trainer rank, each written to a tmp file and renamed so no reader sees it torn."""
    import torch

    world_size = len(ranks)
    for rank, micro_batches in enumerate(ranks):
        path = rollout_path(output_dir, step, rank)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        payload = {"step": step, "rank": rank, "world_size": world_size, "micro_batches": micro_batches}
        torch.save(payload, tmp)
        os.replace(tmp, path)


def append_metrics(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fh.write(json.dumps(record) + "\n")


def format_line(step: int, max_steps: int, m: dict[str, Any]) -> str:
    return (
        f"step {step}/{max_steps} | reward {m['reward']:.4f} | tokens/s {m['tokens_per_s']:.0f} | "
        f"seq_len {m['seq_len']:.1f} | async_level {m['async_level']} | "
        f"off_policy_level {m['off_policy_level']} | dropped {m['dropped_groups']}"
    )


# ---------------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------------


async def run(config: OrchestratorConfig) -> None:
    """Produces rollouts for every step from the start (or resume) step to ``max_steps``."""
    from prime_rl.envs import load_environment
    from prime_rl.orchestrator.advantage import compute_advantages
    from prime_rl.orchestrator.client import InferenceClient
    from prime_rl.orchestrator.packing import TrainSample, pack_samples
    from prime_rl.orchestrator.rollout import ChatTokenizer, run_group
    from prime_rl.orchestrator.scheduler import GroupScheduler
    from prime_rl.orchestrator.weights import WeightSync

    output_dir = Path(config.output_dir)
    env = load_environment(config.environment.id, **config.environment.args)
    examples = await asyncio.to_thread(env.examples, config.seed)

    resume = await asyncio.to_thread(resolve_resume_step, output_dir, config.ckpt.resume_step)
    start_step, position = 0, 0
    if resume is None:
        await asyncio.to_thread(clear_stale_outputs, output_dir)
    else:
        state = await asyncio.to_thread(load_checkpoint, output_dir, resume)
        start_step, position = int(state["step"]), int(state["data_position"])
        logger.info("resumed from checkpoint step %d (data position %d)", start_step, position)
    stream = ExampleStream(examples, config.seed, position)

    tokenizer = await asyncio.to_thread(_load_tokenizer, config.model.tokenizer or config.model.name)
    chat = ChatTokenizer(tokenizer)
    clients = [InferenceClient(url, config.model.name, config.client) for url in config.client.urls]
    weights = WeightSync(clients, output_dir, config.poll_interval_s)
    metrics_path = output_dir / "logs" / "orchestrator" / "metrics.jsonl"
    logger.info(
        "orchestrating %s on %s for steps %d..%d; %d server(s), %d trainer rank(s)",
        config.environment.id,
        config.model.name,
        start_step,
        config.max_steps - 1,
        len(clients),
        config.num_train_workers,
    )

    assigned = dict.fromkeys(range(len(clients)), 0)

    async def start_group() -> list[Any]:
        index, example = stream.next()
        slot = min(assigned, key=lambda i: (assigned[i], i))
        assigned[slot] += 1
        try:
            return await run_group(
                clients[slot],
                chat,
                env,
                example,
                index,
                config.rollouts_per_example,
                config.seq_len,
                config.sampling.max_tokens,
                config.sampling.temperature,
            )
        finally:
            assigned[slot] -= 1

    scheduler: GroupScheduler[list[Any]] = GroupScheduler(
        start_group,
        lambda: weights.version,
        config.groups_per_step,
        config.off_policy_limit,
        config.max_steps,
        max_in_flight=config.groups_per_step,
    )
    try:
        await asyncio.gather(*(c.wait_healthy() for c in clients))
        await asyncio.gather(*(c.check_model() for c in clients))
        last = time.perf_counter()
        for step in range(start_step, config.max_steps):
            wait_started = time.perf_counter()
            await weights.ensure(step - config.max_async_level)
            weight_wait = time.perf_counter() - wait_started
            collect_started = time.perf_counter()
            groups = await scheduler.collect(step)
            collect_s = time.perf_counter() - collect_started
            rollouts = [r for g in groups for r in g.value]
            advantages = compute_advantages([r.reward for r in rollouts], config.rollouts_per_example)
            samples = [
                TrainSample(r.input_ids, r.loss_mask, r.logprobs, a)
                for r, a in zip(rollouts, advantages, strict=True)
            ]
            # Packing builds tensors: off the event loop, like the file writes, so requests keep flowing.
            packed = await asyncio.to_thread(
                pack_samples,
                samples,
                config.seq_len,
                config.num_train_workers,
                config.sampling.temperature,
                chat.pad_token_id,
            )
            await asyncio.to_thread(write_rollouts, output_dir, step, packed.ranks)
            now = time.perf_counter()
            elapsed, last = now - last, now
            record = _step_metrics(step, rollouts, groups, weights.version, elapsed, weight_wait)
            record.update(
                dropped_groups=scheduler.dropped,
                truncated=packed.truncated,
                micro_batches_per_rank=packed.micro_batches_per_rank,
                weight_update_s=weights.update_seconds,
                collect_s=collect_s,
            )
            logger.info(format_line(step, config.max_steps, record))
            await asyncio.to_thread(append_metrics, metrics_path, record)
            done = step + 1
            if config.ckpt.interval and done % config.ckpt.interval == 0 and done < config.max_steps:
                await asyncio.to_thread(save_checkpoint, output_dir, done, stream.position, config.seed)
        logger.info("wrote rollouts for all %d steps", config.max_steps)
    finally:
        await scheduler.shutdown()
        await asyncio.gather(*(c.aclose() for c in clients))


def _step_metrics(
    step: int,
    rollouts: Sequence[Any],
    groups: Sequence[Any],
    version: int,
    elapsed: float,
    weight_wait: float,
) -> dict[str, Any]:
    n = len(rollouts)
    completion_tokens = sum(r.completion_len for r in rollouts)
    record: dict[str, Any] = {
        "step": step,
        "reward": sum(r.reward for r in rollouts) / n,
        "tokens_per_s": completion_tokens / elapsed if elapsed > 0 else 0.0,
        "seq_len": sum(len(r.input_ids) for r in rollouts) / n,
        "completion_len": completion_tokens / n,
        "num_turns": sum(r.num_turns for r in rollouts) / n,
        "async_level": step - version,
        "off_policy_level": max(step - g.version for g in groups),
        "policy_version": version,
        "samples": n,
        "step_time_s": elapsed,
        "weight_wait_s": weight_wait,
    }
    for key in sorted({k for r in rollouts for k in r.scores if k != "reward"}):
        record[f"score/{key}"] = sum(r.scores.get(key, 0.0) for r in rollouts) / n
    return record


def _load_tokenizer(name: str) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as exc:
        raise OrchestratorError(f"cannot load the tokenizer of model.name={name!r}: {exc}") from None


def main(argv: list[str] | None = None) -> None:
    """Console entry point: parse the config first (fast errors), then run the loop."""
    config = parse_config(OrchestratorConfig, argv, prog="orchestrator")
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    from prime_rl.orchestrator.client import InferenceError

    try:
        asyncio.run(run(config))
    except (OrchestratorError, InferenceError, ConfigError) as exc:
        print(f"orchestrator: error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
