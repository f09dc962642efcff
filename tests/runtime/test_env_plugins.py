"""Environments users bring: a package installed from a temporary directory registers one."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from prime_rl.config import ConfigError
from prime_rl.envs import ENTRY_POINT_GROUP, available_environments, environment_args, load_environment

PACKAGE = """
from prime_rl.envs import Environment, Example, RewardFunc


class EchoEnv(Environment):
    name = "echo"

    def __init__(self, word: str = "ping") -> None:
        self.word = word
        reward = RewardFunc("exact", lambda msgs, state: float(msgs[-1]["content"] == state["answer"]))
        super().__init__(system_prompt=None, max_turns=1, reward_funcs=[reward])

    def examples(self, seed: int = 0) -> list[Example]:
        return [Example(prompt=f"Say {self.word}", answer=self.word)]


class NotAnEnvironment:
    pass
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pip installs a one-module project (no index, no network) into a target directory."""
    project = tmp_path_factory.mktemp("project")
    (project / "echo_env.py").write_text(PACKAGE)
    (project / "pyproject.toml").write_text(
        textwrap.dedent(f"""
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "echo-env"
        version = "0.1.0"

        [tool.setuptools]
        py-modules = ["echo_env"]

        [project.entry-points."{ENTRY_POINT_GROUP}"]
        echo = "echo_env:EchoEnv"
        broken = "echo_env:NotAnEnvironment"
        """)
    )
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            "--target",
            str(target),
            str(project),
        ],
        check=True,
    )
    return target


@pytest.fixture
def on_path(installed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(installed))
    importlib.invalidate_caches()


@pytest.mark.usefixtures("on_path")
def test_an_installed_environment_loads_like_a_built_in_one() -> None:
    assert {"echo", "reverse-text"} <= set(available_environments())
    assert environment_args("echo") == {"word": "ping"}
    env = load_environment("echo", word="pong")
    example = env.examples()[0]
    messages = [*env.initial_messages(example), {"role": "assistant", "content": "pong"}]
    assert messages[0] == {"role": "user", "content": "Say pong"}
    assert env.score(messages, env.initial_state(example)) == {"reward": 1.0, "exact": 1.0}


@pytest.mark.usefixtures("on_path")
def test_an_entry_point_must_name_an_environment_class() -> None:
    with pytest.raises(
        ConfigError, match=r"entry point .echo_env:NotAnEnvironment. of group prime_rl\.environments"
    ):
        load_environment("broken")


def test_without_the_package_the_id_is_unknown() -> None:
    with pytest.raises(ConfigError, match="unknown environment 'echo'"):
        load_environment("echo")
