"""Parity with the original environment definitions: completions and the reward the original gives.

Each expected value is worked out by hand from the original's rules (verifiers ``environments/``
reverse_text, wordle over textarena 0.7.4, alphabet_sort), not from our code.
"""

from __future__ import annotations

import pytest

from prime_rl.envs import load_environment
from prime_rl.envs.alphabet_sort import sort_reward
from prime_rl.envs.reverse_text import lcs_reward
from prime_rl.envs.wordle import replay_reward

# ---------------------------------------------------------------- reverse-text (answer "olleh")


@pytest.mark.parametrize(
    ("completion", "reward"),
    [
        ("<reversed_text>olleh</reversed_text>", 1.0),  # well-formed
        ("<reversed_text>\n olleh \n</reversed_text>", 1.0),  # content is stripped
        ("<think>hello backwards</think>\n<reversed_text>olleh</reversed_text>", 1.0),
        ("<reversed_text>olleh", 0.0),  # cut at the token limit: no closing tag, no answer
        ("olleh", 0.0),  # wrong format
        ("<reversed_text></reversed_text>", 0.0),
        (
            "<reversed_text>ollex</reversed_text> <reversed_text>olleh</reversed_text>",
            0.8,
        ),  # first tag: 2*4/10
        ("<reversed_text>oll</reversed_text>", 0.75),  # 2*3/(3+5)
    ],
)
def test_reverse_text_parity(completion: str, reward: float) -> None:
    assert lcs_reward(completion, "olleh") == pytest.approx(reward)


# ---------------------------------------------------------------- wordle (offline game 0: "order")

GUESSES_TO_A_LOSS = ["[crane]", "[slate]", "[pious]", "[light]", "[dumpy]", "[rodeo]"]


def test_wordle_game_zero_is_the_sample_secret() -> None:
    assert load_environment("wordle", num_examples=1).examples(0)[0].answer == "order"


@pytest.mark.parametrize(
    ("replies", "reward"),
    [
        (["[order]"], 1.0),  # won on the first guess
        (["<think>try it</think>\n<guess>[order]</guess>"], 1.0),  # the original SFT format
        (["order"], 1.0),  # a reply without brackets is bracketed whole by the engine
        (["[crane]", "[order]"], 1.0),
        (["[crane]", "no brackets in this reply", "[order]"], 1.0),  # one warned invalid move, then a win
        # crane vs order: r green, e yellow -> (1 + 0.5) / 5; two invalid moves in a row end the game
        (["[crane]", "no brackets here", "still none"], 0.3),
        (["[crane]", "[crane]", "[crane]"], 0.3),  # repeated guesses are invalid
        (["[zzzzz]", "[qqqqq]"], 0.0),  # not English words, no valid guess yet
        (["[cranes]", "[cranes]"], 0.0),  # wrong length
        (["<guess>order</guess>", "<guess>order</guess>"], 0.0),  # no bracketed token: wrong format
        (["[Thinking] then [order]", "[Thinking] then [order]"], 0.0),  # the first bracketed token counts
        (["Let me think about the first gue", "Let me think about"], 0.0),  # replies cut at the token limit
        # six valid guesses: the last one, rodeo vs order, has d and e green and r and o yellow
        (GUESSES_TO_A_LOSS, 0.6),
        (["[crane]"], 0.0),  # the game never ended (conversation cut): no game reward
    ],
)
def test_wordle_parity(replies: list[str], reward: float) -> None:
    assert replay_reward(replies, "Wordle-v0", 0) == pytest.approx(reward)


def test_wordle_only_valid_guesses_use_up_the_six() -> None:
    warned = [x for guess in GUESSES_TO_A_LOSS[:5] for x in (guess, "oops")] + ["[order]"]
    assert replay_reward(warned, "Wordle-v0", 0) == 1.0


# ---------------------------------------------------------------- alphabet-sort (by last name)

TRUTHS = [["BobYoung", "AlZed"], ["CyAdams // new name!", "BobYoung", "AlZed"]]
FIRST = "<alphabetical_sorted>\nBobYoung\nAlZed\n</alphabetical_sorted>"
SECOND = (
    "<combined_alphabetical_sorted>\nCyAdams // new name!\nBobYoung\nAlZed\n</combined_alphabetical_sorted>"
)
# "// new" instead of "// new name!": 29 of 29 + 35 characters match
SHORT_MARK = 2 * 29 / 64


@pytest.mark.parametrize(
    ("responses", "power", "per_turn", "reward"),
    [
        ([FIRST, SECOND], 4, True, 1.0),
        ([FIRST.lower(), SECOND.lower()], 4, True, 1.0),  # lowercase answers: case never counts
        ([FIRST.replace("\n", "\n  "), SECOND], 4, True, 1.0),  # spacing never counts
        ([FIRST, SECOND.replace("combined_", "")], 4, True, 0.5),  # later turns need the combined tag
        ([FIRST, SECOND.replace("</combined_alphabetical_sorted>", "")], 4, True, 0.5),  # unclosed tag
        ([FIRST], 4, True, 0.5),  # a turn never answered scores 0
        ([FIRST, SECOND.replace(" name!", "")], 4, True, (1 + SHORT_MARK**4) / 2),
        ([FIRST, SECOND.replace(" name!", "")], 4, False, ((1 + SHORT_MARK) / 2) ** 4),
        ([FIRST, SECOND.replace(" name!", "")], 8, False, ((1 + SHORT_MARK) / 2) ** 8),
        (["Bob Young\nAl Zed", SECOND], 4, True, 0.5),  # no tag
        # several tagged answers count only when each strictly improves on the one before
        ([FIRST, SECOND.replace(" name!", "") + SECOND], 4, True, 1.0),
        ([FIRST, SECOND + SECOND], 4, True, 0.5),
        ([FIRST, SECOND + SECOND.replace(" name!", "")], 4, True, 0.5),
    ],
)
def test_alphabet_sort_parity(responses: list[str], power: int, per_turn: bool, reward: float) -> None:
    assert sort_reward(responses, TRUTHS, power, per_turn) == pytest.approx(reward)
