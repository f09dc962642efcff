"""Packing samples into micro-batches, checked against hand-built tensors."""

from __future__ import annotations

import pytest
import torch

from prime_rl.orchestrator.packing import (
    TrainSample,
    assign_bins,
    micro_batch,
    pack_bins,
    pack_samples,
)


def _sample(n_prompt: int, n_completion: int, advantage: float, start: int = 1) -> TrainSample:
    n = n_prompt + n_completion
    return TrainSample(
        input_ids=list(range(start, start + n)),
        loss_mask=[False] * n_prompt + [True] * n_completion,
        logprobs=[0.0] * n_prompt + [-0.5] * n_completion,
        advantage=advantage,
    )


def test_micro_batch_matches_hand_built_tensors() -> None:
    a = _sample(2, 1, advantage=0.5, start=10)  # tokens 10 11 | 12
    b = _sample(1, 2, advantage=-1.0, start=20)  # tokens 20 | 21 22
    mb = micro_batch([a, b], temperature=0.7)
    assert torch.equal(mb["input_ids"], torch.tensor([[10, 11, 12, 20, 21, 22]]))
    assert torch.equal(mb["position_ids"], torch.tensor([[0, 1, 2, 0, 1, 2]]))
    assert torch.equal(mb["loss_mask"], torch.tensor([[False, False, True, False, True, True]]))
    assert torch.equal(mb["advantages"], torch.tensor([[0.0, 0.0, 0.5, 0.0, -1.0, -1.0]]))
    assert torch.equal(mb["inference_logprobs"], torch.tensor([[0.0, 0.0, -0.5, 0.0, -0.5, -0.5]]))
    assert mb["input_ids"].dtype == torch.long and mb["loss_mask"].dtype == torch.bool
    assert mb["advantages"].dtype == torch.float32 and mb["temperature"] == 0.7


def test_first_fit_decreasing_bins() -> None:
    # lengths 6, 5, 4, 3, 2 into 8: [6, 2], [5, 3], [4]
    assert pack_bins([3, 6, 2, 5, 4], seq_len=8) == [[1, 2], [3, 0], [4]]


def test_bins_spread_over_ranks_by_load() -> None:
    # 5 bins over 2 ranks, at most 3 each: 8->r0, 8->r1, 4->r0 (12), 1->r1 (9), 1->r1 (10).
    assert assign_bins([8, 8, 4, 1, 1], num_ranks=2) == [[0, 2], [1, 3, 4]]


def test_every_rank_gets_the_same_number_of_micro_batches() -> None:
    samples = [_sample(2, 2, 1.0), _sample(2, 2, -1.0), _sample(2, 2, 0.0)]
    packed = pack_samples(samples, seq_len=4, num_ranks=2, temperature=1.0)
    assert [len(r) for r in packed.ranks] == [2, 2]
    padding = packed.ranks[1][1]
    assert torch.equal(padding["loss_mask"], torch.tensor([[False]]))
    assert packed.sample_counts == [2, 1]
    assert packed.truncated == 0


def test_more_ranks_than_samples_pads_every_empty_rank() -> None:
    packed = pack_samples([_sample(1, 1, 0.0)], seq_len=8, num_ranks=3, temperature=1.0)
    assert [len(r) for r in packed.ranks] == [1, 1, 1]
    assert [bool(r[0]["loss_mask"].any()) for r in packed.ranks] == [True, False, False]


def test_packing_keeps_every_token_once() -> None:
    samples = [_sample(3, k, float(k), start=100 * k) for k in range(1, 7)]
    packed = pack_samples(samples, seq_len=10, num_ranks=2, temperature=1.0)
    loss_tokens = sum(int(mb["loss_mask"].sum()) for r in packed.ranks for mb in r)
    assert loss_tokens == sum(range(1, 7))
    for rank in packed.ranks:
        for mb in rank:
            assert mb["input_ids"].shape[1] <= 10


def test_long_sample_is_truncated_and_counted() -> None:
    packed = pack_samples([_sample(3, 5, 1.0)], seq_len=6, num_ranks=1, temperature=1.0)
    assert packed.truncated == 1
    mb = packed.ranks[0][0]
    assert torch.equal(mb["input_ids"], torch.tensor([[1, 2, 3, 4, 5, 6]]))
    assert torch.equal(mb["loss_mask"], torch.tensor([[False, False, False, True, True, True]]))


def test_fails_on_ragged_sample() -> None:
    with pytest.raises(ValueError, match="sample fields differ in length"):
        TrainSample(input_ids=[1, 2], loss_mask=[True], logprobs=[0.0, 0.0], advantage=0.0)


def test_fails_on_empty_sample() -> None:
    with pytest.raises(ValueError, match="at least one token"):
        TrainSample(input_ids=[], loss_mask=[], logprobs=[], advantage=0.0)


def test_fails_on_zero_ranks() -> None:
    with pytest.raises(ValueError, match="num_ranks must be >= 1"):
        pack_samples([_sample(1, 1, 0.0)], seq_len=4, num_ranks=0, temperature=1.0)
