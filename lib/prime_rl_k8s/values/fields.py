"""Typed, strict field checkers for the chart's values schema.

Each checker knows its default, describes what it allows (that text goes into error messages) and
returns the normalised value, so the rest of the values layer works with clean Python data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from ..core.validation import (
    DNS1123_LABEL,
    ENV_NAME,
    IMAGE_DIGEST,
    IMAGE_REPOSITORY,
    IMAGE_TAG,
    LABEL_VALUE,
    MAX_INT32,
    is_label_key,
    parse_quantity,
)
from ..errors import PrimeRLConfigError
from .errors import ValuesError, kind, show


def dns_label(value: str) -> bool:
    return len(value) <= 63 and DNS1123_LABEL.match(value) is not None


def label_value(value: str) -> bool:
    return len(value) <= 63 and LABEL_VALUE.match(value) is not None


def image_repository(value: str) -> bool:
    return len(value) <= 255 and IMAGE_REPOSITORY.match(value) is not None


def image_tag(value: str) -> bool:
    return IMAGE_TAG.match(value) is not None or IMAGE_DIGEST.match(value) is not None


def env_name(value: str) -> bool:
    return ENV_NAME.match(value) is not None


def quantity(value: str) -> Decimal | None:
    """The size of a Kubernetes quantity string, or None when it is not one."""
    try:
        return parse_quantity(value, "quantity")
    except PrimeRLConfigError:
        return None


class Field:
    """A leaf of the schema: a default and a check that returns the normalised value."""

    allowed: str = ""

    def __init__(self, default: Any, nullable: bool = False) -> None:
        self.default = default
        self.nullable = nullable

    def check(self, value: Any, path: str) -> Any:
        if value is None:
            if self.nullable:
                return None
            raise ValuesError(path, value, self.allowed)
        return self.convert(value, path)

    def convert(self, value: Any, path: str) -> Any:
        raise NotImplementedError

    def fail(self, path: str, value: Any, why: str | None = None) -> ValuesError:
        return ValuesError(path, value, self.allowed, got=why)


class Bool(Field):
    allowed = "true or false"

    def convert(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(path, value)
        return value


class Int(Field):
    def __init__(self, default: int | None, low: int, high: int = MAX_INT32, nullable: bool = False):
        super().__init__(default, nullable)
        self.low = low
        self.high = high
        self.allowed = f"an integer from {low} to {high}"

    def convert(self, value: Any, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(path, value, f"{show(value)} ({kind(value)})" if isinstance(value, str) else None)
        if not self.low <= value <= self.high:
            raise self.fail(path, value)
        return value


class Number(Field):
    """A finite integer or decimal number (YAML `0.5` or `16`), at least `low`."""

    def __init__(self, default: float | None, low: float, nullable: bool = False) -> None:
        super().__init__(default, nullable)
        self.low = low
        self.allowed = f"a number >= {low}"

    def convert(self, value: Any, path: str) -> int | float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(path, value, f"{show(value)} ({kind(value)})" if isinstance(value, str) else None)
        if not math.isfinite(value) or value < self.low:
            raise self.fail(path, value)
        return value


class Str(Field):
    """A string that must satisfy a predicate (empty is allowed only where `allow_empty`)."""

    def __init__(
        self,
        default: str | None,
        allowed: str,
        valid: Callable[[str], bool] = lambda _: True,
        allow_empty: bool = False,
        nullable: bool = False,
    ) -> None:
        super().__init__(default, nullable)
        self.allowed = allowed
        self.valid = valid
        self.allow_empty = allow_empty

    def convert(self, value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise self.fail(path, value, f"{show(value)} ({kind(value)})")
        if value == "" and self.allow_empty:
            return value
        if not value or not self.valid(value):
            raise self.fail(path, value)
        return value


class Enum(Field):
    def __init__(self, default: str | None, choices: Sequence[str], nullable: bool = False) -> None:
        super().__init__(default, nullable)
        self.choices = tuple(choices)
        self.allowed = "one of " + ", ".join(self.choices)

    def convert(self, value: Any, path: str) -> str | None:
        if value == "" and self.nullable:
            return None
        if value not in self.choices or not isinstance(value, str):
            raise self.fail(path, value)
        return value


class Quantity(Field):
    """A Kubernetes resource quantity; YAML numbers (cpu: 2, cpu: 0.5) are accepted as such."""

    def __init__(self, default: str | None, example: str, nullable: bool = True) -> None:
        super().__init__(default, nullable)
        self.allowed = f"a positive Kubernetes quantity such as {example}"

    def convert(self, value: Any, path: str) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(path, value)
        text = format(Decimal(str(value)), "f") if isinstance(value, float) else str(value)
        size = quantity(text)
        if size is None or size <= 0:
            raise self.fail(path, value)
        return text


class Command(Field):
    """A shell string (run verbatim by `bash -c`) or an argv list; empty means 'no command'."""

    allowed = "a shell command string or a list of argument strings"

    def convert(self, value: Any, path: str) -> str | list[str] | None:
        if isinstance(value, str):
            return value or None
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return list(value) or None
        raise self.fail(path, value)


class ListOf(Field):
    def __init__(self, item: Field, default: list[Any] | None = None, min_items: int = 0) -> None:
        super().__init__(default if default is not None else [], nullable=True)
        self.item = item
        self.min_items = min_items
        self.allowed = f"a list of {item.allowed}" + (" (at least one)" if min_items else "")

    def check(self, value: Any, path: str) -> list[Any]:
        if value is None:
            value = []
        if not isinstance(value, list) or len(value) < self.min_items:
            raise self.fail(path, value)
        return [self.item.check(entry, f"{path}[{index}]") for index, entry in enumerate(value)]


class LabelMap(Field):
    """A mapping of label keys to label values (nodeSelector)."""

    allowed = "a mapping of label keys to label values (strings of at most 63 characters)"

    def __init__(self) -> None:
        super().__init__({}, nullable=True)

    def check(self, value: Any, path: str) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(path, value)
        for key, item in value.items():
            if not isinstance(key, str) or not is_label_key(key):
                raise ValuesError(f"{path}.{key}", key, "a label key such as kubernetes.io/hostname")
            if not isinstance(item, str) or not label_value(item):
                raise ValuesError(
                    f"{path}.{key}",
                    item,
                    "a label value string (quote numbers and booleans): at most 63 letters, digits, "
                    "'-', '_' or '.', starting and ending with a letter or digit",
                )
        return dict(value)


class Obj(Field):
    """A mapping with a fixed set of keys; unknown keys are errors that list the allowed ones."""

    def __init__(self, fields: Mapping[str, Field], nullable: bool = False) -> None:
        super().__init__(None, nullable)
        self.fields = dict(fields)
        self.allowed = "a mapping with keys " + ", ".join(sorted(self.fields))

    @property
    def defaults(self) -> dict[str, Any]:
        return {
            name: field.defaults if isinstance(field, Obj) else _copy(field.default)
            for name, field in self.fields.items()
        }

    def _closest(self, key: str) -> str | None:
        """The known key a typo most likely meant (case-insensitive), for a "did you mean" hint."""
        import difflib  # only on the error path: the CLI starts faster without it

        by_lower = {name.lower(): name for name in self.fields}
        close = difflib.get_close_matches(key.lower(), by_lower, n=1, cutoff=0.75)
        return by_lower[close[0]] if close else None

    def check(self, value: Any, path: str) -> dict[str, Any]:
        if value is None and self.nullable:
            value = {}
        if not isinstance(value, dict):
            raise self.fail(path or "values", value)
        for key in value:
            if key not in self.fields:
                where = f"under {path}" if path else "at the top level"
                suggestion = self._closest(str(key))
                hint = f"; did you mean {path + '.' if path else ''}{suggestion}?" if suggestion else ""
                raise ValuesError(
                    f"{path}.{key}" if path else str(key),
                    value[key],
                    "one of " + ", ".join(sorted(self.fields)),
                    problem=f"unknown key {where} (value {show(value[key])}{hint})",
                )
        out: dict[str, Any] = {}
        for name, field in self.fields.items():
            child = f"{path}.{name}" if path else name
            if name in value:
                out[name] = field.check(value[name], child)
            else:
                out[name] = field.check(field.defaults if isinstance(field, Obj) else field.default, child)
        return out


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value
