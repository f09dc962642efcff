"""``orchestrator @ orch.toml``: rollouts from the inference servers, scored and packed for the trainer.

Per step ``s``: make sure every server serves a policy >= ``s - max_async_level`` (waiting for the
trainer's broadcast when needed), collect ``batch_size / rollouts_per_example`` groups that are
recent enough, compute advantages, pack, and write ``rollouts/step_s/rank_R.pt`` atomically.
Generation of the next groups continues meanwhile. Everything that waits is asynchronous; file
writes run in worker threads.

Once every step's rollouts are written it records ``finished/orchestrator.json`` for the run; a
restarted orchestrator of that run finds it before touching the volume or the servers and
generates nothing. Heartbeat and idling (HEARTBEAT_FILE, IDLE_WHEN_DONE): see
``prime_rl.lifecycle``. With METRICS_PORT set it serves each step's metrics (``prime_rl.metrics``)
from before that check until it exits, idling included.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prime_rl import layout
from prime_rl.config import ConfigError, parse_config
from prime_rl.lifecycle import NO_HEARTBEAT, Heartbeat, lifecycle_from_env
from prime_rl.orchestrator.config import OrchestratorConfig

if TYPE_CHECKING:
    from prime_rl.metrics import OrchestratorMetrics

logger = logging.getLogger("prime_rl.orchestrator")

CHECKPOINT_DIR = "orchestrator"
ROLE = "orchestrator"


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


def resolve_resume_step(output_dir: Path, resume_step: int | None, run_id: str | None = None) -> int | None:
    """None: fresh start; -1: the latest checkpoint (fresh when none); N: that one, which must exist."""
    return layout.resolve_resume_step(output_dir, resume_step, CHECKPOINT_DIR, OrchestratorError, run_id)


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def save_checkpoint(
    output_dir: Path, step: int, data_position: int, seed: int, run_id: str | None = None
) -> None:
    """State after ``step`` completed steps of run ``run_id``: where the example stream continues.

    Examples of groups still in flight at this point count as consumed; a resumed run does not
    replay them.
    """
    state = {"step": step, "data_position": data_position, "seed": seed, "run_id": run_id}
    write_json_atomic(checkpoint_dir(output_dir, step) / "state.json", state)


def load_checkpoint(output_dir: Path, step: int) -> dict[str, Any]:
    return json.loads((checkpoint_dir(output_dir, step) / "state.json").read_text())


def clear_stale_outputs(output_dir: Path) -> None:
    """A fresh run must neither train on nor load an older run's rollouts and broadcasts."""
    for name in ("rollouts", "broadcasts"):
        shutil.rmtree(output_dir / name, ignore_errors=True)
    (output_dir / "logs" / "orchestrator" / "metrics.jsonl").unlink(missing_ok=True)


@dataclass(frozen=True)
class RunStart:
    """Where this orchestrator starts: which run, at which step and example position, and why."""

    run_id: str
    step: int
    position: int
    fresh: bool
    source: str


def start_run(
    output_dir: Path, configured: str | None, resume_step: int | None, groups_per_step: int
) -> RunStart:
    """Continue the volume's run, or start a new one.

    With ``resume_step`` set, a run already on the volume continues when ``configured`` is None or
    names it: from this orchestrator's own newest checkpoint of that run, else from the trainer's
    progress (its newest stable broadcast N: the trainer has finished N steps and needs step N's
    rollouts next; the example position is estimated as N steps' worth). Nothing is cleared then, so
    a restart can never delete what the trainer waits for. Otherwise a new run starts: the earlier
    run's rollouts and broadcasts are cleared and ``run.json`` names the new run.
    """
    existing = layout.read_run(output_dir)
    if resume_step is not None and existing is not None and configured in (None, existing["run_id"]):
        run_id = existing["run_id"]
        resume = resolve_resume_step(output_dir, resume_step, run_id)
        if resume is not None:
            state = load_checkpoint(output_dir, resume)
            return RunStart(run_id, int(state["step"]), int(state["data_position"]), False, "checkpoint")
        stable = layout.stable_broadcasts(output_dir, run_id)
        step = stable[-1] if stable else 0
        return RunStart(run_id, step, step * groups_per_step, False, "trainer progress")
    run_id = configured or layout.new_run_id()
    clear_stale_outputs(output_dir)
    layout.write_run(output_dir, run_id)
    return RunStart(run_id, 0, 0, True, "fresh")


def finished_run(config: OrchestratorConfig) -> tuple[str, int] | None:
    """The run this orchestrator would serve and the step it finished at, if it already finished.

    The run is the configured one, else (when resuming) the volume's; a fresh run without an id
    gets a new one, which cannot have finished. A marker at fewer than max_steps (the run was
    extended) does not count.
    """
    run_id = config.run_id
    if run_id is None and config.ckpt.resume_step is not None:
        run_id = (layout.read_run(config.output_dir) or {}).get("run_id")
    step = layout.finished_step(config.output_dir, ROLE, run_id)
    if run_id is None or step is None or step < config.max_steps:
        return None
    return run_id, step


