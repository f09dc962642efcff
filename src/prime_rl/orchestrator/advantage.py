"""Group-relative advantages: each sample's reward minus the mean reward of its group."""

from __future__ import annotations

from collections.abc import Sequence


def group_advantages(rewards: Sequence[float]) -> list[float]:
    """Advantages of one group (the samples of one prompt): reward minus the group mean."""
    if not rewards:
        return []
    mean = sum(rewards) / len(rewards)
    return [r - mean for r in rewards]


def compute_advantages(rewards: Sequence[float], group_size: int) -> list[float]:
    """Advantages of consecutive groups of ``group_size`` rewards, flattened in the same order."""
    if group_size < 1 or len(rewards) % group_size:
        raise ValueError(f"{len(rewards)} rewards do not split into groups of {group_size}")
    out: list[float] = []
    for start in range(0, len(rewards), group_size):
        out.extend(group_advantages(rewards[start : start + group_size]))
    return out
