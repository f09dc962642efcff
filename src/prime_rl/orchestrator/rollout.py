"""Multi-turn rollouts at the token level.

The trajectory is one growing list of token ids: the chat-templated prompt, then for each
assistant turn exactly the tokens the server sampled (with their log-probabilities; loss on), then
the environment's reply as template tokens (loss off). Completion tokens are never re-tokenized,
so what the trainer scores is exactly what the policy sampled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from prime_rl.orchestrator.client import InferenceClient

logger = logging.getLogger(__name__)

Message = dict[str, Any]


class ChatTokenizer:
    """Chat-template rendering and the token-level bookkeeping of a conversation."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.pad_token_id = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)

    def render(self, messages: Sequence[Message], add_generation_prompt: bool) -> str:
        return self.tokenizer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=add_generation_prompt
        )

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def decode(self, ids: Sequence[int], skip_special_tokens: bool) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def prompt_ids(self, messages: Sequence[Message]) -> list[int]:
        return self.encode(self.render(messages, add_generation_prompt=True))

    def continuation_ids(
        self, ids: Sequence[int], before: Sequence[Message], after: Sequence[Message]
    ) -> list[int]:
        """Tokens that take the trajectory ``ids`` (rendering ``before``) to ``after`` + generation prompt.

        Normally the rendered text of ``after`` extends the decoded trajectory and the new text is
        tokenized on its own. A template that rewrites history (or a completion that does not
        decode to its own text) breaks that; then the new messages' rendering after ``before`` is used.
        """
        target = self.render(after, add_generation_prompt=True)
        have = self.decode(ids, skip_special_tokens=False)
        if target.startswith(have):
            return self.encode(target[len(have) :])
        rendered_before = self.render(before, add_generation_prompt=False)
        if target.startswith(rendered_before):
            return self.encode(target[len(rendered_before) :])
        return self.encode(self.render(after[len(before) :], add_generation_prompt=True))


@dataclass
class Rollout:
    """One finished episode: its token trajectory and its scores."""

    example_index: int
    messages: list[Message]
    input_ids: list[int]
    loss_mask: list[bool]
    logprobs: list[float]
    prompt_len: int
    reward: float = 0.0
    scores: dict[str, float] = field(default_factory=dict)
    num_turns: int = 0
    truncated: bool = False

    @property
    def completion_len(self) -> int:
        return sum(self.loss_mask)


async def run_rollout(
    client: InferenceClient,
    chat: ChatTokenizer,
    env: Any,
    example: Any,
    example_index: int,
    seq_len: int,
    max_tokens: int,
    temperature: float,
    prompt_ids: Sequence[int] | None = None,
) -> Rollout:
    """Plays one episode against the environment; stops at done, max turns or ``seq_len`` tokens.

    ``prompt_ids`` (the templated first messages) may be passed in when a group shares them.
    """
    state = env.initial_state(example)
    messages: list[Message] = env.initial_messages(example)
    ids = list(prompt_ids) if prompt_ids is not None else chat.prompt_ids(messages)
    rollout = Rollout(
        example_index=example_index,
        messages=messages,
        input_ids=ids,
        loss_mask=[False] * len(ids),
        logprobs=[0.0] * len(ids),
        prompt_len=len(ids),
    )
    while True:
        budget = min(max_tokens, seq_len - len(rollout.input_ids))
        if budget <= 0:
            rollout.truncated = True
            break
        completion = await client.complete(rollout.input_ids, budget, temperature)
        rollout.input_ids.extend(completion.token_ids)
        rollout.loss_mask.extend([True] * len(completion.token_ids))
        rollout.logprobs.extend(completion.logprobs)
        rollout.num_turns += 1
        if completion.finish_reason == "length":
            rollout.truncated = True  # the turn was cut at max_tokens
        before = [*messages, {"role": "assistant", "content": chat.decode(completion.token_ids, True)}]
        messages[:] = before
        if env.is_done(messages, state):
            break
        reply = env.env_response(messages, state)
        messages.extend(reply)
        if env.is_done(messages, state):
            break
        extra = chat.continuation_ids(rollout.input_ids, before, messages)
        if len(rollout.input_ids) + len(extra) >= seq_len:
            rollout.truncated = True
            break
        rollout.input_ids.extend(extra)
        rollout.loss_mask.extend([False] * len(extra))
        rollout.logprobs.extend([0.0] * len(extra))
    scores = env.score(messages, state)
    rollout.reward = float(scores["reward"])
    rollout.scores = {k: float(v) for k, v in scores.items()}
    return rollout


async def run_group(
    client: InferenceClient,
    chat: ChatTokenizer,
    env: Any,
    example: Any,
    example_index: int,
    size: int,
    seq_len: int,
    max_tokens: int,
    temperature: float,
) -> list[Rollout]:
    """``size`` independent episodes of one example, sampled concurrently on one server."""
    prompt_ids = chat.prompt_ids(env.initial_messages(example))
    return list(
        await asyncio.gather(
            *(
                run_rollout(
                    client, chat, env, example, example_index, seq_len, max_tokens, temperature, prompt_ids
                )
                for _ in range(size)
            )
        )
    )
