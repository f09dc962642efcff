"""The environment protocol shared by the orchestrator and every task.

An environment turns an ``Example`` into chat messages, answers each assistant turn (multi-turn
tasks), says when an episode is over, and scores the finished conversation with weighted reward
functions. Everything is offline and deterministic for a seed, so runs and tests are reproducible.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prime_rl.config import ConfigError

Message = dict[str, Any]
State = dict[str, Any]


@dataclass(frozen=True)
class Example:
    """One task instance: the first user prompt, the reference answer, and task-specific data."""

    prompt: str
    answer: str
    info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RewardFunc:
    """A named, weighted reward: a pure function of the finished conversation and its state."""

    name: str
    fn: Callable[[Sequence[Message], State], float]
    weight: float = 1.0

    def __call__(self, messages: Sequence[Message], state: State) -> float:
        return float(self.fn(messages, state))


def assistant_contents(messages: Sequence[Message]) -> list[str]:
    """The text of every assistant turn, in order."""
    return [str(m.get("content") or "") for m in messages if m.get("role") == "assistant"]


def last_assistant(messages: Sequence[Message]) -> str:
    """The text of the last assistant turn ('' when there is none)."""
    turns = assistant_contents(messages)
    return turns[-1] if turns else ""


def extract_tag(text: str, tag: str) -> str | None:
    """The stripped content of the last ``<tag>...</tag>`` in ``text``.

    An opening tag without a closing one (a completion cut at the token limit) still counts, up to
    the end of the text. Returns None when the tag does not occur.
    """
    matches = re.findall(rf"<{tag}>(.*?)(?:</{tag}>|$)", text, flags=re.DOTALL)
    return matches[-1].strip() if matches else None


def check_int(name: str, value: Any, minimum: int) -> int:
    """Validates an integer environment argument."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"environment argument {name}={value!r} must be an integer >= {minimum}")
    return value


class Environment:
    """Base class: a single-turn task unless a subclass answers assistant turns."""

    name: str = ""

    def __init__(self, system_prompt: str | None, max_turns: int, reward_funcs: Sequence[RewardFunc]) -> None:
        self.system_prompt = system_prompt
        self.max_turns = max_turns
        self.reward_funcs = list(reward_funcs)

    def examples(self, seed: int = 0) -> Sequence[Example]:
        """The task's prompts, generated offline; the same seed always gives the same list."""
        raise NotImplementedError

    def initial_state(self, example: Example) -> State:
        """Per-episode state: the reference answer and task data the reward functions read."""
        return {"prompt": example.prompt, "answer": example.answer, "info": dict(example.info)}

    def initial_messages(self, example: Example) -> list[Message]:
        """The conversation the model sees first."""
        messages: list[Message] = []
        if self.system_prompt:
            messages.append({"role": "system", "content": self.system_prompt})
        messages.append({"role": "user", "content": example.prompt})
        return messages

    def env_response(self, messages: Sequence[Message], state: State) -> list[Message]:
        """User messages to append after an assistant turn; single-turn tasks have none."""
        return []

    def is_done(self, messages: Sequence[Message], state: State) -> bool:
        """True once the episode has used all its assistant turns."""
        return len(assistant_contents(messages)) >= self.max_turns

    def score(self, messages: Sequence[Message], state: State) -> dict[str, float]:
        """Every reward function's value and their weighted sum under ``reward``."""
        values = {f.name: f(messages, state) for f in self.reward_funcs}
        total = sum(f.weight * values[f.name] for f in self.reward_funcs)
        return {"reward": float(total), **values}
