"""alphabet-sort: keep a growing list of names sorted over several turns.

Each turn brings new names; the model answers with every name so far, sorted by first or last
name, inside ``<alphabetical_sorted>`` tags, marking the names new this turn with ``// new``
(from the second turn on). Names are drawn offline from the lists below with a seeded generator.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from difflib import SequenceMatcher
from typing import Literal

from prime_rl.config import ConfigError
from prime_rl.envs.base import (
    Environment,
    Example,
    Message,
    RewardFunc,
    State,
    assistant_contents,
    check_int,
    extract_tag,
)

TAG = "alphabetical_sorted"
NEW_MARK = "// new"

_FIRST_TEXT = """
    Ada Alan Alice Amara Anton Beatrix Bruno Carla Cedric Clara Dalia Damien Edith Elias Emil Esther
    Farah Felix Flora Gideon Greta Hamid Hazel Helga Ines Ivan Jonas Judith Kaito Karin Leon Lidia
    Lukas Mabel Marco Mina Nadia Nico Olga Oscar Paloma Pavel Quentin Rania Rosa Rufus Selma Soren
    Tamar Tobias Ulla Uriel Vera Viktor Wanda Wendel Xenia Yara Yusuf Zelda Zoran
    """
_LAST_TEXT = """
    Abbott Alvarez Andersen Baker Barros Becker Bianchi Castillo Chen Costa Dalton Dimitrov Duarte
    Eriksen Espinoza Fischer Fontaine Garcia Grant Haddad Hansen Horvat Ibsen Ikeda Jansen Jovanovic
    Kaplan Keller Kowalski Larsen Lindqvist Moreau Nakamura Novak Okafor Olsen Ortega Park Petrov
    Quinn Rahman Reyes Rossi Sato Schmidt Silva Takahashi Tanaka Ulrich Varga Vidal Weber Wilson
    Xu Yamamoto Yilmaz Zhang Zimmermann
    """

FIRST_NAMES: tuple[str, ...] = tuple(_FIRST_TEXT.split())
LAST_NAMES: tuple[str, ...] = tuple(_LAST_TEXT.split())

SortBy = Literal["first", "last"]


def sort_names(names: Sequence[str], sort_by: SortBy) -> list[str]:
    """Names ('First Last') sorted by the chosen part, ties broken by the other part."""

    def key(name: str) -> tuple[str, str]:
        first, last = name.split(" ", 1)
        return (last, first) if sort_by == "last" else (first, last)

    return sorted(names, key=key)


def turn_truth(turns: Sequence[Sequence[str]], turn: int, sort_by: SortBy) -> str:
    """The expected answer after ``turn`` (0-based): all names so far, sorted, new ones marked."""
    names = [n for t in turns[: turn + 1] for n in t]
    new = set(turns[turn]) if turn > 0 else set()
    return "\n".join(f"{n} {NEW_MARK}" if n in new else n for n in sort_names(names, sort_by))


def normalize_answer(text: str) -> str:
    """One name per line, surrounding spaces dropped, the new-name mark written one way."""
    lines = []
    for line in text.splitlines():
        line = re.sub(r"\s*//\s*new\b", f" {NEW_MARK}", " ".join(line.split()), flags=re.IGNORECASE)
        if line:
            lines.append(line)
    return "\n".join(lines)


def turn_similarity(completion: str, truth: str) -> float:
    """SequenceMatcher ratio of the tagged, normalised answer vs the truth (0 without the tag)."""
    parsed = extract_tag(completion, TAG)
    if parsed is None:
        return 0.0
    return SequenceMatcher(None, normalize_answer(parsed), truth).ratio()


def sort_reward(
    completions: Sequence[str],
    turns: Sequence[Sequence[str]],
    sort_by: SortBy,
    similarity_power: float,
    power_per_turn: bool,
) -> float:
    """Mean per-turn similarity, raised to ``similarity_power`` per turn or once for the mean.

    Turns the model never answered count as 0.
    """
    sims = [
        turn_similarity(completions[t], turn_truth(turns, t, sort_by)) if t < len(completions) else 0.0
        for t in range(len(turns))
    ]
    if power_per_turn:
        return sum(s**similarity_power for s in sims) / len(sims)
    return (sum(sims) / len(sims)) ** similarity_power


class AlphabetSortEnv(Environment):
    name = "alphabet-sort"

    def __init__(
        self,
        num_examples: int = 1000,
        min_turns: int = 1,
        max_turns: int = 3,
        min_names_per_turn: int = 1,
        max_names_per_turn: int = 5,
        similarity_power: float = 4.0,
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
        capacity = min(len(FIRST_NAMES), len(LAST_NAMES))
        if turns * self.max_names > capacity:
            raise ConfigError(
                f"environment arguments max_turns={max_turns} x max_names_per_turn={max_names_per_turn} "
                f"need more than the {capacity} distinct names available"
            )
        is_number = isinstance(similarity_power, int | float) and not isinstance(similarity_power, bool)
        if not is_number or similarity_power <= 0:
            raise ConfigError(
                f"environment argument similarity_power={similarity_power!r} must be a number > 0"
            )
        if not isinstance(power_per_turn, bool):
            raise ConfigError(f"environment argument power_per_turn={power_per_turn!r} must be true or false")
        self.similarity_power = float(similarity_power)
        self.power_per_turn = power_per_turn
        super().__init__(
            system_prompt=(
                "You sort names alphabetically. Always answer with the complete sorted list, one name per "
                f"line, inside <{TAG}> and </{TAG}> tags."
            ),
            max_turns=turns,
            reward_funcs=[RewardFunc("sort_similarity", self._reward, 1.0)],
        )

    def _reward(self, messages: Sequence[Message], state: State) -> float:
        info = state["info"]
        completions = assistant_contents(messages)
        power = self.similarity_power
        return sort_reward(completions, info["turns"], info["sort_by"], power, self.power_per_turn)

    def examples(self, seed: int = 0) -> list[Example]:
        rng = random.Random(f"alphabet-sort:{seed}")
        out = []
        for _ in range(self.num_examples):
            sort_by: SortBy = rng.choice(("first", "last"))
            num_turns = rng.randint(self.min_turns, self.max_turns)
            sizes = [rng.randint(self.min_names, self.max_names) for _ in range(num_turns)]
            # distinct first and last names, so the order never depends on a tie-break
            firsts = rng.sample(FIRST_NAMES, sum(sizes))
            lasts = rng.sample(LAST_NAMES, sum(sizes))
            people = [f"{f} {last}" for f, last in zip(firsts, lasts, strict=True)]
            turns = [people[sum(sizes[:k]) : sum(sizes[: k + 1])] for k in range(num_turns)]
            prompt = (
                f"Sort these names alphabetically by {sort_by} name and write them one per line inside "
                f"<{TAG}> tags:\n" + "\n".join(turns[0])
            )
            answer = turn_truth(turns, num_turns - 1, sort_by)
            out.append(Example(prompt=prompt, answer=answer, info={"sort_by": sort_by, "turns": turns}))
        return out

    def initial_state(self, example: Example) -> State:
        return {**super().initial_state(example), "num_turns": len(example.info["turns"])}

    def env_response(self, messages: Sequence[Message], state: State) -> list[Message]:
        turn = len(assistant_contents(messages))
        turns = state["info"]["turns"]
        if turn >= len(turns):
            return []
        text = (
            "Here are more names:\n" + "\n".join(turns[turn]) + "\n"
            f"Sort all the names so far together by {state['info']['sort_by']} name, inside <{TAG}> tags, "
            f"and mark each name that is new in this message by ending its line with '{NEW_MARK}'."
        )
        return [{"role": "user", "content": text}]

    def is_done(self, messages: Sequence[Message], state: State) -> bool:
        return len(assistant_contents(messages)) >= state["num_turns"]
