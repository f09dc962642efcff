"""Offline RL environments behind one protocol: ``load_environment(id, **args)``.

Modules are imported only when their environment is loaded, so the orchestrator pays for the one
it uses.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from prime_rl.config import ConfigError
from prime_rl.envs.base import Environment, Example, Message, RewardFunc, State

__all__ = [
    "ENVIRONMENTS",
    "Environment",
    "Example",
    "Message",
    "RewardFunc",
    "State",
    "environment_args",
    "load_environment",
]

# id -> "module:Class"
ENVIRONMENTS: dict[str, str] = {
    "reverse-text": "prime_rl.envs.reverse_text:ReverseTextEnv",
    "wordle": "prime_rl.envs.wordle:WordleEnv",
    "alphabet-sort": "prime_rl.envs.alphabet_sort:AlphabetSortEnv",
    "fixed-answer": "prime_rl.envs.fixed_answer:FixedAnswerEnv",
}


def _env_class(env_id: str) -> type[Environment]:
    key = env_id.strip().lower().replace("_", "-")
    if key not in ENVIRONMENTS:
        raise ConfigError(f"unknown environment '{env_id}'; available: {', '.join(sorted(ENVIRONMENTS))}")
    module_name, _, class_name = ENVIRONMENTS[key].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def environment_args(env_id: str) -> dict[str, Any]:
    """The arguments an environment accepts, with their defaults."""
    params = inspect.signature(_env_class(env_id).__init__).parameters
    return {name: p.default for name, p in params.items() if name != "self"}


def load_environment(env_id: str, **args: Any) -> Environment:
    """Builds environment ``env_id``; unknown ids, unknown or invalid arguments raise ConfigError.

    Argument names may be given in kebab-case as in TOML files.
    """
    cls = _env_class(env_id)
    allowed = environment_args(env_id)
    normalized: dict[str, Any] = {}
    for name, value in args.items():
        key = name.replace("-", "_")
        if key not in allowed:
            raise ConfigError(
                f"unknown argument '{name}' for environment '{env_id}'; allowed: {', '.join(sorted(allowed))}"
            )
        normalized[key] = value
    return cls(**normalized)
