"""alphabet-sort: keep a growing list of names sorted over several turns.

Follows the original ``alphabet-sort`` environment of PrimeIntellect-ai/verifiers
(``environments/alphabet_sort``, package version 0.1.0). Episodes are drawn, with a fixed seed,
from the author lists of the hub dataset ``kalomaze/alphabetic-arxiv-authors-it1`` (spaces
removed: ``EnginDurgun``). There is no system prompt. The first turn asks for the names sorted by
FIRST or LAST name inside ``<alphabetical_sorted>``; later turns add names and ask for the whole
list inside ``<combined_alphabetical_sorted>``, new names marked ``// new name!``. Each turn's
score is the SequenceMatcher ratio of the lowercased, line-stripped answer to the truth; several
answers in one turn count only when each strictly improves on the one before. With
``HF_DATASETS_OFFLINE=1`` the author lists come from a sample of real arXiv author lists shipped
in ``data/alphabet_sort.json``.
"""

from __future__ import annotations

import difflib
import json
import random
from collections.abc import Iterator, Sequence
from itertools import islice, pairwise
from typing import Any

from prime_rl.config import ConfigError
from prime_rl.envs.base import (
    Environment,
    Example,
    Message,
    RewardFunc,
    State,
    assistant_contents,
    check_int,
    data_file,
    offline,
    tag_contents,
)

DATASET = "kalomaze/alphabetic-arxiv-authors-it1"
SEED = 1337420
FIRST_TAG = "alphabetical_sorted"
COMBINED_TAG = "combined_alphabetical_sorted"
NEW_MARK = "// new name!"


def name_part(name: str, by_first: bool) -> str:
    """The first-name part (up to the first capital after the start) or the rest, the sort key."""
    cut = next((i for i in range(1, len(name)) if name[i].isupper()), len(name))
    return name[:cut] if by_first else name[cut:]


def normalize(text: str) -> str:
    """Non-empty lines, stripped and lowercased, one per line: case and spacing never count."""
    return "\n".join(line.strip().lower() for line in text.split("\n") if line.strip())


def turn_score(response: str, truth: Sequence[str], turn: int, power: float, power_per_turn: bool) -> float:
    """One turn: the similarity of its tagged answer (raised to ``power`` when per turn).

    No closed tag scores 0; several tagged answers score the last only if each strictly improved.
    """
    tag = FIRST_TAG if turn == 0 else COMBINED_TAG
    expected = "\n".join(line.strip().lower() for line in truth)
    attempts = []
    for content in tag_contents(response, tag):
        predicted = normalize(content)
        sim = difflib.SequenceMatcher(None, predicted, expected).ratio() if predicted and expected else 0.0
        attempts.append(sim**power if power_per_turn else sim)
    if not attempts:
        return 0.0
    if len(attempts) == 1 or all(b > a for a, b in pairwise(attempts)):
        return attempts[-1]
    return 0.0


def sort_reward(
    responses: Sequence[str], truths: Sequence[Sequence[str]], power: float, power_per_turn: bool
) -> float:
    """Mean turn score (turns never answered count 0), the power taken per turn or once at the end."""
    if not truths:
        return 0.0
    scores = [
        turn_score(responses[t] if t < len(responses) else "", truths[t], t, power, power_per_turn)
        for t in range(len(truths))
    ]
    mean = sum(scores) / len(truths)
    return mean if power_per_turn else mean**power


def load_name_lists() -> list[list[str]]:
    """Author lists as the original loads them (the shipped sample when offline)."""
    if offline():
        return json.loads(data_file("alphabet_sort.json").read_text())["names"]
    from datasets import load_dataset

    return [list(row["names"]) for row in load_dataset(DATASET, split="train")]


