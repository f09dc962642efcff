"""Prometheus metrics of the trainer and the orchestrator, for dashboards and alerts on a cluster.

With ``METRICS_PORT`` set (see ``prime_rl.lifecycle``) the orchestrator, and in the trainer the
process with ``LOCAL_RANK`` 0 of each pod, serve ``http://0.0.0.0:$METRICS_PORT/metrics`` from a
background thread until the process exits. Each role has its own registry holding only its own
metrics, so a trainer pod never exports an orchestrator gauge stuck at 0. The loops update them
from the values they already log to ``metrics.jsonl``.

Trainer values are reduced over all ranks before they are set, so every trainer pod of a
multi-node run exports the same loss and throughput: aggregate trainer pods with ``max``, not
``sum``. A gauge keeps its last value between steps; a counter or histogram starts from zero when
the process restarts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

#: Upper bounds (seconds) of the step-duration histograms: RL steps take from a second (smoke) to
#: tens of minutes (large models).
STEP_SECONDS_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)

RUN_INFO = "prime_rl_run_info"

TRAINER_STEP = "prime_rl_trainer_step"
TRAINER_LOSS = "prime_rl_trainer_loss"
TRAINER_ENTROPY = "prime_rl_trainer_entropy"
TRAINER_GRAD_NORM = "prime_rl_trainer_grad_norm"
TRAINER_LEARNING_RATE = "prime_rl_trainer_learning_rate"
TRAINER_MISMATCH_KL = "prime_rl_trainer_mismatch_kl"
TRAINER_MASKED_FRACTION = "prime_rl_trainer_masked_fraction"
TRAINER_TOKENS_PER_SECOND = "prime_rl_trainer_tokens_per_second"
TRAINER_TOKENS = "prime_rl_trainer_tokens"
TRAINER_STEP_DURATION = "prime_rl_trainer_step_duration_seconds"
TRAINER_PEAK_MEMORY = "prime_rl_trainer_peak_memory_bytes"

ORCHESTRATOR_STEP = "prime_rl_orchestrator_step"
ORCHESTRATOR_REWARD = "prime_rl_orchestrator_reward"
ORCHESTRATOR_TOKENS_PER_SECOND = "prime_rl_orchestrator_tokens_per_second"
ORCHESTRATOR_COMPLETION_TOKENS = "prime_rl_orchestrator_completion_tokens"
ORCHESTRATOR_ROLLOUTS = "prime_rl_orchestrator_rollouts"
ORCHESTRATOR_ASYNC_LAG = "prime_rl_orchestrator_async_lag_steps"
ORCHESTRATOR_POLICY_VERSION = "prime_rl_orchestrator_policy_version"
ORCHESTRATOR_WEIGHT_WAIT = "prime_rl_orchestrator_weight_wait_seconds"
ORCHESTRATOR_STEP_DURATION = "prime_rl_orchestrator_step_duration_seconds"

#: Every metric name this module exports, as registered: prometheus_client appends ``_total`` to a
#: counter's samples and ``_bucket``/``_sum``/``_count`` to a histogram's (dashboards rely on this).
METRIC_NAMES = (
    RUN_INFO,
    TRAINER_STEP,
    TRAINER_LOSS,
    TRAINER_ENTROPY,
    TRAINER_GRAD_NORM,
    TRAINER_LEARNING_RATE,
    TRAINER_MISMATCH_KL,
    TRAINER_MASKED_FRACTION,
    TRAINER_TOKENS_PER_SECOND,
    TRAINER_TOKENS,
    TRAINER_STEP_DURATION,
    TRAINER_PEAK_MEMORY,
    ORCHESTRATOR_STEP,
    ORCHESTRATOR_REWARD,
    ORCHESTRATOR_TOKENS_PER_SECOND,
    ORCHESTRATOR_COMPLETION_TOKENS,
    ORCHESTRATOR_ROLLOUTS,
    ORCHESTRATOR_ASYNC_LAG,
    ORCHESTRATOR_POLICY_VERSION,
    ORCHESTRATOR_WEIGHT_WAIT,
    ORCHESTRATOR_STEP_DURATION,
)


def _per_step_gauge(name: str, documentation: str, registry: CollectorRegistry) -> Gauge:
    """A gauge of a step's value: NaN (no value) until the first step of this process sets it."""
    gauge = Gauge(name, documentation, registry=registry)
    gauge.set(math.nan)
    return gauge


class MetricsServerError(Exception):
    """The metrics server could not listen on METRICS_PORT (typically: the port is taken)."""


class RoleMetrics:
    """A role's registry and its info metric; `serve` exposes the registry over HTTP."""

    def __init__(self, role: str) -> None:
        self.role = role
        self.registry = CollectorRegistry(auto_describe=True)
        self._info = Gauge(
            RUN_INFO,
            "Always 1; its labels name the role of this process and the id of the run it serves "
            "(empty until the run is known).",
            ["role", "run_id"],
            registry=self.registry,
        )
        self.set_run(None)

    def set_run(self, run_id: str | None) -> None:
        """Label the info metric with the run this process serves (one series at a time)."""
        self._info.clear()
        self._info.labels(role=self.role, run_id=run_id or "").set(1)

    def serve(self, port: int) -> None:
        """Serve the registry on 0.0.0.0:`port` from a daemon thread until the process exits."""
        try:
            start_http_server(port, addr="0.0.0.0", registry=self.registry)
        except OSError as exc:
            raise MetricsServerError(
                f"cannot serve metrics on 0.0.0.0:{port} (METRICS_PORT={port}): {exc.strerror or exc}; "
                "another process in the pod uses that port, choose a free one"
            ) from None


