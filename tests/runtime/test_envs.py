"""Environments: the episode protocol, the shipped offline samples, loading and argument errors."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from prime_rl.config import ConfigError
from prime_rl.envs import ENVIRONMENTS, Example, environment_args, load_environment
from prime_rl.envs.base import first_tag, tag_contents
from prime_rl.envs.fixed_answer import similarity_reward
from prime_rl.envs.reverse_text import offline_sample
from prime_rl.envs.wordle import latest_feedback


def assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Offline runs must never reach the network, not even to look for a newer word list."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("an environment touched the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    yield


# ---------------------------------------------------------------- tags


def test_tags_need_their_closing_tag_and_the_first_counts() -> None:
    assert first_tag("<a> x </a> then <a>y</a>", "a") == "x"
    assert first_tag("<a>cut off at the lim", "a") is None
    assert first_tag("no tags", "a") is None
    assert first_tag("<a></a>", "a") == ""
    assert tag_contents("<a>x</a><a>y</a><a>z", "a") == ["x", "y"]


# ---------------------------------------------------------------- reverse-text


def test_reverse_text_offline_sample_is_real_varied_text() -> None:
    texts = offline_sample("PrimeIntellect/Reverse-Text-RL")
    assert len(texts) >= 40
    assert len(set("".join(texts))) > 60  # letters of both cases, digits, punctuation
    assert not set(texts) & set(offline_sample("PrimeIntellect/Reverse-Text-SFT"))


def test_reverse_text_episode() -> None:
    env = load_environment("reverse-text", num_examples=5)
    examples = env.examples()
    assert len(examples) == 5
    assert all(e.answer == e.prompt[::-1] for e in examples)
    example = Example(prompt="abcd", answer="dcba")
    messages = env.initial_messages(example)
    assert messages == [
        {
            "role": "system",
            "content": "Reverse the text character-by-character. Put your answer in <reversed_text> tags.",
        },
        {"role": "user", "content": "abcd"},
    ]
    state = env.initial_state(example)
    messages.append(assistant("<reversed_text>dcbx</reversed_text>"))
    assert env.is_done(messages, state)
    assert env.score(messages, state) == {"reward": pytest.approx(0.75), "lcs": pytest.approx(0.75)}


def test_reverse_text_sft_dataset_is_disjoint_from_rl() -> None:
    rl = {e.prompt for e in load_environment("reverse-text").examples()}
    sft = load_environment("reverse-text", dataset_name="PrimeIntellect/Reverse-Text-SFT").examples()
    assert sft
    assert not rl & {e.prompt for e in sft}


# ---------------------------------------------------------------- fixed-answer


def test_fixed_answer_similarity() -> None:
    assert similarity_reward("  yes\n", "yes") == 1.0
    assert similarity_reward("yes!", "yes") == pytest.approx(6 / 7)
    assert similarity_reward("no", "yes") == 0.0


def test_fixed_answer_env() -> None:
    env = load_environment("fixed-answer", target="blue")
    examples = env.examples()
    assert len(examples) == 256
    messages = [*env.initial_messages(examples[0]), assistant("blue")]
    assert messages[0] == {"role": "user", "content": "Reply with exactly: blue"}
    assert env.score(messages, env.initial_state(examples[0]))["reward"] == 1.0


# ---------------------------------------------------------------- wordle


def test_wordle_latest_feedback() -> None:
    observation = "\n[GAME] rules\n[GAME] [crane]\n[GAME] You submitted [crane].\nFeedback:\n"
    observation += "C R A N E\nX G X X Y\nYou have 5"
    assert latest_feedback(observation) == "C R A N E\nX G X X Y\nYou have 5"
    assert (
        latest_feedback("[GAME] a\n[GAME] You attempted an invalid move.") == "You attempted an invalid move."
    )


def test_wordle_episode_on_the_engine() -> None:
    env = load_environment("wordle", num_examples=3)
    example = env.examples(0)[0]
    assert example.answer == "order"
    assert example.info == {"game": "Wordle-v0", "seed": 0}
    assert "You are Playing Wordle." in example.prompt
    state = env.initial_state(example)
    messages = env.initial_messages(example)
    assert messages[0]["role"] == "system"
    assert "square-bracketed" in messages[0]["content"]
    messages.append(assistant("Thinking... [crane]"))
    reply = env.env_response(messages, state)
    assert reply == [{"role": "user", "content": "C R A N E\nX G X X Y\nYou have 5 guesses left."}]
    assert not env.is_done(messages, state)
    messages += [*reply, assistant("[crane]")]
    warning = env.env_response(messages, state)[0]["content"]
    assert warning.startswith("You attempted an invalid move.")
    assert "already guessed 'crane'" in warning
    messages += [{"role": "user", "content": warning}, assistant("[order]")]
    assert env.env_response(messages, state) == []
    assert env.is_done(messages, state)
    assert env.score(messages, state) == {"reward": 1.0, "game_reward": 1.0}


def test_wordle_seeds_give_disjoint_games() -> None:
    env = load_environment("wordle", num_examples=4)
    assert [e.info["seed"] for e in env.examples(0)] == [0, 1, 2, 3]
    assert [e.info["seed"] for e in env.examples(1)] == [4, 5, 6, 7]
    assert env.examples(1) == env.examples(1)


# ---------------------------------------------------------------- alphabet-sort


def test_alphabet_sort_episode() -> None:
    env = load_environment("alphabet-sort", num_examples=4, min_turns=3, max_turns=3, max_names_per_turn=4)
    example = env.examples(0)[0]
    info = example.info
    assert info["num_turns"] == 3
    assert all(" " not in name.removesuffix(" // new name!") for t in info["ground_truths"] for name in t)
    assert all(name.endswith("// new name!") or "//" not in name for name in info["ground_truths"][1])
    messages = env.initial_messages(example)
    assert messages == [{"role": "user", "content": info["user_turns"][0]}]  # no system prompt
    assert "<alphabetical_sorted>" in messages[0]["content"]
    state = env.initial_state(example)
    for turn, truth in enumerate(info["ground_truths"]):
        tag = "alphabetical_sorted" if turn == 0 else "combined_alphabetical_sorted"
        messages.append(assistant(f"<{tag}>\n" + "\n".join(truth).lower() + f"\n</{tag}>"))
        reply = env.env_response(messages, state)
        assert reply == ([{"role": "user", "content": info["user_turns"][turn + 1]}] if turn < 2 else [])
        messages += reply
    assert env.is_done(messages, state)
    assert env.score(messages, state) == {"reward": 1.0, "alphabet_sort": 1.0}


def test_alphabet_sort_seeds_give_disjoint_episodes() -> None:
    env = load_environment("alphabet-sort", num_examples=5)
    first, second = env.examples(0), env.examples(1)
    assert first == env.examples(0)
    both = env.__class__(num_examples=10).examples(0)
    assert [e.info for e in both] == [e.info for e in first + second]


# ---------------------------------------------------------------- loading


def test_load_environment_accepts_aliases_and_kebab_args() -> None:
    env = load_environment("alphabet_sort", **{"max-turns": 2, "min_turns": 2})
    assert env.name == "alphabet-sort"
    assert env.max_turns == 2
    assert set(ENVIRONMENTS) == {"reverse-text", "wordle", "alphabet-sort", "fixed-answer"}
    assert environment_args("fixed-answer") == {"target": "yes", "num_examples": 256}
    assert environment_args("alphabet-sort")["power_per_turn"] is True  # the original's default


def test_fails_unknown_environment() -> None:
    with pytest.raises(
        ConfigError, match="unknown environment 'chess'; available: alphabet-sort, fixed-answer"
    ):
        load_environment("chess")


def test_fails_unknown_environment_argument() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown argument 'turns' for environment 'wordle'; allowed: game"
    ):
        load_environment("wordle", turns=3)


@pytest.mark.parametrize(
    ("env_id", "args", "message"),
    [
        ("wordle", {"game": "Chess-v0"}, "game='Chess-v0' must be one of: Wordle-v0"),
        ("wordle", {"num_examples": 0}, "num_examples=0 must be an integer >= 1"),
        ("reverse-text", {"dataset_name": ""}, "dataset_name='' must be a non-empty string"),
        ("reverse-text", {"dataset_name": "me/other"}, "dataset_name='me/other' has no offline sample"),
        ("alphabet-sort", {"min_turns": 4}, "min_turns=4 must not exceed max_turns=3"),
        ("alphabet-sort", {"min_names_per_turn": 6}, "min_names_per_turn=6 must not exceed"),
        ("alphabet-sort", {"similarity_power": 0}, "similarity_power=0 must be a number > 0"),
        ("alphabet-sort", {"power_per_turn": "yes"}, "power_per_turn='yes' must be true or false"),
        ("fixed-answer", {"target": " "}, "target=' ' must be a non-empty string"),
    ],
)
def test_fails_invalid_environment_arguments(env_id: str, args: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_environment(env_id, **args).examples()


def test_fails_when_no_author_list_is_long_enough() -> None:
    env = load_environment("alphabet-sort", min_turns=8, max_turns=8, min_names_per_turn=5)
    with pytest.raises(ConfigError, match="no author list has enough names"):
        env.examples()
