"""Async-level semantics of the group scheduler, driven by hand-resolved futures (no real server)."""

from __future__ import annotations

import asyncio

import pytest

from prime_rl.orchestrator.scheduler import GroupScheduler


class FakeGroups:
    """start_group() returns a future the test resolves; `version` is the loaded policy."""

    def __init__(self) -> None:
        self.version = 0
        self.pending: list[asyncio.Future[str]] = []
        self.count = 0

    async def start(self) -> str:
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.pending.append(future)
        self.count += 1
        return await future

    def finish(self, n: int) -> None:
        """Resolves the n oldest unresolved groups with labels g<index>."""
        for future in [f for f in self.pending if not f.done()][:n]:
            future.set_result(f"g{self.pending.index(future)}")


def _scheduler(
    fake: FakeGroups, groups: int = 2, limit: int = 1, steps: int = 10, cap: int = 4
) -> GroupScheduler:
    return GroupScheduler(fake.start, lambda: fake.version, groups, limit, steps, cap)


async def _collect_when(scheduler: GroupScheduler, fake: FakeGroups, step: int, finish: int) -> list:
    task = asyncio.ensure_future(scheduler.collect(step))
    for _ in range(5):
        await asyncio.sleep(0)
    fake.finish(finish)
    return await task


def test_collect_returns_one_step_of_groups_tagged_with_their_version() -> None:
    async def go() -> None:
        fake = FakeGroups()
        scheduler = _scheduler(fake)
        batch = await _collect_when(scheduler, fake, 0, finish=2)
        assert [g.value for g in batch] == ["g0", "g1"]
        assert [g.version for g in batch] == [0, 0]
        await scheduler.shutdown()

    asyncio.run(go())


def test_groups_keep_running_across_the_step_boundary() -> None:
    async def go() -> None:
        fake = FakeGroups()
        scheduler = _scheduler(fake, groups=2, limit=1, cap=4)
        # version 0 may serve steps 0 and 1: four groups start at once (cap 4).
        await _collect_when(scheduler, fake, 0, finish=2)
        for _ in range(3):
            await asyncio.sleep(0)
        assert fake.count == 4 and len(scheduler.in_flight) == 2
        batch = await _collect_when(scheduler, fake, 1, finish=2)
        assert [g.value for g in batch] == ["g2", "g3"]
        # step 2 needs version >= 1, so nothing more was started under version 0
        assert fake.count == 4 and not scheduler.in_flight
        await scheduler.shutdown()

    asyncio.run(go())


def test_no_group_starts_that_the_policy_could_not_serve() -> None:
    async def go() -> None:
        fake = FakeGroups()
        scheduler = _scheduler(fake, groups=2, limit=0, cap=8)
        # strict on-policy: version 0 serves only step 0, so only two groups start
        await _collect_when(scheduler, fake, 0, finish=2)
        assert fake.count == 2
        with pytest.raises(RuntimeError, match="step 1 needs a policy version >= 1, but version 0 is loaded"):
            await scheduler.collect(1)
        fake.version = 1
        batch = await _collect_when(scheduler, fake, 1, finish=2)
        assert [g.version for g in batch] == [1, 1]
        await scheduler.shutdown()

    asyncio.run(go())


def test_groups_older_than_the_off_policy_limit_are_dropped_and_replaced() -> None:
    async def go() -> None:
        fake = FakeGroups()
        scheduler = _scheduler(fake, groups=2, limit=1, cap=4)
        await _collect_when(scheduler, fake, 0, finish=2)
        for _ in range(3):
            await asyncio.sleep(0)
        # two groups of version 0 are in flight; the trainer publishes versions 1 and 2
        fake.version = 2
        # at step 3 the version-0 groups are 3 steps old (> 1): cancelled, replaced by version-2 groups
        batch = await _collect_when(scheduler, fake, 3, finish=4)
        assert scheduler.dropped == 2
        assert [g.version for g in batch] == [2, 2]
        assert all(f.cancelled() for f in fake.pending[2:4])
        await scheduler.shutdown()

    asyncio.run(go())


