"""fixed-answer: every prompt asks for the same short answer.

The reward is the similarity of the whole completion to that answer, so even a tiny randomly
initialised model climbs visibly within minutes: useful to prove an RL loop actually learns.
"""

from __future__ import annotations

from collections.abc import Sequence
from difflib import SequenceMatcher

from prime_rl.config import ConfigError
from prime_rl.envs.base import Environment, Example, Message, RewardFunc, State, check_int, last_assistant


def similarity_reward(completion: str, target: str) -> float:
    """SequenceMatcher ratio of the stripped completion and the target (1.0 = exact)."""
    return SequenceMatcher(None, completion.strip(), target).ratio()


class FixedAnswerEnv(Environment):
    name = "fixed-answer"

    def __init__(self, target: str = "yes", num_examples: int = 256) -> None:
        if not isinstance(target, str) or not target.strip():
            raise ConfigError(f"environment argument target={target!r} must be a non-empty string")
        self.target = target.strip()
        self.num_examples = check_int("num_examples", num_examples, 1)
        super().__init__(
            system_prompt=None,
            max_turns=1,
            reward_funcs=[RewardFunc("similarity", self._similarity, 1.0)],
        )

    def _similarity(self, messages: Sequence[Message], state: State) -> float:
        return similarity_reward(last_assistant(messages), state["answer"])

    def examples(self, seed: int = 0) -> list[Example]:
        prompt = f"Reply with exactly: {self.target}"
        count = self.num_examples
        return [Example(prompt=prompt, answer=self.target, info={"index": i}) for i in range(count)]
