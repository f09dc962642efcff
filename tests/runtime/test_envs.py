"""Environments: pure rewards on fixed strings (hand-computed values) and the episode protocol."""

from __future__ import annotations

import pytest

from prime_rl.config import ConfigError
from prime_rl.envs import ENVIRONMENTS, Example, environment_args, load_environment
from prime_rl.envs.alphabet_sort import normalize_answer, sort_reward, turn_similarity, turn_truth
from prime_rl.envs.base import extract_tag
from prime_rl.envs.fixed_answer import similarity_reward
from prime_rl.envs.reverse_text import reversal_reward
from prime_rl.envs.wordle import (
    feedback,
    format_reward,
    parse_guess,
    partial_reward,
    solved_reward,
    turn_bonus,
)
from prime_rl.envs.wordle_words import WORDS


def assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


# ---------------------------------------------------------------- tags


def test_extract_tag_takes_last_and_tolerates_missing_close() -> None:
    assert extract_tag("<a>x</a> then <a> y </a>", "a") == "y"
    assert extract_tag("<a>cut off at the lim", "a") == "cut off at the lim"
    assert extract_tag("no tags", "a") is None
    assert extract_tag("<a></a>", "a") == ""


# ---------------------------------------------------------------- reverse-text


def test_reversal_reward_exact() -> None:
    assert reversal_reward("<reversed_text>olleh</reversed_text>", "olleh") == 1.0
    assert reversal_reward("<reversed_text>\n olleh \n</reversed_text>", "olleh") == 1.0


def test_reversal_reward_partial() -> None:
    # 4 of 5 characters match in order: 2 * 4 / (5 + 5)
    assert reversal_reward("<reversed_text>ollex</reversed_text>", "olleh") == pytest.approx(0.8)


def test_reversal_reward_needs_the_tag() -> None:
    assert reversal_reward("olleh", "olleh") == 0.0
    assert reversal_reward("<reversed_text>olleh", "olleh") == 1.0


def test_reverse_text_examples_are_reversals_and_deterministic() -> None:
    env = load_environment("reverse-text", num_examples=20, min_clauses=1, max_clauses=1)
    examples = env.examples(seed=3)
    assert len(examples) == 20
    assert all(e.answer == e.prompt[::-1] for e in examples)
    assert examples == env.examples(seed=3)
    assert examples != env.examples(seed=4)
    longer = load_environment("reverse-text", num_examples=20, min_clauses=3, max_clauses=3).examples(seed=3)
    assert min(len(e.prompt) for e in longer) > max(len(e.prompt) for e in examples) / 2


def test_reverse_text_score() -> None:
    env = load_environment("reverse-text")
    example = Example(prompt="abcd", answer="dcba")
    messages = env.initial_messages(example)
    assert messages[0]["role"] == "system"
    assert "<reversed_text>" in messages[0]["content"]
    assert messages[1] == {"role": "user", "content": "abcd"}
    state = env.initial_state(example)
    assert not env.is_done(messages, state)
    messages.append(assistant("<reversed_text>dcbx</reversed_text>"))
    assert env.is_done(messages, state)
    assert env.score(messages, state) == {
        "reward": pytest.approx(0.75),
        "reversal_similarity": pytest.approx(0.75),
    }


# ---------------------------------------------------------------- fixed-answer


def test_fixed_answer_similarity() -> None:
    assert similarity_reward("  yes\n", "yes") == 1.0
    assert similarity_reward("yes!", "yes") == pytest.approx(6 / 7)
    assert similarity_reward("ye", "yes") == pytest.approx(0.8)
    assert similarity_reward("no", "yes") == 0.0


def test_fixed_answer_env() -> None:
    env = load_environment("fixed-answer", target="blue")
    examples = env.examples()
    assert len(examples) == 256
    assert env.system_prompt is None
    assert env.max_turns == 1
    messages = [*env.initial_messages(examples[0]), assistant("blue")]
    assert messages[0] == {"role": "user", "content": "Reply with exactly: blue"}
    assert env.score(messages, env.initial_state(examples[0]))["reward"] == 1.0


# ---------------------------------------------------------------- wordle


@pytest.mark.parametrize(
    ("guess", "secret", "expected"),
    [
        ("crane", "crane", "GGGGG"),
        ("slate", "crane", "XXGXG"),
        ("paper", "apple", "YYGYX"),  # one p green, the other p yellow (apple has two)
        ("eerie", "there", "YXYXG"),  # three e's in the guess, two in the secret
        ("speed", "abide", "XXYXY"),  # the second e finds no unmatched e left
        ("llama", "hello", "YYXXX"),
    ],
)
def test_wordle_feedback(guess: str, secret: str, expected: str) -> None:
    assert feedback(guess, secret) == expected