class TrainerMetrics(RoleMetrics):
    """Per optimizer step of `trainer` (RL) and `sft`; the RL-only gauges stay NaN under SFT."""

    def __init__(self, role: str = "trainer") -> None:
        super().__init__(role)
        r = self.registry
        self.step = Gauge(TRAINER_STEP, "Optimizer steps completed in this run.", registry=r)
        self.loss = _per_step_gauge(TRAINER_LOSS, "Loss of the last step (normalised per loss token).", r)
        self.entropy = _per_step_gauge(
            TRAINER_ENTROPY, "Mean entropy per loss token of the policy in the last step.", r
        )
        self.grad_norm = _per_step_gauge(
            TRAINER_GRAD_NORM, "Gradient norm of the last step, before clipping.", r
        )
        self.learning_rate = _per_step_gauge(TRAINER_LEARNING_RATE, "Learning rate of the last step.", r)
        self.mismatch_kl = _per_step_gauge(
            TRAINER_MISMATCH_KL,
            "RL: mean over loss tokens of exp(d) - d - 1, d = trainer minus inference logprob; near 0 "
            "when sampler and trainer agree.",
            r,
        )
        self.masked_fraction = _per_step_gauge(
            TRAINER_MASKED_FRACTION,
            "RL: fraction of loss tokens masked because their importance ratio left its bounds.",
            r,
        )
        self.tokens_per_second = _per_step_gauge(
            TRAINER_TOKENS_PER_SECOND,
            "Tokens of all ranks trained on per second in the last step.",
            r,
        )
        self.tokens = Counter(TRAINER_TOKENS, "Tokens of all ranks trained on by this process.", registry=r)
        self.step_duration = Histogram(
            TRAINER_STEP_DURATION,
            "Wall time of an optimizer step: forward, backward, optimizer and publishing the weights.",
            buckets=STEP_SECONDS_BUCKETS,
            registry=r,
        )
        self.peak_memory = _per_step_gauge(
            TRAINER_PEAK_MEMORY,
            "Peak accelerator memory allocated by this process (peak resident memory on CPU).",
            r,
        )

    def observe_step(self, step: int, values: Mapping[str, float]) -> None:
        """`step` completed steps; `values` as the step logger gets them (RL keys optional)."""
        self.step.set(step)
        self.loss.set(values["loss"])
        self.entropy.set(values["entropy"])
        self.grad_norm.set(values["grad_norm"])
        self.learning_rate.set(values["lr"])
        if "mismatch_kl" in values:
            self.mismatch_kl.set(values["mismatch_kl"])
            self.masked_fraction.set(values["masked_fraction"])
        self.tokens_per_second.set(values["tokens_per_s"])
        self.tokens.inc(values["tokens"])
        self.step_duration.observe(values["step_time_s"])
        self.peak_memory.set(values["peak_memory_gib"] * 2**30)


class OrchestratorMetrics(RoleMetrics):
    """Per step whose rollouts the orchestrator wrote."""

    def __init__(self) -> None:
        super().__init__("orchestrator")
        r = self.registry
        self.step = Gauge(ORCHESTRATOR_STEP, "Steps whose rollouts are written in this run.", registry=r)
        self.reward = _per_step_gauge(ORCHESTRATOR_REWARD, "Mean reward of the last step's rollouts.", r)
        self.tokens_per_second = _per_step_gauge(
            ORCHESTRATOR_TOKENS_PER_SECOND,
            "Completion tokens sampled per second over the last step (all inference servers).",
            r,
        )
        self.completion_tokens = Counter(
            ORCHESTRATOR_COMPLETION_TOKENS, "Completion tokens of the rollouts written.", registry=r
        )
        self.rollouts = Counter(ORCHESTRATOR_ROLLOUTS, "Rollouts (samples) written for training.", registry=r)
        self.async_lag = _per_step_gauge(
            ORCHESTRATOR_ASYNC_LAG,
            "Steps between the trainer step that trains on the last step's rollouts and the oldest "
            "policy that sampled them (at most max_async_level).",
            r,
        )
        self.policy_version = _per_step_gauge(
            ORCHESTRATOR_POLICY_VERSION,
            "Trainer step of the policy the inference servers serve (0: the base model).",
            r,
        )
        self.weight_wait = _per_step_gauge(
            ORCHESTRATOR_WEIGHT_WAIT,
            "Seconds the last step waited for the trainer's policy before collecting rollouts.",
            r,
        )
        self.step_duration = Histogram(
            ORCHESTRATOR_STEP_DURATION,
            "Wall time between two steps' rollouts being written.",
            buckets=STEP_SECONDS_BUCKETS,
            registry=r,
        )

    def observe_step(self, record: Mapping[str, Any]) -> None:
        """`record` is the step's metrics.jsonl record (`step` is its 0-based index)."""
        self.step.set(record["step"] + 1)
        self.reward.set(record["reward"])
        self.tokens_per_second.set(record["tokens_per_s"])
        self.completion_tokens.inc(record["completion_tokens"])
        self.rollouts.inc(record["samples"])
        self.async_lag.set(record["off_policy_level"])
        self.policy_version.set(record["policy_version"])
        self.weight_wait.set(record["weight_wait_s"])
        self.step_duration.observe(record["step_time_s"])


def serve_trainer_metrics(port: int | None, local_rank: int, role: str = "trainer") -> TrainerMetrics:
    """The trainer's metrics, served when `port` is set and this is the pod's first process."""
    metrics = TrainerMetrics(role)
    if port is not None and local_rank == 0:
        metrics.serve(port)
    return metrics


def serve_orchestrator_metrics(port: int | None) -> OrchestratorMetrics:
    """The orchestrator's metrics, served when `port` is set."""
    metrics = OrchestratorMetrics()
    if port is not None:
        metrics.serve(port)
    return metrics
