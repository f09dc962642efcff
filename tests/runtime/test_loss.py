"""RL and SFT losses on hand-computed tensors."""

from __future__ import annotations

import math

import pytest
import torch

from prime_rl.trainer.loss import rl_loss, sft_loss, shifted_logprobs, shifted_logprobs_and_entropy


def test_shifted_logprobs_align_with_the_token_they_score() -> None:
    ln3 = math.log(3.0)
    logits = torch.tensor([[[0.0, ln3], [ln3, 0.0], [0.0, 0.0]]])  # probs [.25,.75], [.75,.25], [.5,.5]
    input_ids = torch.tensor([[0, 1, 0]])
    logprobs = shifted_logprobs(logits, input_ids)
    expected = torch.tensor([[0.0, math.log(0.75), math.log(0.75)]])
    torch.testing.assert_close(logprobs, expected)


def test_temperature_divides_logits() -> None:
    logits = torch.tensor([[[0.0, 2.0], [0.0, 0.0]]])
    input_ids = torch.tensor([[0, 1]])
    # At temperature 2 the logits become [0, 1]: p(1) = e / (1 + e).
    expected = math.log(math.e / (1 + math.e))
    assert shifted_logprobs(logits, input_ids, temperature=2.0)[0, 1].item() == pytest.approx(expected)


def test_entropy_of_uniform_and_peaked_distributions() -> None:
    logits = torch.tensor([[[0.0, 0.0, 0.0, 0.0], [100.0, 0.0, 0.0, 0.0], [0.0] * 4]])
    input_ids = torch.tensor([[0, 1, 2]])
    logprobs, entropy = shifted_logprobs_and_entropy(logits, input_ids)
    torch.testing.assert_close(logprobs, shifted_logprobs(logits, input_ids))
    assert not entropy.requires_grad
    assert entropy[0, 0].item() == 0.0
    assert entropy[0, 1].item() == pytest.approx(math.log(4.0))
    assert entropy[0, 2].item() == pytest.approx(0.0, abs=1e-6)


def test_rl_loss_weights_by_detached_ratio_and_normalises_by_token_count() -> None:
    logprobs = torch.log(torch.tensor([[1.0, 0.5, 0.5, 0.5]])).requires_grad_()
    inference = torch.log(torch.tensor([[1.0, 0.5, 0.25, 0.5]]))  # ratios 1, 1, 2, 1
    advantages = torch.tensor([[0.0, 2.0, 1.0, 3.0]])
    mask = torch.tensor([[False, True, True, False]])
    out = rl_loss(logprobs, inference, advantages, mask, total_loss_tokens=4.0)
    # loss = -(1 * 2 + 2 * 1) / 4; d loss / d logp_t = -ratio_t * adv_t / 4 on kept tokens.
    assert out.loss.item() == pytest.approx(-1.0)
    out.loss.backward()
    torch.testing.assert_close(logprobs.grad, torch.tensor([[0.0, -0.5, -0.5, 0.0]]))
    assert out.num_masked.item() == 0
    assert out.ratio_sum.item() == pytest.approx(3.0)


def test_rl_loss_masks_ratios_outside_bounds_instead_of_clipping() -> None:
    # ratios: 0.1 (below 0.125), 0.125 (kept), 8 (kept), 10 (above 8)
    inference = torch.log(torch.tensor([[0.5, 0.5, 0.5, 0.5]]))
    trainer = torch.log(torch.tensor([[0.05, 0.0625, 4.0, 5.0]])).requires_grad_()
    advantages = torch.ones(1, 4)
    mask = torch.ones(1, 4, dtype=torch.bool)
    out = rl_loss(trainer, inference, advantages, mask, total_loss_tokens=2.0, mask_low=0.125, mask_high=8.0)
    assert out.num_masked.item() == 2
    assert out.loss.item() == pytest.approx(-(0.125 + 8.0) / 2)
    out.loss.backward()
    torch.testing.assert_close(trainer.grad, torch.tensor([[0.0, -0.0625, -4.0, 0.0]]))


def test_rl_loss_is_zero_for_all_masked_padding() -> None:
    logprobs = torch.zeros(1, 3, requires_grad=True)
    out = rl_loss(logprobs, torch.zeros(1, 3), torch.ones(1, 3), torch.zeros(1, 3, dtype=torch.bool), 5.0)
    assert out.loss.item() == 0.0
    out.loss.backward()
    assert torch.count_nonzero(logprobs.grad) == 0


