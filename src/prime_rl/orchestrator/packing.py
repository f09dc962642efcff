"""Packing samples into ``seq_len`` micro-batches, split evenly across the trainer ranks.

A micro-batch holds one or more samples end to end; ``position_ids`` restart at 0 at each sample so
the trainer sees the boundaries. Every rank gets the same number of micro-batches (padded with
micro-batches whose loss mask is all False) so collective operations never wait on a rank that has
run out of data.

Samples longer than ``seq_len`` are truncated to their first ``seq_len`` tokens (and counted): the
rollout code already stops generating at ``seq_len``, so this only happens when a prompt alone is
too long, and keeping the prefix is still a correct policy-gradient sample for the tokens kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class TrainSample:
    """One scored trajectory flattened to tokens; value at t refers to ``input_ids[t]``."""

    input_ids: list[int]
    loss_mask: list[bool]
    logprobs: list[float]
    advantage: float

    def __post_init__(self) -> None:
        n = len(self.input_ids)
        if len(self.loss_mask) != n or len(self.logprobs) != n:
            raise ValueError(
                f"sample fields differ in length: input_ids {n}, loss_mask {len(self.loss_mask)}, "
                f"logprobs {len(self.logprobs)}"
            )
        if n == 0:
            raise ValueError("a sample needs at least one token")


@dataclass
class PackedBatch:
    """Micro-batches per rank (all ranks the same count) and how many samples were truncated."""

    ranks: list[list[dict]]
    truncated: int = 0
    sample_counts: list[int] = field(default_factory=list)

    @property
    def micro_batches_per_rank(self) -> int:
        return len(self.ranks[0]) if self.ranks else 0


def truncate(sample: TrainSample, seq_len: int) -> TrainSample:
    """The sample's first ``seq_len`` tokens (the sample itself when it fits)."""
    if len(sample.input_ids) <= seq_len:
        return sample
    return TrainSample(
        input_ids=sample.input_ids[:seq_len],
        loss_mask=sample.loss_mask[:seq_len],
        logprobs=sample.logprobs[:seq_len],
        advantage=sample.advantage,
    )


def pack_bins(lengths: Sequence[int], seq_len: int) -> list[list[int]]:
    """First-fit decreasing: sample indices per bin, every bin's total length at most ``seq_len``.

    Ties keep the original order, so the result is deterministic.
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    bins: list[list[int]] = []
    room: list[int] = []
    for i in order:
        if lengths[i] > seq_len:
            raise ValueError(f"sample {i} has {lengths[i]} tokens, more than seq_len={seq_len}")
        for b, free in enumerate(room):
            if lengths[i] <= free:
                bins[b].append(i)
                room[b] -= lengths[i]
                break
        else:
            bins.append([i])
            room.append(seq_len - lengths[i])
    return bins


def assign_bins(bin_tokens: Sequence[int], num_ranks: int) -> list[list[int]]:
    """Bin indices per rank: at most ceil(n / num_ranks) each, largest bins to the least loaded rank."""
    per_rank = max(1, -(-len(bin_tokens) // num_ranks))
    ranks: list[list[int]] = [[] for _ in range(num_ranks)]
    load = [0] * num_ranks
    for b in sorted(range(len(bin_tokens)), key=lambda i: (-bin_tokens[i], i)):
        open_ranks = [r for r in range(num_ranks) if len(ranks[r]) < per_rank]
        r = min(open_ranks, key=lambda r: (load[r], r))
        ranks[r].append(b)
        load[r] += bin_tokens[b]
    return [sorted(r) for r in ranks]


def micro_batch(samples: Sequence[TrainSample], temperature: float) -> dict:
    """Concatenates samples into one micro-batch of shape [1, L] in the rollout-file format."""
    input_ids: list[int] = []
    position_ids: list[int] = []
    loss_mask: list[bool] = []
    advantages: list[float] = []
    logprobs: list[float] = []
    for s in samples:
        n = len(s.input_ids)
        input_ids.extend(s.input_ids)
        position_ids.extend(range(n))
        loss_mask.extend(s.loss_mask)
        advantages.extend(s.advantage if m else 0.0 for m in s.loss_mask)
        logprobs.extend(lp if m else 0.0 for lp, m in zip(s.logprobs, s.loss_mask, strict=True))
    return {
        "input_ids": torch.tensor([input_ids], dtype=torch.long),
        "position_ids": torch.tensor([position_ids], dtype=torch.long),
        "loss_mask": torch.tensor([loss_mask], dtype=torch.bool),
        "advantages": torch.tensor([advantages], dtype=torch.float32),
        "inference_logprobs": torch.tensor([logprobs], dtype=torch.float32),
        "temperature": float(temperature),
    }


def padding_micro_batch(temperature: float, pad_token_id: int = 0) -> dict:
    """A one-token micro-batch that contributes nothing to the loss (all loss_mask False)."""
    return micro_batch([TrainSample([pad_token_id], [False], [0.0], 0.0)], temperature)


def pack_samples(
    samples: Sequence[TrainSample],
    seq_len: int,
    num_ranks: int,
    temperature: float,
    pad_token_id: int = 0,
) -> PackedBatch:
    """Truncates, packs into micro-batches and splits them across ranks with equal counts."""
    if num_ranks < 1:
        raise ValueError(f"num_ranks must be >= 1, got {num_ranks}")
    fitted = [truncate(s, seq_len) for s in samples]
    truncated = sum(1 for s, f in zip(samples, fitted, strict=True) if f is not s)
    bins = pack_bins([len(s.input_ids) for s in fitted], seq_len)
    bin_tokens = [sum(len(fitted[i].input_ids) for i in b) for b in bins]
    assignment = assign_bins(bin_tokens, num_ranks)
    per_rank = max(len(a) for a in assignment)
    ranks: list[list[dict]] = []
    counts: list[int] = []
    for bin_ids in assignment:
        mbs = [micro_batch([fitted[i] for i in sorted(bins[b])], temperature) for b in bin_ids]
        counts.append(sum(len(bins[b]) for b in bin_ids))
        mbs.extend(padding_micro_batch(temperature, pad_token_id) for _ in range(per_rank - len(mbs)))
        ranks.append(mbs)
    return PackedBatch(ranks=ranks, truncated=truncated, sample_counts=counts)
