"""The one error type of the values layer: it always names the key, the value and what is allowed."""

from __future__ import annotations

from typing import Any

from ..errors import PrimeRLConfigError

_MAX_SHOWN = 80


def show(value: Any) -> str:
    """Render a received value compactly and unambiguously (strings quoted, YAML-style null/bools)."""
    if isinstance(value, str):
        text = repr(value)
    else:
        import json  # only on the error path: the CLI starts faster without it

        try:
            text = json.dumps(value, default=str)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


class ValuesError(PrimeRLConfigError):
    """A values file or `--set` expression that the chart schema rejects.

    Worded like the constructs' own errors ("<key> must be <allowed>, got <value>") so the CLI
    reads the same whichever layer caught the mistake.
    """

    def __init__(self, key: str, value: Any, allowed: str, problem: str | None = None) -> None:
        self.key = key
        self.value = value
        self.allowed = allowed
        if problem is None:
            message = f"{key} must be {allowed}, got {show(value)}"
        else:
            message = f"{key}: {problem}; allowed: {allowed}"
        super().__init__(message)
