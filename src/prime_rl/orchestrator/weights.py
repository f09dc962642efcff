"""Following the trainer's broadcasts and loading them into every inference server.

A broadcast directory is complete only once its ``STABLE`` marker exists (the trainer writes it
last), so only such directories are ever listed or loaded; a half-written one is invisible here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from pathlib import Path

from prime_rl.layout import broadcast_dir, stable_broadcasts
from prime_rl.orchestrator.client import InferenceClient

logger = logging.getLogger(__name__)


def latest_stable(output_dir: str | Path, run_id: str | None = None) -> int | None:
    """The newest complete broadcast (of `run_id`, when given)."""
    steps = stable_broadcasts(output_dir, run_id)
    return steps[-1] if steps else None


async def wait_for_broadcast(
    output_dir: str | Path, min_step: int, poll_interval_s: float, run_id: str | None = None
) -> int:
    """Waits (off the event loop) until a stable broadcast >= ``min_step`` exists; returns the newest."""
    started = time.monotonic()
    next_log = 0.0
    while True:
        latest = await asyncio.to_thread(latest_stable, output_dir, run_id)
        if latest is not None and latest >= min_step:
            return latest
        waited = time.monotonic() - started
        if waited >= next_log:
            logger.info("waiting for %s/STABLE (%.0f s)", broadcast_dir(output_dir, min_step), waited)
            next_log = waited + 30.0
        await asyncio.sleep(poll_interval_s)


class WeightSync:
    """Keeps every server on a recent policy; also re-applies weights to a server that restarted."""

    def __init__(
        self,
        clients: Sequence[InferenceClient],
        output_dir: str | Path,
        poll_interval_s: float,
        run_id: str | None = None,
    ) -> None:
        self.clients = list(clients)
        self.output_dir = Path(output_dir)
        self.run_id = run_id
        self.poll_interval_s = poll_interval_s
        self.update_seconds = 0.0
        for client in self.clients:
            client.on_reconnect = self.resync

    @property
    def version(self) -> int:
        """The oldest policy version any server has loaded."""
        return min(c.version for c in self.clients)

    async def load(self, step: int, clients: Sequence[InferenceClient] | None = None) -> None:
        """POSTs broadcasts/step_N to the servers (all by default) and records the version."""
        weight_dir = str(broadcast_dir(self.output_dir, step).resolve())
        targets = list(self.clients if clients is None else clients)
        started = time.perf_counter()
        await asyncio.gather(*(c.update_weights(weight_dir, step) for c in targets))
        self.update_seconds += time.perf_counter() - started
        logger.info("loaded policy version %d into %d server(s)", step, len(targets))

    async def ensure(self, min_version: int) -> int:
        """Makes every server serve a version >= ``min_version``, taking the newest stable one.

        Waits for ``broadcasts/step_{min_version}/STABLE`` when no such broadcast exists yet; also
        moves to a newer stable broadcast when one is available (fresher rollouts, never older).
        """
        if self.version >= min_version:
            newest = await asyncio.to_thread(latest_stable, self.output_dir, self.run_id)
        else:
            newest = await wait_for_broadcast(self.output_dir, min_version, self.poll_interval_s, self.run_id)
        if newest is not None and newest > self.version:
            stale = [c for c in self.clients if c.version < newest]
            await self.load(newest, stale)
        return self.version

    async def reset_to_base(self) -> None:
        """A fresh run samples step 0 from the base model, whatever a server kept from earlier runs."""
        await asyncio.gather(*(c.reload_base_weights() for c in self.clients))
        logger.info("reset %d server(s) to the base weights", len(self.clients))

    async def resync(self, client: InferenceClient) -> None:
        """After a server came back: load the newest stable broadcast at least as new as its last one."""
        if client.version <= 0:
            return
        newest = await wait_for_broadcast(self.output_dir, client.version, self.poll_interval_s, self.run_id)
        await client.update_weights_once(str(broadcast_dir(self.output_dir, newest).resolve()), newest)
        logger.info("re-applied policy version %d to %s", newest, client.base_url)
