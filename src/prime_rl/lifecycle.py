"""How a role's process lives in a pod: a heartbeat for liveness probes, what it does once its run
is finished, so an experiment on Kubernetes neither restarts finished work nor hides a failure, and
where it serves its Prometheus metrics.

Read by `trainer`, `sft` and `orchestrator` (the local `rl` launcher passes neither on):

``HEARTBEAT_FILE``
    Absolute path of a pod-local file; unset: no heartbeat (local runs). The role touches it
    (creating parent directories, writing nothing) once its main loop starts, i.e. after loading
    the model and initialising, never at process start; then at every step, at least every
    ``WAIT_BEAT_S`` seconds while it waits (for the run, rollouts, inference health, broadcasts,
    rollout groups) and while it idles. The loops beat themselves, never a background thread, so a
    wedged loop stops the beat: a startup probe waits for the file, a liveness probe requires a
    fresh mtime. A single blocking operation (a training step, writing a checkpoint or an export,
    a collective) beats before and after it only; the probe's failure window must cover it.
``IDLE_WHEN_DONE``
    ``1``/``true``/``yes``: after its run finished successfully the role logs ``run <id> finished
    at step N; idling (IDLE_WHEN_DONE is set) until the pod is deleted`` and sleeps, still beating,
    until SIGTERM or SIGINT, then exits 0. ``0``/``false``/``no``/unset: it exits 0 at once.
    Anything else is a config error (exit 2). A failure still exits non-zero.
``METRICS_PORT``
    A TCP port, 1 to 65535; unset or empty: no metrics server. The orchestrator, and in the trainer
    (``trainer``, ``sft``) the process with ``LOCAL_RANK`` 0 of each pod, serve Prometheus metrics on
    ``0.0.0.0:$METRICS_PORT/metrics`` from before the run starts until the process exits, idling
    included (see ``prime_rl.metrics``). Anything else is a config error (exit 2); a port already in
    use is an error naming it (exit 1).

Either way the finished role first records ``finished/<role>.json`` under the output dir (see
``prime_rl.layout``), stamped with the run id. A restarted process of the same run that finds its
own marker takes no step: it logs ``run <id> already finished at step N (<marker>)`` and idles at
once or exits 0. Markers of other runs are ignored, so a new run id starts fresh.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from prime_rl import layout
from prime_rl.config import EXIT_CONFIG_ERROR, ConfigError, env_bool, env_port

HEARTBEAT_FILE = "HEARTBEAT_FILE"
IDLE_WHEN_DONE = "IDLE_WHEN_DONE"
METRICS_PORT = "METRICS_PORT"
#: Longest a waiting loop goes without a beat (the contract with the manifests: at most 10 s).
WAIT_BEAT_S = 5.0
#: Beats closer together than this touch the file once: step loops may beat many times a second.
MIN_BEAT_INTERVAL_S = 1.0
#: How often an idle role wakes up to beat.
IDLE_BEAT_S = 2.0

logger = logging.getLogger("prime_rl.lifecycle")

T = TypeVar("T")


class Heartbeat:
    """Touches the heartbeat file when a loop says it is alive; does nothing without a file."""

    def __init__(
        self,
        path: Path | None,
        min_interval_s: float = MIN_BEAT_INTERVAL_S,
        wait_beat_s: float = WAIT_BEAT_S,
    ) -> None:
        self.path = path
        self.min_interval_s = min_interval_s
        self.wait_beat_s = wait_beat_s
        self._last: float | None = None

    def beat(self) -> None:
        """Update the file's mtime (creating it), unless the last beat is under `min_interval_s` old."""
        if self.path is None:
            return
        now = time.monotonic()
        if self._last is not None and now - self._last < self.min_interval_s:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()
        self._last = now

    def sleep(self, seconds: float) -> None:
        """`time.sleep` for polling loops: beats at least every `wait_beat_s` meanwhile."""
        if self.path is None:
            time.sleep(seconds)
            return
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, self.wait_beat_s))
            self.beat()

    async def during(self, awaitable: Awaitable[T]) -> T:
        """Await `awaitable` from the waiting coroutine itself, beating every `wait_beat_s`.

        The beat comes from this loop, so it stops when the event loop is blocked; cancelling the
        caller cancels `awaitable` too.
        """
        if self.path is None:
            return await awaitable
        task = asyncio.ensure_future(awaitable)
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=self.wait_beat_s)
                self.beat()
            return task.result()
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)


#: The heartbeat of code that runs without one (tests, helpers called outside a role's loop).
NO_HEARTBEAT = Heartbeat(None)


def idle(heartbeat: Heartbeat, stop: threading.Event | None = None) -> None:
    """Beat until SIGTERM or SIGINT arrives (or `stop` is set, by the caller's own SIGTERM handler)."""
    stop = stop or threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        heartbeat.beat()
        while not stop.wait(IDLE_BEAT_S):
            heartbeat.beat()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    logger.info("asked to stop while idle; exiting 0")


@dataclass(frozen=True)
class Lifecycle:
    """The pod-facing settings of one role process: where to beat, whether to idle when done, and
    the port of its metrics server (None: none)."""

    heartbeat_file: Path | None = None
    idle_when_done: bool = False
    metrics_port: int | None = None

    @classmethod
    def from_env(cls) -> Lifecycle:
        """`HEARTBEAT_FILE`, `IDLE_WHEN_DONE` and `METRICS_PORT`; raises ConfigError naming a bad value."""
        raw = os.environ.get(HEARTBEAT_FILE, "").strip()
        if raw and not os.path.isabs(raw):
            raise ConfigError(
                f"environment variable {HEARTBEAT_FILE}={raw!r} is not an absolute path (expected the "
                "absolute path of a pod-local file, or unset for no heartbeat)"
            )
        return cls(
            Path(raw) if raw else None, env_bool(IDLE_WHEN_DONE, False)(), env_port(METRICS_PORT, None)()
        )

    def heartbeat(self) -> Heartbeat:
        return Heartbeat(self.heartbeat_file)

    def finished(
        self, run_id: str | None, step: int, heartbeat: Heartbeat, stop: threading.Event | None = None
    ) -> None:
        """After the run finished and its marker is written: idle with IDLE_WHEN_DONE, else return."""
        if not self.idle_when_done:
            logger.info("run %s finished at step %d", run_id, step)
            return
        logger.info(
            "run %s finished at step %d; idling (%s is set) until the pod is deleted",
            run_id,
            step,
            IDLE_WHEN_DONE,
        )
        idle(heartbeat, stop)

    def already_finished(self, role: str, output_dir: str | Path, run_id: str, step: int) -> None:
        """A restart found this role's marker of its run: take no step, idle or return at once."""
        marker = layout.finished_path(output_dir, role)
        if not self.idle_when_done:
            logger.info("run %s already finished at step %d (%s); nothing to do", run_id, step, marker)
            return
        logger.info(
            "run %s already finished at step %d (%s); idling (%s is set) until the pod is deleted",
            run_id,
            step,
            marker,
            IDLE_WHEN_DONE,
        )
        idle(self.heartbeat())


def lifecycle_from_env(prog: str) -> Lifecycle:
    """`Lifecycle.from_env` for entry points: a bad value exits 2 with one line, like a config error."""
    try:
        lifecycle = Lifecycle.from_env()
    except ConfigError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG_ERROR) from None
    if lifecycle.heartbeat_file is not None:
        # A restarted container finds its predecessor's beat in the pod's /tmp: remove it, so the
        # startup probe waits for this process's own loop.
        lifecycle.heartbeat_file.unlink(missing_ok=True)
    return lifecycle
