"""RL environments behind one protocol: ``load_environment(id, **args)``.

Built-in ids map to modules imported only when their environment is loaded, so the orchestrator
pays for the one it uses. Any installed package can add an environment under the entry-point
group ``prime_rl.environments`` (name: the id, value: ``module:EnvironmentSubclass``); such ids
are found like built-in ones, which win on a clash.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
from typing import Any

from prime_rl.config import ConfigError
from prime_rl.envs.base import Environment, Example, Message, RewardFunc, State

__all__ = [
    "ENTRY_POINT_GROUP",
    "ENVIRONMENTS",
    "Environment",
    "Example",
    "Message",
    "RewardFunc",
    "State",
    "available_environments",
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


ENTRY_POINT_GROUP = "prime_rl.environments"


def _normalize(env_id: str) -> str:
    return env_id.strip().lower().replace("_", "-")


def _plugins() -> dict[str, importlib.metadata.EntryPoint]:
    """Environments registered by installed packages, by normalized id."""
    return {_normalize(ep.name): ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def available_environments() -> list[str]:
    """Every id ``load_environment`` accepts: built-in and installed."""
    return sorted({*ENVIRONMENTS, *_plugins()})


def _env_class(env_id: str) -> type[Environment]:
    key = _normalize(env_id)
    if key in ENVIRONMENTS:
        module_name, _, class_name = ENVIRONMENTS[key].partition(":")
        return getattr(importlib.import_module(module_name), class_name)
    plugins = _plugins()
    if key not in plugins:
        raise ConfigError(f"unknown environment '{env_id}'; available: {', '.join(available_environments())}")
    try:
        cls = plugins[key].load()
    except (ImportError, AttributeError) as e:
        raise ConfigError(
            f"environment '{env_id}': cannot load entry point '{plugins[key].value}' of group "
            f"{ENTRY_POINT_GROUP}: {e}"
        ) from None
    if not (isinstance(cls, type) and issubclass(cls, Environment)):
        raise ConfigError(
            f"environment '{env_id}': entry point '{plugins[key].value}' of group {ENTRY_POINT_GROUP} "
            f"must name a subclass of prime_rl.envs.Environment, got {cls!r}"
        )
    return cls


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
