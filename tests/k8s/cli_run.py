"""Run the CLI in process, as the workload and platform tests drive it (no Node.js)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from prime_rl_k8s.cli import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of one `prime-rl-k8s` call."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def synth(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    """The objects `prime-rl-k8s synth exp ARGS` prints; it must succeed silently."""
    code, out, err = run(["synth", "exp", *args], capsys)
    assert (code, err) == (0, ""), err
    return [doc for doc in yaml.safe_load_all(out) if doc]


def refused(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """The one line a refused render prints: exit status 2, nothing on stdout, no traceback."""
    code, out, err = run(["synth", "exp", *args], capsys)
    assert (code, out) == (2, ""), err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err
