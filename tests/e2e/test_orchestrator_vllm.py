"""Rollouts against a real vLLM server: the trainer sees exactly the tokens and logprobs sampled."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from vllm_server import InferenceServer

from prime_rl.envs import load_environment
from prime_rl.orchestrator.client import InferenceClient
from prime_rl.orchestrator.config import ClientConfig
from prime_rl.orchestrator.rollout import ChatTokenizer, Rollout, run_group

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


def _rollouts(
    server: InferenceServer, env_id: str, size: int, seq_len: int, max_tokens: int, temperature: float = 1.0
) -> list[Rollout]:
    from transformers import AutoTokenizer

    chat = ChatTokenizer(AutoTokenizer.from_pretrained(server.model_dir))
    env = load_environment(env_id)
    example = env.examples(0)[0]

    async def go() -> list[Rollout]:
        client = InferenceClient(server.v1_url, str(server.model_dir), ClientConfig(urls=[server.v1_url]))
        try:
            return await run_group(client, chat, env, example, 0, size, seq_len, max_tokens, temperature)
        finally:
            await client.aclose()

    return asyncio.run(go())


def _runs(mask: list[bool]) -> list[tuple[int, int]]:
    """(start, end) of every run of True."""
    runs, start = [], None
    for i, m in enumerate([*mask, False]):
        if m and start is None:
            start = i
        elif not m and start is not None:
            runs.append((start, i))
            start = None
    return runs


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_inference_logprobs_match_the_policy_on_the_sampled_tokens(
    base_server: InferenceServer, temperature: float
) -> None:
    """The trainer scores tokens with logits / temperature; the server must return logprobs of that
    same tempered distribution, or the importance ratio masks tokens that are perfectly on-policy."""
    import torch
    from transformers import AutoModelForCausalLM

    rollouts = _rollouts(
        base_server, "reverse-text", size=4, seq_len=512, max_tokens=16, temperature=temperature
    )
    model = AutoModelForCausalLM.from_pretrained(base_server.model_dir, dtype=torch.float32).eval()
    for rollout in rollouts:
        assert len(rollout.input_ids) == len(rollout.loss_mask) == len(rollout.logprobs)
        assert not any(rollout.loss_mask[: rollout.prompt_len])
        ids = torch.tensor([rollout.input_ids])
        with torch.no_grad():
            logits = model(ids).logits.float()
        logp = torch.log_softmax(logits[0, :-1] / temperature, dim=-1)
        positions = [t for t, on in enumerate(rollout.loss_mask) if on]
        sampled = torch.tensor([rollout.logprobs[t] for t in positions])
        aligned = torch.stack([logp[t - 1, rollout.input_ids[t]] for t in positions])
        # The same positions scored one token off: what a misaligned trajectory would give.
        shifted = torch.stack([logp[t - 2, rollout.input_ids[t]] for t in positions])
        assert (aligned - sampled).abs().max() < 1e-2
        assert (shifted - sampled).abs().mean() > 5 * (aligned - sampled).abs().mean()


def test_multi_turn_trajectory_masks_environment_tokens(base_server: InferenceServer) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_server.model_dir)
    rollouts = _rollouts(base_server, "wordle", size=2, seq_len=1024, max_tokens=12)
    for rollout in rollouts:
        turns = _runs(rollout.loss_mask)
        assert len(turns) == rollout.num_turns >= 2
        assistant = [m for m in rollout.messages if m["role"] == "assistant"]
        users: list[dict[str, Any]] = [m for m in rollout.messages if m["role"] == "user"]
        for (start, end), message in zip(turns, assistant, strict=True):
            sampled = tokenizer.decode(rollout.input_ids[start:end], skip_special_tokens=True)
            assert sampled == message["content"]
        # Between two assistant turns lie the environment's reply tokens, never trained on.
        for (_, end), (start, _), reply in zip(turns, turns[1:], users[1:], strict=False):
            between = tokenizer.decode(rollout.input_ids[end:start], skip_special_tokens=True)
            assert reply["content"].strip()[:20] in between
            assert all(lp == 0.0 for lp in rollout.logprobs[end:start])


def test_group_rollouts_are_scored_by_the_environment(base_server: InferenceServer) -> None:
    rollouts = _rollouts(base_server, "fixed-answer", size=4, seq_len=256, max_tokens=4)
    env = load_environment("fixed-answer")
    state = env.initial_state(env.examples(0)[0])
    for rollout in rollouts:
        assert rollout.reward == pytest.approx(env.score(rollout.messages, state)["reward"])
        assert 0.0 <= rollout.reward <= 1.0
        assert 1 <= rollout.completion_len <= 4