# ---------------------------------------------------------------------------------------------
# Rollout files
# ---------------------------------------------------------------------------------------------


def rollout_path(output_dir: Path, step: int, rank: int) -> Path:
    return output_dir / "rollouts" / f"step_{step}" / f"rank_{rank}.pt"


def write_rollouts(
    output_dir: Path, step: int, ranks: Sequence[list[dict]], run_id: str | None = None
) -> None:
    """One file per trainer rank, each written to a tmp file and renamed so no reader sees it torn.

    Each file is stamped with the run id, so a trainer of another run never trains on it.
    """
    import torch

    world_size = len(ranks)
    for rank, micro_batches in enumerate(ranks):
        path = rollout_path(output_dir, step, rank)
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


def prune_rollouts(output_dir: Path, step: int, max_async_level: int, run_id: str | None) -> list[int]:
    """Delete the rollouts no trainer of this run can still read, once step `step` is written.

    Writing step s needed a policy >= s - max_async_level, so the trainer had finished the steps
    before it; a trainer restarted from its newest checkpoint c reads from step c on. Steps below
    both bounds go.
    """
    checkpoints = layout.checkpoint_steps(output_dir, "trainer", run_id)
    bound = min(step - max_async_level, checkpoints[-1] if checkpoints else 0)
    removed = [s for s in layout.step_dirs(output_dir / "rollouts") if s < bound]
    for old in removed:
        shutil.rmtree(output_dir / "rollouts" / f"step_{old}", ignore_errors=True)
    return sorted(removed)


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


