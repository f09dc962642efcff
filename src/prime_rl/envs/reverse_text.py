"""reverse-text: reverse a snippet of real text character by character.

Follows the original ``reverse-text`` environment of PrimeIntellect-ai/verifiers
(``environments/reverse_text``, package version 0.1.0): prompts are the ``prompt`` column of the
hub dataset ``PrimeIntellect/Reverse-Text-RL``, the system prompt asks for the answer inside
``<reversed_text>`` tags, and the only reward is the ``difflib.SequenceMatcher`` ratio of the
first closed tag's stripped content to the exact reversal (no closed tag: an empty answer).
With ``HF_DATASETS_OFFLINE=1`` the prompts come from a small sample of real text shipped in
``data/reverse_text.json``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from difflib import SequenceMatcher
from typing import Any

from prime_rl.config import ConfigError
from prime_rl.envs.base import (
    Environment,
    Example,
    Message,
    RewardFunc,
    State,
    check_int,
    data_file,
    first_tag,
    last_assistant,
    offline,
)

TAG = "reversed_text"
DATASET = "PrimeIntellect/Reverse-Text-RL"
SYSTEM_PROMPT = "Reverse the text character-by-character. Put your answer in <reversed_text> tags."


def lcs_reward(completion: str, answer: str) -> float:
    """SequenceMatcher ratio of the first closed ``<reversed_text>`` content vs the reversal.

    Without a closed tag the answer counts as empty, which scores 0 against any non-empty text.
    """
    parsed = first_tag(completion, TAG)
    return SequenceMatcher(None, parsed or "", answer).ratio()


def prompt_text(value: Any) -> str:
    """A dataset row's prompt: a string, or a chat message list whose last user turn holds it."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        users = [m.get("content") for m in value if isinstance(m, dict) and m.get("role") == "user"]
        if users and isinstance(users[-1], str):
            return users[-1]
    raise ConfigError(
        f"reverse-text: a dataset row's 'prompt' must be text or chat messages, got {value!r:.80}"
    )


def offline_sample(dataset_name: str) -> list[str]:
    """The shipped stand-in for ``dataset_name``; unknown names are a ConfigError listing the known ones."""
    samples: dict[str, list[str]] = json.loads(data_file("reverse_text.json").read_text())["datasets"]
    if dataset_name not in samples:
        raise ConfigError(
            f"environment argument dataset_name={dataset_name!r} has no offline sample "
            f"(HF_DATASETS_OFFLINE is set); allowed offline: {', '.join(sorted(samples))}"
        )
    return samples[dataset_name]


def load_texts(dataset_name: str, dataset_split: str) -> list[str]:
    """The prompts of a hub dataset, as the original loads them (the shipped sample when offline)."""
    if offline():
        return offline_sample(dataset_name)
    from datasets import load_dataset

    return [prompt_text(row["prompt"]) for row in load_dataset(dataset_name, split=dataset_split)]


class ReverseTextEnv(Environment):
    name = "reverse-text"

    def __init__(
        self, dataset_name: str = DATASET, dataset_split: str = "train", num_examples: int | None = None
    ) -> None:
        for arg, value in (("dataset_name", dataset_name), ("dataset_split", dataset_split)):
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"environment argument {arg}={value!r} must be a non-empty string")
        self.dataset_name = dataset_name
        self.dataset_split = dataset_split
        self.num_examples = None if num_examples is None else check_int("num_examples", num_examples, 1)
        super().__init__(
            system_prompt=SYSTEM_PROMPT,
            max_turns=1,
            reward_funcs=[RewardFunc("lcs", self._reward, 1.0)],
        )

    def _reward(self, messages: Sequence[Message], state: State) -> float:
        return lcs_reward(last_assistant(messages), state["answer"])

    def examples(self, seed: int = 0) -> list[Example]:
        """Every row in dataset order (the seed does not change the rows), cut to ``num_examples``."""
        texts = load_texts(self.dataset_name, self.dataset_split)
        if self.num_examples is not None:
            texts = texts[: self.num_examples]
        return [Example(prompt=t, answer=t[::-1], info={"index": i}) for i, t in enumerate(texts)]
