"""wordle: find a secret five-letter word in a few guesses, with per-letter feedback each turn.

Feedback per letter: G (right letter, right place), Y (in the word elsewhere), X (not in the word,
or all its copies are already accounted for). Rewards are pure functions of the assistant turns and
the secret, so a finished conversation can be rescored at any time.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

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
from prime_rl.envs.wordle_words import WORDS

WORD_LENGTH = 5

SYSTEM_PROMPT = (
    "You are playing Wordle. Find the secret five-letter English word. Each turn, think briefly, then "
    "write exactly one guess as <guess>word</guess>. After each guess you get one letter of feedback "
    "per position: G means the letter is right and in the right place, Y means the letter is in the "
    "word but elsewhere, X means the letter is not in the word (or not that many times)."
)


def parse_guess(text: str) -> str | None:
    """The lowercased word in the last ``<guess>`` tag, or None if absent or not five letters."""
    guess = extract_tag(text, "guess")
    if guess is None:
        return None
    guess = guess.strip().lower()
    if len(guess) != WORD_LENGTH or not guess.isascii() or not guess.isalpha():
        return None
    return guess


def feedback(guess: str, secret: str) -> str:
    """Per-letter G/Y/X feedback; repeated letters get Y only while unmatched copies remain."""
    marks = ["X"] * len(guess)
    unmatched: Counter[str] = Counter()
    for i, (g, s) in enumerate(zip(guess, secret, strict=True)):
        if g == s:
            marks[i] = "G"
        else:
            unmatched[s] += 1
    for i, g in enumerate(guess):
        if marks[i] != "G" and unmatched[g] > 0:
            marks[i] = "Y"
            unmatched[g] -= 1
    return "".join(marks)


def solved_turn(guesses: Sequence[str | None], secret: str) -> int | None:
    """The 1-based turn of the first correct guess, or None."""
    for turn, guess in enumerate(guesses, start=1):
        if guess == secret:
            return turn
    return None


def solved_reward(guesses: Sequence[str | None], secret: str) -> float:
    """1.0 when some guess is the secret."""
    return 1.0 if solved_turn(guesses, secret) is not None else 0.0


def partial_reward(guesses: Sequence[str | None], secret: str) -> float:
    """Unsolved games: 0.2 per green and 0.1 per yellow in the feedback to the last valid guess."""
    if solved_turn(guesses, secret) is not None:
        return 0.0
    valid = [g for g in guesses if g is not None]
    if not valid:
        return 0.0
    marks = feedback(valid[-1], secret)
    return 0.2 * marks.count("G") + 0.1 * marks.count("Y")


def turn_bonus(guesses: Sequence[str | None], secret: str, max_turns: int) -> float:
    """Solving on turn t of max_turns earns (max_turns - t + 1) / max_turns: 1.0 on the first turn."""
    turn = solved_turn(guesses, secret)
    if turn is None:
        return 0.0
    return (max_turns - turn + 1) / max_turns


def format_reward(completions: Sequence[str]) -> float:
    """The fraction of assistant turns that hold one well-formed five-letter guess."""
    if not completions:
        return 0.0
    return sum(parse_guess(c) is not None for c in completions) / len(completions)


class WordleEnv(Environment):
    name = "wordle"

    def __init__(self, max_turns: int = 6, num_examples: int | None = None) -> None:
        turns = check_int("max_turns", max_turns, 1)
        self.num_examples = None if num_examples is None else check_int("num_examples", num_examples, 1)
        super().__init__(
            system_prompt=SYSTEM_PROMPT,
            max_turns=turns,
            reward_funcs=[
                RewardFunc("solved", lambda m, s: solved_reward(self._guesses(m), s["answer"]), 1.0),
                RewardFunc("partial", lambda m, s: partial_reward(self._guesses(m), s["answer"]), 1.0),
                RewardFunc(
                    "turn_bonus", lambda m, s: turn_bonus(self._guesses(m), s["answer"], self.max_turns), 0.5
                ),
                RewardFunc("format", lambda m, s: format_reward(assistant_contents(m)), 0.2),
            ],
        )

    @staticmethod
    def _guesses(messages: Sequence[Message]) -> list[str | None]:
        return [parse_guess(c) for c in assistant_contents(messages)]

    def examples(self, seed: int = 0) -> list[Example]:
        words = list(WORDS)
        random.Random(f"wordle:{seed}").shuffle(words)
        if self.num_examples is not None:
            words = [words[i % len(words)] for i in range(self.num_examples)]
        prompt = (
            f"Guess the secret {WORD_LENGTH}-letter word. You have {self.max_turns} guesses. "
            "Write your first guess inside <guess></guess> tags."
        )
        return [Example(prompt=prompt, answer=word, info={"index": i}) for i, word in enumerate(words)]

    def initial_state(self, example: Example) -> State:
        return {**super().initial_state(example), "guesses": [], "feedback": []}

    def env_response(self, messages: Sequence[Message], state: State) -> list[Message]:
        guesses = self._guesses(messages)
        left = self.max_turns - len(guesses)
        guess = guesses[-1] if guesses else None
        if guess is None:
            text = f"Invalid guess: write one {WORD_LENGTH}-letter word inside <guess></guess> tags."
        else:
            marks = feedback(guess, state["answer"])
            state["guesses"].append(guess)
            state["feedback"].append(marks)
            text = f"{guess.upper()}\n{' '.join(marks)}"
        plural = "guess" if left == 1 else "guesses"
        return [{"role": "user", "content": f"{text}\nYou have {left} {plural} left."}]

    def is_done(self, messages: Sequence[Message], state: State) -> bool:
        guesses = self._guesses(messages)
        return solved_turn(guesses, state["answer"]) is not None or len(guesses) >= self.max_turns