def episodes(
    name_lists: Sequence[Sequence[str]], min_turns: int, max_turns: int, min_names: int, max_names: int
) -> Iterator[dict[str, Any]]:
    """The original's endless episode stream: the same seed, draws and prompts, in the same order."""
    rng = random.Random(SEED)
    while True:
        produced = False
        for entry in name_lists:
            names = list(dict.fromkeys(n.replace(" ", "") for n in entry))
            counts = [rng.randint(min_names, max_names) for _ in range(rng.randint(min_turns, max_turns))]
            if len(names) < sum(counts):
                continue
            by_first = rng.choice([True, False])
            label = "FIRST" if by_first else "LAST"
            turns: list[list[str]] = []
            cumulative: list[str] = []
            truths: list[list[str]] = []
            start = 0
            for count in counts:
                turn = names[start : start + count]
                start += count
                turns.append(turn)
                cumulative += turn
                ranked = sorted(cumulative, key=lambda s, f=by_first: name_part(s, f))
                truths.append(
                    ranked if len(turns) == 1 else [f"{x} {NEW_MARK}" if x in turn else x for x in ranked]
                )
            first = turns[0][:]
            rng.shuffle(first)
            shown = rng.randint(min_names, max_names)
            prompts = [
                f"Sort these names in alphabetical order by {label} name: {', '.join(first)}\n\n"
                f"Use exactly this format:\n<{FIRST_TAG}>\n"
                + "\n".join(f"Name{j}" for j in range(1, shown + 1))
                + f"\n</{FIRST_TAG}>"
            ]
            for t in range(1, len(turns)):
                shuffled = turns[t][:]
                rng.shuffle(shuffled)
                shown = rng.randint(min_names, sum(len(x) for x in turns[: t + 1]))
                threshold = rng.randint(0, shown - 1)
                prompt = (
                    f"Now sort ALL of these names alphabetically by {label} name: {', '.join(shuffled)}\n\n"
                    "These are in addition to the prior list. Mark any NEW names (that weren't in the prior "
                    f"list) with `{NEW_MARK}` at the end."
                )
                if t == 1:
                    prompt += (
                        f"\n\nUse exactly this format:\n<{COMBINED_TAG}>\n"
                        + "\n".join(
                            f"Name{j}" + (f" {NEW_MARK}" if j > threshold else "")
                            for j in range(1, shown + 1)
                        )
                        + f"\n</{COMBINED_TAG}>"
                    )
                else:
                    prompt += " Follow the same format as before."
                prompts.append(prompt)
            produced = True
            yield {"user_turns": prompts, "ground_truths": truths, "num_turns": len(turns)}
        if not produced:
            raise ConfigError(
                f"alphabet-sort: no author list has enough names for up to {max_turns} turns of up to "
                f"{max_names} names; lower max_turns or max_names_per_turn"
            )


class AlphabetSortEnv(Environment):
    name = "alphabet-sort"

    def __init__(
        self,
        num_examples: int = 1000,
        min_turns: int = 1,
        max_turns: int = 3,
        min_names_per_turn: int = 1,
        max_names_per_turn: int = 5,
        similarity_power: int = 4,
        power_per_turn: bool = True,
    ) -> None:
        self.num_examples = check_int("num_examples", num_examples, 1)
        self.min_turns = check_int("min_turns", min_turns, 1)
        turns = check_int("max_turns", max_turns, 1)
        self.min_names = check_int("min_names_per_turn", min_names_per_turn, 1)
        self.max_names = check_int("max_names_per_turn", max_names_per_turn, 1)
        if self.min_turns > turns:
            raise ConfigError(
                f"environment argument min_turns={min_turns} must not exceed max_turns={max_turns}"
            )
        if self.min_names > self.max_names:
            raise ConfigError(
                f"environment argument min_names_per_turn={min_names_per_turn} must not exceed "
                f"max_names_per_turn={max_names_per_turn}"
            )
        is_number = isinstance(similarity_power, int | float) and not isinstance(similarity_power, bool)
        if not is_number or similarity_power <= 0:
            raise ConfigError(
                f"environment argument similarity_power={similarity_power!r} must be a number > 0"
            )
        if not isinstance(power_per_turn, bool):
            raise ConfigError(f"environment argument power_per_turn={power_per_turn!r} must be true or false")
        self.similarity_power = similarity_power
        self.power_per_turn = power_per_turn
        super().__init__(
            system_prompt=None, max_turns=turns, reward_funcs=[RewardFunc("alphabet_sort", self._reward, 1.0)]
        )

    def _reward(self, messages: Sequence[Message], state: State) -> float:
        truths = state["info"]["ground_truths"]
        return sort_reward(assistant_contents(messages), truths, self.similarity_power, self.power_per_turn)

    def examples(self, seed: int = 0) -> list[Example]:
        """Episodes ``seed * num_examples`` onwards of the original's stream (seed 0: its first ones).

        Different seeds give disjoint episodes.
        """
        stream = episodes(load_name_lists(), self.min_turns, self.max_turns, self.min_names, self.max_names)
        start = seed * self.num_examples
        return [
            Example(prompt=info["user_turns"][0], answer="\n".join(info["ground_truths"][-1]), info=info)
            for info in islice(stream, start, start + self.num_examples)
        ]

    def env_response(self, messages: Sequence[Message], state: State) -> list[Message]:
        turn = len(assistant_contents(messages))
        prompts = state["info"]["user_turns"]
        return [{"role": "user", "content": prompts[turn]}] if turn < len(prompts) else []

    def is_done(self, messages: Sequence[Message], state: State) -> bool:
        return len(assistant_contents(messages)) >= state["info"]["num_turns"]
