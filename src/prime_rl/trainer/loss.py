"""Pure loss functions for RL and SFT, shared by the trainers and unit-tested on small tensors."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def shifted_logprobs(logits: torch.Tensor, input_ids: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Log-probability of each token given the tokens before it.

    Position t holds log p(input_ids[t] | input_ids[<t]); position 0 has no prediction and is 0,
    matching the rollout contract where values at t refer to token input_ids[t].
    """
    scaled = logits[:, :-1].float() / temperature
    token_logprobs = torch.log_softmax(scaled, dim=-1).gather(-1, input_ids[:, 1:, None]).squeeze(-1)
    return F.pad(token_logprobs, (1, 0), value=0.0)


def shifted_logprobs_and_entropy(
    logits: torch.Tensor, input_ids: torch.Tensor, temperature: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """`shifted_logprobs` plus the detached entropy of each predictive distribution, from one log-softmax."""
    logp = torch.log_softmax(logits[:, :-1].float() / temperature, dim=-1)
    token_logprobs = logp.gather(-1, input_ids[:, 1:, None]).squeeze(-1)
    with torch.no_grad():
        entropy = -(logp.exp() * logp).sum(-1)
    return F.pad(token_logprobs, (1, 0), value=0.0), F.pad(entropy, (1, 0), value=0.0)


#: Log-ratio bound for the mismatch KL, so one absurd token keeps the step's figure finite.
MAX_LOG_RATIO = 20.0


@dataclass(frozen=True)
class RLLossOutput:
    """Loss to backpropagate (already divided by the step's token count) and summed statistics.

    `ratio_sum` covers the kept tokens only: a masked ratio can be astronomically large (or inf).
    `num_masked_low`/`num_masked_high` count loss tokens masked below/above the ratio bounds, and
    `mismatch_kl_sum` sums exp(d) - d - 1 over loss tokens (d = trainer minus inference logprob,
    clamped to +-MAX_LOG_RATIO): an estimate of KL(inference || trainer) that is zero exactly when
    both score every sampled token alike, so a sampler and a trainer that disagree show at once.
    """

    loss: torch.Tensor
    num_masked: torch.Tensor
    ratio_sum: torch.Tensor
    num_masked_low: torch.Tensor
    num_masked_high: torch.Tensor
    mismatch_kl_sum: torch.Tensor


def rl_loss(
    logprobs: torch.Tensor,
    inference_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    loss_mask: torch.Tensor,
    total_loss_tokens: float,
    mask_low: float = 0.125,
    mask_high: float = 8.0,
) -> RLLossOutput:
    """Importance-weighted policy gradient with out-of-range ratios masked, not clipped.

    The ratio trainer/inference is a detached weight, so the gradient is ratio * advantage *
    grad log p. Tokens whose ratio falls outside [mask_low, mask_high] contribute nothing. The
    sum is divided by `total_loss_tokens` (all loss tokens of the step, across micro-batches and
    ranks) so that every token of the step weighs the same however the step is split.

    Masking selects the weight with `torch.where` instead of multiplying by the mask, because a
    masked ratio may overflow to inf and inf * 0 would turn the whole step's loss and gradient NaN.
    """
    log_ratio = logprobs.detach() - inference_logprobs
    ratio = torch.exp(log_ratio)
    in_range = (ratio >= mask_low) & (ratio <= mask_high)  # NaN ratios fall outside too
    low, high = ratio < mask_low, ratio > mask_high
    keep = loss_mask & in_range
    weight = torch.where(keep, ratio * advantages, torch.zeros_like(ratio))
    loss = -(torch.exp(logprobs - logprobs.detach()) * weight).sum() / total_loss_tokens
    # expm1 in float64: for the tiny differences of a healthy run, exp(d) - 1 - d in float32
    # would cancel to exactly zero and hide how small the mismatch is.
    bounded = log_ratio.double().clamp(-MAX_LOG_RATIO, MAX_LOG_RATIO)
    kl = (torch.expm1(bounded) - bounded).float()
    return RLLossOutput(
        loss=loss,
        num_masked=(loss_mask & ~in_range).sum(),
        ratio_sum=torch.where(keep, ratio, torch.zeros_like(ratio)).sum(),
        num_masked_low=(loss_mask & low).sum(),
        num_masked_high=(loss_mask & high).sum(),
        mismatch_kl_sum=torch.where(loss_mask, kl, torch.zeros_like(kl)).sum(),
    )


def sft_loss(logprobs: torch.Tensor, loss_mask: torch.Tensor, total_loss_tokens: float) -> torch.Tensor:
    """Cross-entropy on tokens where `loss_mask` is True, summed then divided by the step's token count."""
    return -(logprobs * loss_mask).sum() / total_loss_tokens
