"""Health probes: vLLM's HTTP health for inference, the runtime's heartbeat file for the other roles.

The trainer and the orchestrator touch ``HEARTBEAT_FILE`` from their own loops at every step and
every few seconds while they wait, so a hung collective or a wedged loop stops the heartbeat and
the liveness probe restarts the pod, while a slow model load is covered by the startup probe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .presets import INFERENCE, ORCHESTRATOR, TRAINER
from .validation import fail, require_int

#: Where the trainer and the orchestrator keep their heartbeat (pod-local, one file per pod).
HEARTBEAT_FILE = "/tmp/prime-rl/heartbeat"
PROBE_KINDS = ("startup", "liveness", "readiness")
#: The shortest heartbeat liveness period: twice the runtime's longest pause between beats.
MIN_HEARTBEAT_PERIOD_SECONDS = 10


@dataclass(frozen=True)
class ProbeTiming:
    """How often a probe runs, how many failures in a row it tolerates and how long one may take."""

    period_seconds: int
    failure_threshold: int
    timeout_seconds: int


#: Per role and probe. Inference: the original chart's defaults (startup 10 s x 270 = 45 minutes
#: of model loading). Trainer startup: the chart's 10 s x 60. Liveness of trainer and orchestrator
#: allows 20 minutes without a heartbeat: a long optimizer step or checkpoint never restarts a
#: healthy pod, a hung NCCL collective does within the hour.
DEFAULT_PROBES: dict[str, dict[str, ProbeTiming]] = {
    INFERENCE: {
        "startup": ProbeTiming(10, 270, 5),
        "liveness": ProbeTiming(10, 3, 10),
        "readiness": ProbeTiming(5, 2, 5),
    },
    TRAINER: {
        "startup": ProbeTiming(10, 60, 30),
        "liveness": ProbeTiming(60, 20, 30),
        "readiness": ProbeTiming(10, 3, 30),
    },
    ORCHESTRATOR: {
        "startup": ProbeTiming(10, 60, 30),
        "liveness": ProbeTiming(60, 20, 30),
        "readiness": ProbeTiming(10, 3, 30),
    },
}


def require_probe_timing(value: Any, field: str) -> ProbeTiming:
    """A :class:`ProbeTiming` with positive numbers (Kubernetes refuses 0 for each of them)."""
    if not isinstance(value, ProbeTiming):
        raise fail(field, value, "a ProbeTiming(period_seconds, failure_threshold, timeout_seconds)")
    for name in ("period_seconds", "failure_threshold", "timeout_seconds"):
        require_int(getattr(value, name), f"{field}.{name}", minimum=1)
    return value


def heartbeat_fresh_command(max_age_seconds: int) -> list[str]:
    """Exits 0 while ``$HEARTBEAT_FILE`` was touched less than ``max_age_seconds`` ago.

    POSIX sh with ``date`` and ``stat``, so it runs in any image; a missing file fails.
    """
    script = f'age=$(( $(date +%s) - $(stat -c %Y "$HEARTBEAT_FILE") )) && [ "$age" -lt {max_age_seconds} ]'
    return ["sh", "-c", script]


def render_probes(
    role: str, port_name: str | None, timings: dict[str, ProbeTiming]
) -> dict[str, dict[str, Any]]:
    """``startupProbe``/``livenessProbe``/``readinessProbe`` of a role that runs its command.

    Inference is probed on vLLM's ``/health``. Trainer and orchestrator are started and ready
    once the heartbeat exists (their loop runs), and alive while it is younger than the liveness
    period (``failureThreshold`` stale periods in a row restart the pod).
    """
    probes: dict[str, dict[str, Any]] = {}
    for kind in PROBE_KINDS:
        timing = timings[kind]
        if role == INFERENCE:
            if port_name is None:
                raise fail(f"{role}.port", None, "a port for the inference server's health probes")
            check: dict[str, Any] = {"httpGet": {"path": "/health", "port": port_name}}
        elif kind == "liveness":
            if timing.period_seconds < MIN_HEARTBEAT_PERIOD_SECONDS:
                raise fail(
                    f"{role}.liveness_probe.period_seconds",
                    timing.period_seconds,
                    f"at least {MIN_HEARTBEAT_PERIOD_SECONDS}: a heartbeat older than the period fails "
                    "the probe, and the runtime touches it every 5 seconds while it waits",
                )
            check = {"exec": {"command": heartbeat_fresh_command(timing.period_seconds)}}
        else:
            check = {"exec": {"command": ["sh", "-c", 'test -e "$HEARTBEAT_FILE"']}}
        probes[f"{kind}Probe"] = {
            **check,
            "failureThreshold": timing.failure_threshold,
            "periodSeconds": timing.period_seconds,
            "timeoutSeconds": timing.timeout_seconds,
        }
    return probes
