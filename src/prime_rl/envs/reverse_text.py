"""reverse-text: reverse a sentence character by character.

Sentences are built offline from small word lists with a seeded generator, so the task needs no
dataset download. The model answers inside ``<reversed_text>`` tags; the reward is the
``difflib.SequenceMatcher`` ratio of its answer to the exact reversal.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from difflib import SequenceMatcher

from prime_rl.config import ConfigError
from prime_rl.envs.base import (
    Environment,
    Example,
    Message,
    RewardFunc,
    State,
    check_int,
    extract_tag,
    last_assistant,
)

TAG = "reversed_text"

SYSTEM_PROMPT = (
    "Reverse the text you are given character by character, keeping every space and punctuation "
    f"mark. Write only the reversed text inside <{TAG}> and </{TAG}> tags."
)

SUBJECTS = (
    "the old sailor",
    "a young fox",
    "my neighbour",
    "the tired baker",
    "our teacher",
    "a small robot",
    "the river",
    "her brother",
    "the quiet city",
    "a green parrot",
    "the night train",
    "his cousin",
    "the garden",
    "a lonely cloud",
    "the brave knight",
    "every student",
    "the red kite",
    "a curious cat",
)
VERBS = (
    "paints",
    "follows",
    "builds",
    "forgets",
    "carries",
    "watches",
    "finds",
    "remembers",
    "answers",
    "chases",
    "opens",
    "repairs",
    "visits",
    "hides",
    "counts",
    "sings about",
    "writes to",
    "waits for",
)
OBJECTS = (
    "a wooden boat",
    "the morning light",
    "seven lemons",
    "the last letter",
    "a broken clock",
    "the silver key",
    "two warm blankets",
    "an empty jar",
    "the mountain road",
    "a paper map",
    "the blue door",
    "three old coins",
    "a quiet song",
    "the winter market",
    "an open window",
)
ENDINGS = (
    "before dawn",
    "after lunch",
    "near the harbour",
    "in the rain",
    "every Sunday",
    "without a word",
    "under the bridge",
    "at the station",
    "by the lake",
    "all afternoon",
    "with great care",
    "again",
)


def reversal_reward(completion: str, answer: str) -> float:
    """SequenceMatcher ratio of the text inside the last ``<reversed_text>`` tag vs the answer.

    A completion without the tag scores 0: the format is part of the task.
    """
    parsed = extract_tag(completion, TAG)
    if parsed is None:
        return 0.0
    return SequenceMatcher(None, parsed, answer).ratio()


def make_sentence(rng: random.Random, clauses: int) -> str:
    """A sentence of ``clauses`` subject-verb-object clauses joined with commas and 'and'."""
    parts = []
    for _ in range(clauses):
        clause = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}"
        if rng.random() < 0.5:
            clause += f" {rng.choice(ENDINGS)}"
        parts.append(clause)
    text = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return text[0].upper() + text[1:] + "."


class ReverseTextEnv(Environment):
    name = "reverse-text"

    def __init__(self, num_examples: int = 1000, min_clauses: int = 1, max_clauses: int = 2) -> None:
        self.num_examples = check_int("num_examples", num_examples, 1)
        self.min_clauses = check_int("min_clauses", min_clauses, 1)
        self.max_clauses = check_int("max_clauses", max_clauses, 1)
        if self.min_clauses > self.max_clauses:
            raise ConfigError(
                f"environment argument min_clauses={min_clauses} must not exceed max_clauses={max_clauses}"
            )
        super().__init__(
            system_prompt=SYSTEM_PROMPT,
            max_turns=1,
            reward_funcs=[RewardFunc("reversal_similarity", self._reward, 1.0)],
        )

    def _reward(self, messages: Sequence[Message], state: State) -> float:
        return reversal_reward(last_assistant(messages), state["answer"])

    def examples(self, seed: int = 0) -> list[Example]:
        rng = random.Random(f"reverse-text:{seed}")
        out = []
        for i in range(self.num_examples):
            text = make_sentence(rng, rng.randint(self.min_clauses, self.max_clauses))
            out.append(Example(prompt=text, answer=text[::-1], info={"index": i}))
        return out