def test_wordle_parse_guess() -> None:
    assert parse_guess("I think <guess> CRANE </guess>") == "crane"
    assert parse_guess("<guess>slate</guess> no, <guess>crane</guess>") == "crane"
    assert parse_guess("<guess>cranes</guess>") is None
    assert parse_guess("<guess>cr4ne</guess>") is None
    assert parse_guess("crane") is None


def test_wordle_rewards_solved_on_turn_two() -> None:
    guesses = ["slate", "crane"]
    assert solved_reward(guesses, "crane") == 1.0
    assert partial_reward(guesses, "crane") == 0.0
    assert turn_bonus(guesses, "crane", 6) == pytest.approx(5 / 6)
    assert turn_bonus(["crane"], "crane", 6) == 1.0


def test_wordle_rewards_unsolved() -> None:
    # react vs crane: YYGYX -> 1 green, 3 yellows
    assert partial_reward(["slate", "react"], "crane") == pytest.approx(0.2 + 0.3)
    # an invalid last turn falls back to the last valid guess: cramp vs crane = GGGXX
    assert partial_reward(["cramp", None], "crane") == pytest.approx(0.6)
    assert partial_reward([None, None], "crane") == 0.0
    assert solved_reward(["react"], "crane") == 0.0
    assert turn_bonus(["react"], "crane", 6) == 0.0


def test_wordle_format_reward() -> None:
    assert format_reward(["<guess>slate</guess>", "crane", "<guess>cramp</guess>"]) == pytest.approx(2 / 3)
    assert format_reward([]) == 0.0


def test_wordle_episode() -> None:
    env = load_environment("wordle")
    assert env.max_turns == 6
    example = Example(prompt="Guess the secret word.", answer="crane")
    state = env.initial_state(example)
    messages = env.initial_messages(example)
    assert messages[0]["role"] == "system"
    messages.append(assistant("<guess>slate</guess>"))
    assert not env.is_done(messages, state)
    reply = env.env_response(messages, state)
    assert reply == [{"role": "user", "content": "SLATE\nX X G X G\nYou have 5 guesses left."}]
    messages += reply
    messages.append(assistant("hmm"))
    assert env.env_response(messages, state)[0]["content"].startswith("Invalid guess")
    messages.append(assistant("<guess>crane</guess>"))
    assert env.is_done(messages, state)
    assert state["feedback"] == ["XXGXG"]
    scores = env.score(messages, state)
    # solved 1.0 + turn bonus 0.5 * (6 - 3 + 1) / 6 + format 0.2 * 2 / 3
    assert scores["solved"] == 1.0
    assert scores["partial"] == 0.0
    assert scores["turn_bonus"] == pytest.approx(4 / 6)
    assert scores["format"] == pytest.approx(2 / 3)
    assert scores["reward"] == pytest.approx(1.0 + 0.5 * 4 / 6 + 0.2 * 2 / 3)


def test_wordle_ends_after_max_turns() -> None:
    env = load_environment("wordle", max_turns=2)
    example = env.examples(seed=0)[0]
    state = env.initial_state(example)
    messages = [*env.initial_messages(example), assistant("<guess>zzzzz</guess>")]
    assert not env.is_done(messages, state)
    assert env.env_response(messages, state)[0]["content"].endswith("You have 1 guess left.")
    messages.append(assistant("<guess>qqqqq</guess>"))
    assert env.is_done(messages, state)


def test_wordle_word_list() -> None:
    assert len(WORDS) >= 300
    assert len(set(WORDS)) == len(WORDS)
    assert all(len(w) == 5 and w.isalpha() and w.islower() for w in WORDS)
    env = load_environment("wordle")
    assert sorted(e.answer for e in env.examples(seed=1)) == sorted(WORDS)
    assert env.examples(seed=1) == env.examples(seed=1)
    assert len(load_environment("wordle", num_examples=10).examples()) == 10


# ---------------------------------------------------------------- alphabet-sort

TURNS = [["Bob Young", "Al Zed"], ["Cy Adams"]]


def test_alphabet_truth() -> None:
    assert turn_truth(TURNS, 0, "last") == "Bob Young\nAl Zed"
    assert turn_truth(TURNS, 0, "first") == "Al Zed\nBob Young"
    assert turn_truth(TURNS, 1, "last") == "Cy Adams // new\nBob Young\nAl Zed"
    assert turn_truth(TURNS, 1, "first") == "Al Zed\nBob Young\nCy Adams // new"


def test_alphabet_normalize() -> None:
    assert (
        normalize_answer("  Cy Adams   //NEW \n\n Bob Young\nAl  Zed ")
        == "Cy Adams // new\nBob Young\nAl Zed"
    )


