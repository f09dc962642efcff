"""Helm-compatible parsing of `--set` / `--set-string` expressions.

Users bring command lines written for the chart, so `--set` must type and nest values exactly as
Helm does: `a.b=1` is an int, `true`/`false` are bools, `null` is null, numbers with a leading zero
and decimals stay strings, integers beyond 64 bits stay strings, `a={x,y}` is a list, `a[0].b=x`
indexes a list, and a backslash makes the next character literal (`a\\.b=x` sets the key `a.b`,
`a=x\\,y` sets the string `x,y`; a trailing lone backslash is dropped).

One deliberate departure: Helm turns `a={}` into `[""]`; here it is the empty list users mean.
Every other malformed argument Helm would reject (or half-apply) is one error naming the option.
"""

from __future__ import annotations

from typing import Any

from .errors import ValuesError

#: Helm refuses list indexes above this, so a typo cannot allocate a huge list.
MAX_INDEX = 65536
#: Keys and indexes one path may nest; no chart key is close, and the parser recurses per level.
MAX_DEPTH = 64

_SET_ALLOWED = "KEY=VALUE, e.g. trainer.replicas=2, a.b[0]=x or a={x,y}"


def typed_value(text: str, as_string: bool) -> Any:
    """Type a scalar the way Helm's `--set` does (`--set-string` keeps everything a string)."""
    if as_string:
        return text
    lowered = text.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    if lowered == "null":
        return None
    if text == "0":
        return 0
    if text and text[0] != "0" and _is_int(text):
        return int(text)
    return text


#: Helm parses `--set` integers as Go int64; anything outside stays a string.
_INT64 = range(-(2**63), 2**63)


def _is_int(text: str) -> bool:
    body = text[1:] if text[0] in "+-" else text
    # The length check keeps int() away from huge digit strings (Python caps their conversion).
    return body.isascii() and body.isdigit() and len(body.lstrip("0")) <= 19 and int(text) in _INT64


class _Scanner:
    """Reads one `--set` argument rune by rune, honouring backslash escapes."""

    def __init__(self, text: str, option: str) -> None:
        self.text = text
        self.pos = 0
        self.option = option

    def fail(self, key: str, allowed: str = _SET_ALLOWED) -> ValuesError:
        """An error that names the option, the key reached so far and the whole argument."""
        return ValuesError(f"{self.option} {key}" if key else self.option, self.text, allowed)

    def until(self, stops: str) -> tuple[str, str | None]:
        """Text up to the first unescaped stop character, and that character (None at the end)."""
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            self.pos += 1
            if char == "\\":
                if self.pos < len(self.text):
                    out.append(self.text[self.pos])
                    self.pos += 1
                continue
            if char in stops:
                return "".join(out), char
            out.append(char)
        return "".join(out), None

    def peek(self) -> str | None:
        return self.text[self.pos] if self.pos < len(self.text) else None


def parse_set(text: str, dest: dict[str, Any], as_string: bool = False) -> None:
    """Apply one `--set` argument (possibly `a=1,b=2`) to `dest` in place."""
    option = "--set-string" if as_string else "--set"
    scanner = _Scanner(text, option)
    if not text:
        raise scanner.fail("")
    while scanner.peek() is not None:
        _parse_key(scanner, dest, as_string, prefix="")


def _deeper(scanner: _Scanner, path: str, depth: int) -> int:
    if depth >= MAX_DEPTH:
        raise scanner.fail(path[:80] + "...", f"a key nested at most {MAX_DEPTH} levels")
    return depth + 1


def _parse_key(scanner: _Scanner, data: dict[str, Any], as_string: bool, prefix: str, depth: int = 0) -> None:
    key, stop = scanner.until("=[,.")
    path = f"{prefix}{key}"
    depth = _deeper(scanner, path, depth)
    if not key:
        raise scanner.fail(path, "a non-empty key before '=', e.g. trainer.replicas=2")
    if stop is None or stop == ",":
        raise scanner.fail(path, "KEY=VALUE (no '=' after the key)")
    if stop == "=":
        data[key] = _parse_value(scanner, as_string, path)
    elif stop == ".":
        child = data.get(key)
        if not isinstance(child, dict):
            child = {}
        _parse_key(scanner, child, as_string, f"{path}.", depth)
        data[key] = child
    else:  # "["
        existing = data.get(key)
        items = existing if isinstance(existing, list) else []
        data[key] = _parse_index(scanner, items, as_string, path, depth)


def _parse_index(scanner: _Scanner, items: list[Any], as_string: bool, path: str, depth: int) -> list[Any]:
    depth = _deeper(scanner, path, depth)
    raw, stop = scanner.until("]")
    if stop is None or not (raw.isascii() and raw.isdigit()):
        raise scanner.fail(f"{path}[{raw}", f"a list index from 0 to {MAX_INDEX}, e.g. {path}[0]=x")
    index = int(raw)
    if index > MAX_INDEX:
        raise scanner.fail(f"{path}[{raw}]", f"a list index from 0 to {MAX_INDEX}")
    items = list(items)
    if len(items) <= index:
        items.extend([None] * (index + 1 - len(items)))
    here = f"{path}[{index}]"
    follow = scanner.peek()
    scanner.pos += 1
    if follow == "=":
        items[index] = _parse_value(scanner, as_string, here)
    elif follow == ".":
        child = items[index] if isinstance(items[index], dict) else {}
        _parse_key(scanner, child, as_string, f"{here}.", depth)
        items[index] = child
    elif follow == "[":
        inner = items[index] if isinstance(items[index], list) else []
        items[index] = _parse_index(scanner, inner, as_string, here, depth)
    else:
        raise scanner.fail(here, "'=', '.' or '[' after a list index")
    return items


def _parse_value(scanner: _Scanner, as_string: bool, path: str) -> Any:
    if scanner.peek() == "{":
        scanner.pos += 1
        return _parse_list(scanner, as_string, path)
    raw, _ = scanner.until(",")
    return typed_value(raw, as_string)


def _parse_list(scanner: _Scanner, as_string: bool, path: str) -> list[Any]:
    items: list[Any] = []
    while True:
        raw, stop = scanner.until(",}")
        if stop is None:
            raise scanner.fail(path, "a list closed by '}', e.g. a={x,y}")
        if raw or stop == "," or items:
            items.append(typed_value(raw, as_string))
        if stop == "}":
            break
    after = scanner.peek()
    if after == ",":
        scanner.pos += 1
    elif after is not None:
        raise scanner.fail(path, "',' or the end after a '{...}' list")
    return items
