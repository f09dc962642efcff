"""wordle: TextArena's own Wordle engine plays the user.

Follows the original ``wordle`` environment of PrimeIntellect-ai/verifiers (``environments/wordle``
0.1.0 over ``verifiers.v1.tasksets.textarena``, with ``textarena==0.7.4``): task ``i`` seeds
Python's RNG with ``i`` and resets a fresh ``Wordle-v0`` game, whose opening observation is the
prompt; every assistant reply goes to the engine unchanged, and the user turn that follows is the
engine's latest feedback. The rules are the library's: the first bracketed token is the guess (a
reply without brackets is bracketed whole), it must be a five-letter English word not guessed
before, the first invalid move draws a warning and a second one in a row ends the game, and six
valid guesses end it. The only reward is the game's: 1 for a win, otherwise the engine's
completion of the latest valid guess ((greens + yellows / 2) / 5), 0 when the game never ended.

In pods the engine loads its word lists through nltk as the original does (downloading the
``words`` corpus and the POS tagger). With ``HF_DATASETS_OFFLINE=1`` nltk reads the copy of its
Basic English word list shipped in ``data/nltk_data`` instead, downloads are refused, and
without the tagger every five-letter word of that list may be the secret.
"""

from __future__ import annotations

import copy
import functools
import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

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
)

GAMES = ("Wordle-v0", "Wordle-v0-hardcore", "Wordle-v0-long", "Wordle-v0-long-hardcore")
Game = Literal["Wordle-v0", "Wordle-v0-hardcore", "Wordle-v0-long", "Wordle-v0-long-hardcore"]

SYSTEM_PROMPT = (
    "You are a competitive game player. Read the game instructions carefully and always use the exact "
    "move format the game requires. Think step-by-step first, then give your move as the only "
    "square-bracketed token in your reply \N{EM DASH} the game reads the first bracketed token, so "
    "don't put other words in brackets."
)


def latest_feedback(observation: str) -> str:
    """The engine's newest message only (the observation repeats the whole game so far)."""
    latest = observation.split("[GAME]")[-1].strip()
    return latest.split("Feedback:")[-1].strip() if "Feedback:" in latest else latest


def _tag_all_as_nouns(tokens: Sequence[str], *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
    return [(token, "NN") for token in tokens]


def _refuse_download(*args: Any, **kwargs: Any) -> bool:
    return False


@contextmanager
def _offline_nltk() -> Iterator[None]:
    """nltk without the network while TextArena builds its game, restored afterwards."""
    import nltk

    saved = (list(nltk.data.path), nltk.download, nltk.pos_tag)
    nltk.data.path.insert(0, str(data_file("nltk_data")))
    nltk.download = _refuse_download
    nltk.pos_tag = _tag_all_as_nouns
    try:
        import textarena.envs.Wordle.env as engine_module

        engine_module.pos_tag = _tag_all_as_nouns
        yield
    finally:
        nltk.data.path[:], nltk.download, nltk.pos_tag = saved
        engine_module.pos_tag = saved[2]


@functools.cache
def template_game(game: str) -> Any:
    """One built game per id: building loads the dictionaries, which takes about a second."""
    import textarena as ta

    if offline():
        with _offline_nltk():
            return ta.make(env_id=game)
    import nltk

    nltk.download("words", quiet=True)
    nltk.download("averaged_perceptron_tagger_eng", quiet=True)
    return ta.make(env_id=game)


def new_game(game: str, seed: int) -> Any:
    """A freshly reset game, as ``random.seed(seed)`` + ``ta.make`` + ``reset`` gives in the original.

    The copy shares the template's read-only word lists; the caller's global RNG state is kept.
    """
    import textarena as ta

    template = template_game(game)
    core = template
    while isinstance(core, ta.Wrapper):
        core = core.env
    shared = {id(core.word_list): core.word_list, id(core.dictionary): core.dictionary}
    fresh = copy.deepcopy(template, shared)
    saved = random.getstate()
    random.seed(seed)
    try:
        fresh.reset(num_players=1)
    finally:
        random.setstate(saved)
    return fresh


def play(game: Any, reply: str) -> str | None:
    """Steps the game with one assistant reply; the next user turn, or None once the game is over."""
    game.step(reply)
    if game.state.done:
        return None
    _, observation = game.get_observation()
    return latest_feedback(str(observation))


def game_reward(game: Any) -> float:
    """The engine's reward for player 0 of a finished game; 0 for a game that never ended."""
    if not game.state.done:
        return 0.0
    return float((game.state.rewards or {}).get(0, 0.0))


def replay_reward(replies: Sequence[str], game: str, seed: int) -> float:
    """The reward of a whole episode, replayed on a fresh game: a pure function of the replies."""
    engine = new_game(game, seed)
    for reply in replies:
        if play(engine, reply) is None:
            break
    return game_reward(engine)


class WordleEnv(Environment):
    name = "wordle"

    def __init__(self, game: Game = "Wordle-v0", num_examples: int = 1000) -> None:
        if game not in GAMES:
            raise ConfigError(f"environment argument game={game!r} must be one of: {', '.join(GAMES)}")
        self.game = game
        self.num_examples = check_int("num_examples", num_examples, 1)
        # The engine ends every game within 12 replies: one warned invalid move before each of 6 guesses.
        super().__init__(
            system_prompt=SYSTEM_PROMPT, max_turns=12, reward_funcs=[RewardFunc("game_reward", self._reward)]
        )

    def _reward(self, messages: Sequence[Message], state: State) -> float:
        return replay_reward(assistant_contents(messages), self.game, state["info"]["seed"])

    def examples(self, seed: int = 0) -> list[Example]:
        """Games ``seed * num_examples`` onwards: seed 0 gives the original's tasks 0, 1, 2, ...

        Different seeds give disjoint games (an SFT warm-up never sees the RL games).
        """
        out = []
        for i in range(self.num_examples):
            game_seed = seed * self.num_examples + i
            engine = new_game(self.game, game_seed)
            prompt = str(engine.get_observation()[1])
            secret = engine.state.game_state["secret_word"]
            out.append(Example(prompt=prompt, answer=secret, info={"game": self.game, "seed": game_seed}))
        return out

    def initial_state(self, example: Example) -> State:
        return {**super().initial_state(example), "game": new_game(self.game, example.info["seed"])}

    def env_response(self, messages: Sequence[Message], state: State) -> list[Message]:
        feedback = play(state["game"], assistant_contents(messages)[-1])
        return [] if feedback is None else [{"role": "user", "content": feedback}]

    def is_done(self, messages: Sequence[Message], state: State) -> bool:
        return bool(state["game"].state.done)
