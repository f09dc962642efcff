"""The environment protocol shared by the orchestrator and every task.

An environment turns an ``Example`` into chat messages, answers each assistant turn (multi-turn
tasks), says when an episode is over, and scores the finished conversation with weighted reward
functions. Examples are deterministic for a seed, so runs and tests are reproducible.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prime_rl.config import ConfigError

Message = dict[str, Any]
State = dict[str, Any]

DATA_DIR = Path(__file__).parent / "data"
OFFLINE_VARIABLES = ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE")
TRUTHY = frozenset({"1", "true", "yes", "on"})


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


def tag_contents(text: str, tag: str) -> list[str]:
    """The raw content of every closed ``<tag>...</tag>`` in ``text``, in order.

    An opening tag without its closing one (a reply cut at the token limit) does not count.
    """
    return re.findall(rf"<{tag}>(.*?)</{tag}>", text, flags=re.DOTALL)


def first_tag(text: str, tag: str) -> str | None:
    """The stripped content of the first closed ``<tag>...</tag>``, or None when there is none."""
    match = re.search(rf"<{tag}>(.*?)</{tag}>", text, flags=re.DOTALL)
    return match.group(1).strip() if match else None


def offline() -> bool:
    """True when hub downloads are off (``HF_DATASETS_OFFLINE`` or ``HF_HUB_OFFLINE``, as in tests and CI).

    Environments then load the small samples shipped in ``prime_rl/envs/data`` instead.
    """
    return any(os.environ.get(name, "").strip().lower() in TRUTHY for name in OFFLINE_VARIABLES)


def data_file(name: str) -> Path:
    """A file shipped with the package under ``prime_rl/envs/data``."""
    return DATA_DIR / name


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
        """The task's prompts; the same seed always gives the same list."""
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
