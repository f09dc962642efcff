"""Keeping rollout groups in flight across step boundaries under the async limits.

Each group is tagged with the policy version loaded when it was started. A group may serve step
``s`` only if ``s - version <= off_policy_limit``; older ones are dropped (and new ones started in
their place). New groups are started only while they can still be used: the groups already
finished or in flight cannot fill every step the current policy is allowed to serve, and no more
than ``max_in_flight`` run at once. Generation therefore continues while the orchestrator writes a
batch or waits for the trainer, but never produces work that would be thrown away for sure.

Groups that ``keep`` rejects (those whose rewards are all equal carry no gradient) do not count
towards a step: others are started in their place, at most ``max_skipped`` per step; past that
bound the step is filled with the skipped groups, so a hard batch still trains.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class Tagged(Generic[T]):
    """A finished group and the policy version it was sampled under."""

    version: int
    value: T


class GroupScheduler(Generic[T]):
    """Starts groups with ``start_group()`` and hands out ``groups_per_step`` usable ones per step."""

    def __init__(
        self,
        start_group: Callable[[], Awaitable[T]],
        current_version: Callable[[], int],
        groups_per_step: int,
        off_policy_limit: int,
        max_steps: int,
        max_in_flight: int,
        keep: Callable[[T], bool] | None = None,
        max_skipped: int = 0,
    ) -> None:
        self.start_group = start_group
        self.current_version = current_version
        self.groups_per_step = groups_per_step
        self.off_policy_limit = off_policy_limit
        self.max_steps = max_steps
        self.max_in_flight = max_in_flight
        self.in_flight: dict[asyncio.Task[T], int] = {}
        self.ready: list[Tagged[T]] = []
        self.dropped = 0
        self.started = 0
        self.keep = keep
        self.max_skipped = max_skipped
        #: Groups `keep` rejected while collecting the last step (some may have filled it at the bound).
        self.skipped: list[Tagged[T]] = []

    def usable(self, version: int, step: int) -> bool:
        return step - version <= self.off_policy_limit

    def _wanted(self, step: int) -> int:
        """How many more groups the current policy could usefully start for steps >= ``step``."""
        version = self.current_version()
        last = min(self.max_steps - 1, version + self.off_policy_limit)
        if last < step:
            return 0
        capacity = (last - step + 1) * self.groups_per_step
        have = sum(1 for g in self.ready if self.usable(g.version, step)) + sum(
            1 for v in self.in_flight.values() if self.usable(v, step)
        )
        return min(capacity - have, self.max_in_flight - len(self.in_flight))

    def top_up(self, step: int) -> None:
        """Starts as many groups as are wanted for ``step`` and later."""
        for _ in range(max(0, self._wanted(step))):
            task = asyncio.ensure_future(self.start_group())
            self.in_flight[task] = self.current_version()
            self.started += 1

    def _drop_stale(self, step: int) -> None:
        keep = [g for g in self.ready if self.usable(g.version, step)]
        self.dropped += len(self.ready) - len(keep)
        self.ready = keep
        for task, version in list(self.in_flight.items()):
            if not self.usable(version, step):
                task.cancel()
                del self.in_flight[task]
                self.dropped += 1

    async def collect(self, step: int) -> list[Tagged[T]]:
        """Waits for ``groups_per_step`` groups usable at ``step`` (first finished first)."""
        self._drop_stale(step)
        self.skipped = []
        while len(self.ready) < self.groups_per_step:
            if len(self.skipped) > self.max_skipped:
                # The bound on oversampling: train on what there is, zero-signal groups included.
                fill = [g for g in self.skipped if self.usable(g.version, step)]
                self.ready.extend(fill[: self.groups_per_step - len(self.ready)])
                if self.ready:
                    break
            self.top_up(step)
            if not self.in_flight:
                raise RuntimeError(
                    f"step {step} needs a policy version >= {step - self.off_policy_limit}, "
                    f"but version {self.current_version()} is loaded"
                )
            await asyncio.wait(list(self.in_flight), return_when=asyncio.FIRST_COMPLETED)
            for task in [t for t in self.in_flight if t.done()]:  # in start order, deterministic
                version = self.in_flight.pop(task)
                group = Tagged(version, task.result())
                if self.keep is None or self.keep(group.value):
                    self.ready.append(group)
                else:
                    self.skipped.append(group)
            self._drop_stale(step)
        batch, self.ready = self.ready[: self.groups_per_step], self.ready[self.groups_per_step :]
        self.top_up(step + 1)
        return batch

    async def shutdown(self) -> None:
        """Cancels every group still in flight and waits for them to finish cancelling."""
        tasks = list(self.in_flight)
        for task in tasks:
            task.cancel()
        self.in_flight.clear()
        await asyncio.gather(*tasks, return_exceptions=True)