def test_finished_but_stale_groups_are_not_used() -> None:
    async def go() -> None:
        fake = FakeGroups()
        scheduler = _scheduler(fake, groups=1, limit=1, cap=4)
        await _collect_when(scheduler, fake, 0, finish=1)
        for _ in range(3):
            await asyncio.sleep(0)
        fake.finish(1)  # the version-0 group for step 1 finishes early
        for _ in range(3):
            await asyncio.sleep(0)
        fake.version = 2
        batch = await _collect_when(scheduler, fake, 3, finish=5)
        assert [g.version for g in batch] == [2]
        assert scheduler.dropped == 1
        await scheduler.shutdown()

    asyncio.run(go())


def test_no_groups_start_beyond_the_last_step() -> None:
    async def go() -> None:
        fake = FakeGroups()
        scheduler = _scheduler(fake, groups=2, limit=3, steps=1, cap=16)
        await _collect_when(scheduler, fake, 0, finish=2)
        assert fake.count == 2 and not scheduler.in_flight
        await scheduler.shutdown()

    asyncio.run(go())


def test_a_failing_group_fails_the_collect() -> None:
    async def go() -> None:
        async def boom() -> str:
            raise ConnectionError("server gone")

        scheduler: GroupScheduler[str] = GroupScheduler(boom, lambda: 0, 1, 1, 5, 2)
        with pytest.raises(ConnectionError, match="server gone"):
            await scheduler.collect(0)
        await scheduler.shutdown()

    asyncio.run(go())


async def _finish_until(scheduler: GroupScheduler, fake: FakeGroups, step: int) -> list:
    """Resolve groups one at a time (letting the scheduler start replacements) until `step` is full."""
    task = asyncio.ensure_future(scheduler.collect(step))
    while not task.done():
        for _ in range(5):
            await asyncio.sleep(0)
        fake.finish(1)
    return await task


def test_groups_without_signal_do_not_count_and_are_replaced() -> None:
    async def go() -> None:
        fake = FakeGroups()
        # g0, g2 and g3 have uniform rewards: skipped; g1, g4 fill the step.
        keep = {"g1", "g4", "g5"}.__contains__
        scheduler = GroupScheduler(fake.start, lambda: fake.version, 2, 1, 10, 4, keep=keep, max_skipped=5)
        batch = await _finish_until(scheduler, fake, 0)
        assert [g.value for g in batch] == ["g1", "g4"]
        assert [g.value for g in scheduler.skipped] == ["g0", "g2", "g3"]
        await scheduler.shutdown()

    asyncio.run(go())


def test_past_the_oversampling_bound_the_step_trains_on_what_it_has() -> None:
    async def go() -> None:
        fake = FakeGroups()
        scheduler = GroupScheduler(
            fake.start, lambda: fake.version, 2, 1, 10, 4, keep=lambda g: False, max_skipped=2
        )
        batch = await _finish_until(scheduler, fake, 0)
        # Three skipped groups pass the bound of 2: the step takes the first two of them.
        assert [g.value for g in batch] == ["g0", "g1"]
        assert len(scheduler.skipped) == 3
        await scheduler.shutdown()

    asyncio.run(go())


def test_group_outcomes_count_skipped_groups_and_solved_fractions() -> None:
    from types import SimpleNamespace

    from prime_rl.orchestrator.orchestrator import group_outcomes, has_signal
    from prime_rl.orchestrator.scheduler import Tagged

    def group(*rewards: float) -> Tagged:
        return Tagged(0, [SimpleNamespace(reward=r) for r in rewards])

    solved, failed, mixed = group(1.0, 1.0), group(0.0, 0.0), group(0.0, 1.0)
    assert not has_signal(solved.value) and has_signal(mixed.value)
    assert group_outcomes([mixed, solved], [solved, failed]) == {
        "filtered_groups": 2,
        "solve_all": pytest.approx(1 / 3),
        "solve_none": pytest.approx(1 / 3),
    }
    assert group_outcomes([mixed], []) == {"filtered_groups": 0, "solve_all": 0.0, "solve_none": 0.0}


def test_truncated_rollouts_leave_the_loss_only_when_asked() -> None:
    from types import SimpleNamespace

    from prime_rl.orchestrator.orchestrator import _loss_mask

    cut = SimpleNamespace(loss_mask=[False, True, True], truncated=True)
    whole = SimpleNamespace(loss_mask=[False, True, True], truncated=False)
    assert _loss_mask(cut, mask_truncated=True) == [False, False, False]
    assert _loss_mask(cut, mask_truncated=False) == [False, True, True]
    assert _loss_mask(whole, mask_truncated=True) == [False, True, True]