def test_sft_loss_is_cross_entropy_on_masked_tokens_per_token() -> None:
    ln3 = math.log(3.0)
    logits = torch.tensor([[[0.0, ln3], [ln3, 0.0], [0.0, 0.0]]])
    input_ids = torch.tensor([[0, 1, 1]])
    mask = torch.tensor([[False, True, True]])
    # token 1 given [.25,.75] -> -log .75; token 1 given [.75,.25] -> -log .25
    expected = -(math.log(0.75) + math.log(0.25)) / 2
    logprobs = shifted_logprobs(logits, input_ids)
    assert sft_loss(logprobs, mask, total_loss_tokens=2.0).item() == pytest.approx(expected)
    only_first = torch.tensor([[False, True, False]])
    assert sft_loss(logprobs, only_first, 1.0).item() == pytest.approx(-math.log(0.75))


def test_rl_loss_stays_finite_when_a_masked_ratio_overflows() -> None:
    # log ratio 200 overflows exp() to inf in float32; that token is masked and must not poison the rest.
    logprobs = torch.log(torch.tensor([[0.5, 0.5]])).requires_grad_()
    inference = torch.tensor([[-200.5, math.log(0.5)]])
    mask = torch.ones(1, 2, dtype=torch.bool)
    out = rl_loss(logprobs, inference, torch.ones(1, 2), mask, total_loss_tokens=2.0)
    assert out.loss.item() == pytest.approx(-0.5)
    out.loss.backward()
    torch.testing.assert_close(logprobs.grad, torch.tensor([[0.0, -0.5]]))
    assert out.num_masked.item() == 1
    assert out.ratio_sum.item() == pytest.approx(1.0)


def test_rl_loss_sign_pushes_negative_advantages_down() -> None:
    logprobs = torch.log(torch.tensor([[0.5, 0.25]])).requires_grad_()
    out = rl_loss(
        logprobs, logprobs.detach(), torch.tensor([[-2.0, 0.0]]), torch.ones(1, 2, dtype=torch.bool), 2.0
    )
    out.loss.backward()
    # d loss / d logp = -ratio * advantage / N = -(1 * -2) / 2 = +1, so descent lowers that token's logp.
    torch.testing.assert_close(logprobs.grad, torch.tensor([[1.0, 0.0]]))


def test_rl_loss_counts_each_masked_side_and_sums_the_mismatch_kl() -> None:
    # ratios 0.1 (low), 2 (kept), 10 (high) on loss tokens; a fourth token is padding.
    inference = torch.log(torch.tensor([[0.5, 0.25, 0.05, 0.5]]))
    trainer = torch.log(torch.tensor([[0.05, 0.5, 0.5, 0.9]]))
    mask = torch.tensor([[True, True, True, False]])
    out = rl_loss(trainer, inference, torch.ones(1, 4), mask, total_loss_tokens=3.0)
    assert (out.num_masked_low.item(), out.num_masked_high.item(), out.num_masked.item()) == (1, 1, 2)
    # exp(d) - d - 1 with d = log ratio: 0.1 - ln 0.1 - 1, 2 - ln 2 - 1, 10 - ln 10 - 1
    expected = sum(r - math.log(r) - 1 for r in (0.1, 2.0, 10.0))
    assert out.mismatch_kl_sum.item() == pytest.approx(expected, rel=1e-5)


def test_mismatch_kl_is_zero_when_trainer_and_sampler_agree_and_finite_when_they_do_not() -> None:
    logprobs = torch.log(torch.tensor([[0.3, 0.6]]))
    mask = torch.ones(1, 2, dtype=torch.bool)
    same = rl_loss(logprobs, logprobs.clone(), torch.ones(1, 2), mask, total_loss_tokens=2.0)
    assert same.mismatch_kl_sum.item() == 0.0
    absurd = rl_loss(torch.tensor([[0.0, 0.0]]), torch.tensor([[-500.0, 0.0]]), torch.ones(1, 2), mask, 2.0)
    assert math.isfinite(absurd.mismatch_kl_sum.item())
    assert absurd.mismatch_kl_sum.item() == pytest.approx(math.exp(20.0) - 21.0)