async def run(
    config: OrchestratorConfig,
    heartbeat: Heartbeat = NO_HEARTBEAT,
    telemetry: OrchestratorMetrics | None = None,
) -> str:
    """Produces rollouts for every step from the start (or resume) step to ``max_steps``, records
    that the run finished, and returns its id. ``heartbeat`` beats from here on every wait;
    ``telemetry`` (unserved when not given) gets every step's metrics."""
    from prime_rl.envs import load_environment
    from prime_rl.metrics import OrchestratorMetrics
    from prime_rl.orchestrator.advantage import compute_advantages
    from prime_rl.orchestrator.client import InferenceClient
    from prime_rl.orchestrator.packing import TrainSample, pack_samples
    from prime_rl.orchestrator.rollout import ChatTokenizer, run_group
    from prime_rl.orchestrator.scheduler import GroupScheduler
    from prime_rl.orchestrator.weights import WeightSync

    output_dir = Path(config.output_dir)
    env = load_environment(config.environment.id, **config.environment.args)
    examples = await asyncio.to_thread(env.examples, config.seed)

    start = await asyncio.to_thread(
        start_run, output_dir, config.run_id, config.ckpt.resume_step, config.groups_per_step
    )
    start_step = start.step
    telemetry = telemetry or OrchestratorMetrics()
    telemetry.set_run(start.run_id)
    telemetry.step.set(start_step)
    if start.fresh:
        logger.info("started run %s", start.run_id)
    elif start.source == "checkpoint":
        logger.info(
            "resumed from checkpoint step %d (data position %d) of run %s",
            start_step,
            start.position,
            start.run_id,
        )
    else:
        logger.info(
            "continuing run %s at step %d from the trainer's progress (data position %d)",
            start.run_id,
            start_step,
            start.position,
        )
    stream = ExampleStream(examples, config.seed, start.position)

    tokenizer = await asyncio.to_thread(_load_tokenizer, config.model.tokenizer or config.model.name)
    chat = ChatTokenizer(tokenizer)
    clients = [InferenceClient(url, config.model.name, config.client) for url in config.client.urls]
    weights = WeightSync(clients, output_dir, config.poll_interval_s, start.run_id)
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
        keep=has_signal if config.skip_uniform_groups else None,
        max_skipped=config.max_skipped_groups,
    )
    completed = start_step
    try:
        heartbeat.beat()  # initialised: the main loop starts
        await heartbeat.during(asyncio.gather(*(c.wait_healthy() for c in clients)))
        await heartbeat.during(asyncio.gather(*(c.check_model() for c in clients)))
        if start.fresh:
            # Servers outlive orchestrator restarts: never sample a new run from an old run's policy.
            await heartbeat.during(weights.reset_to_base())
        last = time.perf_counter()
        for step in range(start_step, config.max_steps):
            heartbeat.beat()
            wait_started = time.perf_counter()
            await heartbeat.during(weights.ensure(step - config.max_async_level))
            weight_wait = time.perf_counter() - wait_started
            collect_started = time.perf_counter()
            groups = await heartbeat.during(scheduler.collect(step))
            collect_s = time.perf_counter() - collect_started
            rollouts = [r for g in groups for r in g.value]
            advantages = compute_advantages([r.reward for r in rollouts], config.rollouts_per_example)
            samples = [
                TrainSample(r.input_ids, _loss_mask(r, config.mask_truncated_completions), r.logprobs, a)
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
            await asyncio.to_thread(write_rollouts, output_dir, step, packed.ranks, start.run_id)
            if not config.keep_rollouts:
                await asyncio.to_thread(
                    prune_rollouts, output_dir, step, config.max_async_level, start.run_id
                )
            now = time.perf_counter()
            elapsed, last = now - last, now
            record = _step_metrics(step, rollouts, groups, weights.version, elapsed, weight_wait)
            record.update(group_outcomes(groups, scheduler.skipped))
            record.update(
                dropped_groups=scheduler.dropped,
                truncated=packed.truncated,
                micro_batches_per_rank=packed.micro_batches_per_rank,
                weight_update_s=weights.update_seconds,
                collect_s=collect_s,
            )
            logger.info(format_line(step, config.max_steps, record))
            telemetry.observe_step(record)
            await asyncio.to_thread(append_metrics, metrics_path, record)
            completed = step + 1
            if (
                config.ckpt.interval
                and completed % config.ckpt.interval == 0
                and completed < config.max_steps
            ):
                await asyncio.to_thread(
                    save_checkpoint, output_dir, completed, stream.position, config.seed, start.run_id
                )
        logger.info("wrote rollouts for all %d steps", config.max_steps)
        await asyncio.to_thread(layout.write_finished, output_dir, ROLE, start.run_id, config.max_steps)
    except asyncio.CancelledError:
        # SIGTERM (preemption, node drain, kubectl delete): keep what was done, then exit.
        if completed > start_step and completed < config.max_steps:
            save_checkpoint(output_dir, completed, stream.position, config.seed, start.run_id)
            logger.info("stopping: saved a checkpoint after %d steps", completed)
        raise
    finally:
        await scheduler.shutdown()
        await asyncio.gather(*(c.aclose() for c in clients))
    return start.run_id


def has_signal(group: Sequence[Any]) -> bool:
    """Whether a group's rewards differ: with all equal, every advantage is zero."""
    return len({r.reward for r in group}) > 1


def group_outcomes(batch: Sequence[Any], skipped: Sequence[Any]) -> dict[str, float]:
    """Per step: groups skipped for equal rewards, and the fractions of all groups seen that every
    rollout solved (reward 1) or none did (reward 0)."""
    seen = {id(g): g for g in [*batch, *skipped]}.values()
    rewards = [[r.reward for r in g.value] for g in seen]
    n = max(len(rewards), 1)
    return {
        "filtered_groups": len(skipped),
        "solve_all": sum(all(x == 1.0 for x in group) for group in rewards) / n,
        "solve_none": sum(all(x == 0.0 for x in group) for group in rewards) / n,
    }


def _loss_mask(rollout: Any, mask_truncated: bool) -> list[bool]:
    return [False] * len(rollout.loss_mask) if mask_truncated and rollout.truncated else rollout.loss_mask


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
        "completion_tokens": completion_tokens,
        "num_turns": sum(r.num_turns for r in rollouts) / n,
        "async_level": step - version,
        "off_policy_level": max(step - g.version for g in groups),
        "policy_version": version,
        "samples": n,
        "truncated_rollouts": sum(r.truncated for r in rollouts) / n,
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
    """Console entry point: parse the config first (fast errors), then run the loop.

    A run that already finished is not produced again; a finished run idles with IDLE_WHEN_DONE
    (outside the event loop, so SIGTERM then exits 0) and returns otherwise.
    """
    config = parse_config(OrchestratorConfig, argv, prog="orchestrator")
    lifecycle = lifecycle_from_env("orchestrator")
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    from prime_rl.metrics import MetricsServerError, serve_orchestrator_metrics

    try:
        telemetry = serve_orchestrator_metrics(lifecycle.metrics_port)
    except MetricsServerError as exc:
        print(f"orchestrator: error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    finished = finished_run(config)
    if finished is not None:
        telemetry.set_run(finished[0])
        telemetry.step.set(finished[1])
        lifecycle.already_finished(ROLE, config.output_dir, *finished)
        return
    from prime_rl.orchestrator.client import InferenceError

    heartbeat = lifecycle.heartbeat()
    try:
        run_id = asyncio.run(_run_until_terminated(config, heartbeat, telemetry))
    except (OrchestratorError, InferenceError, ConfigError) as exc:
        print(f"orchestrator: error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except Terminated:
        raise SystemExit(143) from None
    lifecycle.finished(run_id, config.max_steps, heartbeat)


class Terminated(Exception):
    """SIGTERM arrived; the loop saved what it had and stopped."""


async def _run_until_terminated(
    config: OrchestratorConfig, heartbeat: Heartbeat, telemetry: OrchestratorMetrics
) -> str:
    """`run`, cancelled on SIGTERM so it can checkpoint within the pod's grace period."""
    task = asyncio.current_task()
    assert task is not None
    terminated = asyncio.Event()

    def on_sigterm() -> None:
        terminated.set()
        task.cancel()

    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, on_sigterm)
    try:
        return await run(config, heartbeat, telemetry)
    except asyncio.CancelledError:
        if terminated.is_set():
            raise Terminated from None
        raise


if __name__ == "__main__":
    main()
