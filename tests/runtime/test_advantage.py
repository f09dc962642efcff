"""Group-relative advantages on hand-computed values."""

from __future__ import annotations

import pytest

from prime_rl.orchestrator.advantage import compute_advantages, group_advantages


def test_group_advantage_is_reward_minus_group_mean() -> None:
    assert group_advantages([1.0, 0.0, 0.5, 0.5]) == [0.5, -0.5, 0.0, 0.0]


def test_equal_rewards_give_zero_advantage() -> None:
    assert group_advantages([0.3, 0.3, 0.3]) == pytest.approx([0.0, 0.0, 0.0])


def test_groups_are_independent() -> None:
    # group 1: mean 2 -> [-1, 1]; group 2: mean 0.25 -> [-0.25, 0.25]
    assert compute_advantages([1.0, 3.0, 0.0, 0.5], group_size=2) == [-1.0, 1.0, -0.25, 0.25]


def test_group_of_one_has_zero_advantage() -> None:
    assert compute_advantages([0.7, 0.2], group_size=1) == [0.0, 0.0]


def test_fails_when_rewards_do_not_split_into_groups() -> None:
    with pytest.raises(ValueError, match="3 rewards do not split into groups of 2"):
        compute_advantages([1.0, 2.0, 3.0], group_size=2)