def test_alphabet_similarity() -> None:
    truth = "Cy Adams // new\nBob Young\nAl Zed"
    assert turn_similarity(f"<alphabetical_sorted>\n{truth}\n</alphabetical_sorted>", truth) == 1.0
    # mark left out: 25 of 25 + 32 characters match -> 2 * 25 / 57
    unmarked = "<alphabetical_sorted>Cy Adams\nBob Young\nAl Zed</alphabetical_sorted>"
    assert turn_similarity(unmarked, truth) == pytest.approx(50 / 57)
    assert turn_similarity(truth, truth) == 0.0


def test_alphabet_sort_reward() -> None:
    first = "<alphabetical_sorted>Bob Young\nAl Zed</alphabetical_sorted>"
    unmarked = "<alphabetical_sorted>Cy Adams\nBob Young\nAl Zed</alphabetical_sorted>"
    s = 50 / 57
    assert sort_reward([first], TURNS, "last", 4.0, True) == pytest.approx(0.5)
    assert sort_reward([first], TURNS, "last", 4.0, False) == pytest.approx(0.0625)
    assert sort_reward([first, unmarked], TURNS, "last", 2.0, True) == pytest.approx((1 + s**2) / 2)
    assert sort_reward([first, unmarked], TURNS, "last", 2.0, False) == pytest.approx(((1 + s) / 2) ** 2)


def test_alphabet_sort_episode() -> None:
    env = load_environment(
        "alphabet-sort", min_turns=2, max_turns=2, min_names_per_turn=2, max_names_per_turn=3
    )
    example = env.examples(seed=5)[0]
    turns = example.info["turns"]
    assert len(turns) == 2
    assert all(2 <= len(t) <= 3 for t in turns)
    names = [n for t in turns for n in t]
    assert len({n.split()[0] for n in names}) == len(names)
    assert len({n.split()[1] for n in names}) == len(names)
    state = env.initial_state(example)
    messages = env.initial_messages(example)
    assert all(n in messages[-1]["content"] for n in turns[0])
    messages.append(
        assistant(
            f"<alphabetical_sorted>{turn_truth(turns, 0, example.info['sort_by'])}</alphabetical_sorted>"
        )
    )
    assert not env.is_done(messages, state)
    reply = env.env_response(messages, state)
    assert all(n in reply[0]["content"] for n in turns[1])
    assert "// new" in reply[0]["content"]
    messages += reply
    messages.append(assistant(f"<alphabetical_sorted>{example.answer}</alphabetical_sorted>"))
    assert env.is_done(messages, state)
    assert env.score(messages, state) == {"reward": 1.0, "sort_similarity": 1.0}


def test_alphabet_examples_deterministic() -> None:
    env = load_environment("alphabet-sort", num_examples=50)
    assert env.examples(seed=2) == env.examples(seed=2)
    assert env.examples(seed=2) != env.examples(seed=3)
    assert {e.info["sort_by"] for e in env.examples(seed=2)} == {"first", "last"}
    assert {len(e.info["turns"]) for e in env.examples(seed=2)} == {1, 2, 3}


# ---------------------------------------------------------------- loading


def test_load_environment_accepts_aliases_and_kebab_args() -> None:
    env = load_environment("alphabet_sort", **{"max-turns": 2, "min_turns": 2})
    assert env.name == "alphabet-sort"
    assert env.max_turns == 2
    assert set(ENVIRONMENTS) == {"reverse-text", "wordle", "alphabet-sort", "fixed-answer"}
    assert environment_args("fixed-answer") == {"target": "yes", "num_examples": 256}


def test_fails_unknown_environment() -> None:
    with pytest.raises(
        ConfigError, match="unknown environment 'chess'; available: alphabet-sort, fixed-answer"
    ):
        load_environment("chess")


def test_fails_unknown_environment_argument() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown argument 'turns' for environment 'wordle'; allowed: max_turns"
    ):
        load_environment("wordle", turns=3)


@pytest.mark.parametrize(
    ("env_id", "args", "message"),
    [
        ("wordle", {"max_turns": 0}, "max_turns=0 must be an integer >= 1"),
        ("wordle", {"max_turns": "6"}, "max_turns='6' must be an integer >= 1"),
        ("reverse-text", {"min_clauses": 3, "max_clauses": 2}, "min_clauses=3 must not exceed max_clauses=2"),
        ("alphabet-sort", {"min_turns": 4}, "min_turns=4 must not exceed max_turns=3"),
        ("alphabet-sort", {"min_names_per_turn": 6}, "min_names_per_turn=6 must not exceed"),
        ("alphabet-sort", {"max_turns": 20, "max_names_per_turn": 5}, "distinct names available"),
        ("alphabet-sort", {"similarity_power": 0}, "similarity_power=0 must be a number > 0"),
        ("alphabet-sort", {"power_per_turn": "yes"}, "power_per_turn='yes' must be true or false"),
        ("fixed-answer", {"target": " "}, "target=' ' must be a non-empty string"),
    ],
)
def test_fails_invalid_environment_arguments(env_id: str, args: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_environment(env_id, **args)
