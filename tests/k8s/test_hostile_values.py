"""Hostile values the CLI must survive: one clear line, exit 2, fast and in bounded memory."""

from __future__ import annotations

import math
from pathlib import Path

import cdk8s
import pytest
from prime_rl_k8s import GpuStatefulSet, PrimeRLConfigError, PrimeRLExperiment, RoleProps
from prime_rl_k8s.cli import main

ALIAS_BOMB = "\n".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(f"{c}: &{c} [{','.join([f'*{p}'] * 9)}]" for p, c in zip("abcdefg", "bcdefgh", strict=True)),
    ]
)


def _deep_yaml(levels: int) -> str:
    return "".join("  " * i + "a:\n" for i in range(levels))


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["synth", "x", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (_deep_yaml(1500), "nested at most 64 levels"),
        (_deep_yaml(80), "nested at most 64 levels"),
        (ALIAS_BOMB, "once YAML aliases expand"),
        ("trainer:\n  replicas: 4294967296\n", "trainer.replicas must be at most 2147483647, got 4294967296"),
        ("trainer:\n  replicas: 99999999999999999999\n", "got 99999999999999999999"),
        ("inference:\n  replicas: 10000\n", "inference.replicas must be few enough inference servers"),
    ],
    ids=["deep-1500", "deep-80", "alias-bomb", "beyond-int32", "beyond-int64", "url-list-over-128k"],
)
def test_fails_hostile_values_file_with_one_line(tmp_path: Path, capsys, content: str, needle: str) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(content)
    code, out, err = _cli(capsys, "-f", str(values))
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and needle in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "expression",
    [".".join(["a"] * 1500) + "=1", "x" + "[0]" * 1500 + "=1", ".".join(["a"] * 65) + "=1"],
    ids=["dotted-1500", "indexed-1500", "dotted-65"],
)
def test_fails_deep_set_path_with_one_line(capsys, expression: str) -> None:
    code, out, err = _cli(capsys, "--set", expression)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "nested at most 64 levels" in err


def test_a_key_nested_64_levels_still_parses(capsys) -> None:
    code, _, err = _cli(capsys, "--set", ".".join(["a"] * 64) + "=1")
    assert code == 2 and "unknown key at the top level" in err


def test_large_integer_quantity_stays_exact(capsys) -> None:
    code, out, _ = _cli(capsys, "--set", "trainer.resources.limits.memory=99999999999999999999")
    assert code == 0
    assert "memory: '99999999999999999999'" in out


def test_fails_nan_shm_size_in_the_construct_api(chart: cdk8s.Chart) -> None:
    with pytest.raises(PrimeRLConfigError, match=r"^shm_size_gib must be a number of GiB of at least 0"):
        GpuStatefulSet(chart, "s", instance="e", component="t", image="i", shm_size_gib=math.nan)
    with pytest.raises(PrimeRLConfigError, match=r"^trainer\.shm_size_gib must be a number of GiB"):
        PrimeRLExperiment(chart, "e", name="e", trainer=RoleProps(shm_size_gib=math.inf))


def test_fails_replicas_beyond_int32_in_the_construct_api(chart: cdk8s.Chart) -> None:
    with pytest.raises(
        PrimeRLConfigError, match=r"^trainer\.replicas must be at most 2147483647, got 2147483648$"
    ):
        PrimeRLExperiment(chart, "e", name="e", trainer=RoleProps(replicas=2**31))
