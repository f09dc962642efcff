"""The building blocks of the chart's values schema: leaves checked by the render core's rules.

A leaf holds its default and one check from :mod:`prime_rl_k8s.core.validation`, called with the
values key as the field name, so a values file is judged by the same rules, in the same words,
as the Python props. What only a values file has (its nesting, unknown keys, lists of
``{name, value}``) is checked here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..core.validation import MAX_INT32, fail, require_bool, require_int, require_one_of, require_quantity
from .errors import ValuesError, show

Check = Callable[[Any, str], Any]


class Field:
    """A leaf of the schema: a default and a check that returns the normalised value.

    ``nullable`` leaves accept ``null`` (meaning "the default behaviour", documented per key);
    ``empty`` leaves accept ``""`` with the same meaning, as the chart's values file writes it.
    """

    def __init__(self, default: Any, check: Check, *, nullable: bool = False, empty: bool = False) -> None:
        self.default = default
        self._check = check
        self.nullable = nullable
        self.empty = empty

    def check(self, value: Any, path: str) -> Any:
        if value is None and self.nullable:
            return None
        if value == "" and self.empty:
            return ""
        return self._check(value, path)


def Bool(default: bool) -> Field:
    return Field(default, require_bool)


def Int(default: int | None, low: int, high: int = MAX_INT32, nullable: bool = False) -> Field:
    return Field(default, lambda v, p: require_int(v, p, minimum=low, maximum=high), nullable=nullable)


def Enum(default: str | None, choices: Sequence[str], nullable: bool = False) -> Field:
    """One of `choices`; where ``null`` is allowed, ``""`` means ``null`` too."""
    options = tuple(choices)

    def check(value: Any, path: str) -> str | None:
        if value == "" and nullable:
            return None
        return require_one_of(value, path, options)

    return Field(default, check, nullable=nullable)


def Quantity(default: str | None, *, positive: bool, nullable: bool = True) -> Field:
    return Field(default, lambda v, p: require_quantity(v, p, positive=positive), nullable=nullable)


def Text(default: str | None, allowed: str, nullable: bool = False) -> Field:
    """Any string; what else is allowed is only said in the error."""

    def check(value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise fail(path, value, allowed)
        return value

    return Field(default, check, nullable=nullable, empty=True)


class ListOf(Field):
    """A list whose every item is checked by `item`; ``null`` is the empty list."""

    def __init__(self, item: Field, default: list[Any] | None = None, min_items: int = 0) -> None:
        super().__init__(default if default is not None else [], self.check)
        self.item = item
        self.min_items = min_items

    def check(self, value: Any, path: str) -> list[Any]:
        if value is None:
            value = []
        if not isinstance(value, list) or len(value) < self.min_items:
            raise fail(path, value, "a non-empty list" if self.min_items else "a list")
        return [self.item.check(entry, f"{path}[{index}]") for index, entry in enumerate(value)]


class Obj(Field):
    """A mapping with a fixed set of keys; unknown keys are errors that list the allowed ones."""

    def __init__(self, fields: Mapping[str, Field], nullable: bool = False) -> None:
        super().__init__(None, self.check, nullable=nullable)
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
            raise fail(path or "values", value, self.allowed)
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
