"""Helm-compatible values: load `-f` files, apply `--set`/`--set-string`, validate strictly.

The merge order is Helm's: files in the order given (later wins, maps merge key by key, lists
and scalars replace), then every `--set`, then every `--set-string`. The result is checked
against the chart schema (unknown keys and wrong types are errors) and for the two rules that
only values files can break (a GPU count with `gpu.enabled`, repeated env names). Every other
rule lives in the render core, whose errors :mod:`prime_rl_k8s.values.props` restates in values
keys.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from ..core.presets import ROLES
from .errors import ValuesError
from .schema import SCHEMA
from .set_parser import parse_set

#: Deeper values than this are no chart's: refusing them keeps every later walk shallow.
MAX_DEPTH = 64
#: Nodes a values document may expand to once YAML aliases are followed (an alias bomb of a
#: few hundred bytes expands to billions); the largest real values files have a few hundred.
MAX_NODES = 100_000


def default_values() -> dict[str, Any]:
    """The chart's defaults as a plain nested dict (what `helm show values` prints)."""
    return SCHEMA.defaults


def load_values_file(path: str | Path) -> dict[str, Any]:
    """Read one values file (`-` is stdin); an empty file is an empty mapping, as in Helm."""
    label = f"-f {path}"
    try:
        text = sys.stdin.read() if str(path) == "-" else Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValuesError(label, str(path), "an existing YAML values file", "no such file") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        why = type(exc).__name__.replace("Error", "").lower()
        allowed = "a readable UTF-8 YAML values file"
        raise ValuesError(label, str(path), allowed, f"cannot read it ({why})") from None
    try:
        data = _bounded_load(text, label, str(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        allowed = "a YAML mapping of values"
        raise ValuesError(label, str(path), allowed, f"invalid YAML at {where}{problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValuesError(label, data, "a YAML mapping of values at the top level")
    return data


#: The largest file `--set-file` reads: a runtime config, not a dataset.
MAX_SET_FILE_BYTES = 1024 * 1024


def parse_set_file(expression: str, dest: dict[str, Any]) -> None:
    """Apply one `--set-file KEY=PATH`: the key is set to the file's text, as in Helm."""
    key, sep, path = expression.partition("=")
    if not sep or not key or not path:
        raise ValuesError("--set-file", expression, "KEY=PATH, such as trainer.config=train.toml")
    label = f"--set-file {key}"
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_SET_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ValuesError(label, path, "an existing file", "no such file") from None
    except (IsADirectoryError, PermissionError) as exc:
        why = type(exc).__name__.replace("Error", "").lower()
        raise ValuesError(label, path, "a readable UTF-8 file", f"cannot read it ({why})") from None
    if len(data) > MAX_SET_FILE_BYTES:
        raise ValuesError(label, path, f"a file of at most {MAX_SET_FILE_BYTES} bytes", "file too large")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValuesError(label, path, "a readable UTF-8 file", "not UTF-8 text") from None
    placeholder: dict[str, Any] = {}
    try:
        parse_set(f"{key}=_", placeholder, as_string=True)
    except ValuesError:
        raise ValuesError(
            "--set-file", expression, "KEY=PATH with a values key such as trainer.config"
        ) from None
    node: Any = placeholder
    while True:
        parent, index = (node, next(iter(node))) if isinstance(node, dict) else (node, len(node) - 1)
        if isinstance(parent[index], dict | list):
            node = parent[index]
            continue
        parent[index] = text
        break
    dest.update(merge(dest, placeholder))


def _bounded_load(text: str, label: str, path: str) -> Any:
    """``yaml.safe_load``, refusing documents that are nested too deeply or expand too far.

    The node graph is measured before any Python object is built, so an alias bomb costs
    microseconds, not gigabytes.
    """
    loader = yaml.SafeLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            node = None
            too_deep = True
        else:
            too_deep = False
        if too_deep or (node is not None and _expanded_size(node) is None):
            allowed = f"a values file nested at most {MAX_DEPTH} levels and at most {MAX_NODES} values"
            raise ValuesError(label, path, allowed, "too deeply nested or too large once YAML aliases expand")
        return None if node is None else loader.construct_document(node)
    finally:
        loader.dispose()


def _expanded_size(root: yaml.Node) -> int | None:
    """Nodes in the document with every alias expanded, or None past MAX_NODES or MAX_DEPTH."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, children_done = stack.pop()
        if depth > MAX_DEPTH:
            return None
        if id(node) in sizes:
            continue
        if isinstance(node, yaml.MappingNode):
            children = [item for pair in node.value for item in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            children = []
        if children_done or not children:
            total = 1 + sum(sizes.get(id(child), 0) for child in children)
            if total > MAX_NODES:
                return None
            sizes[id(node)] = total
            continue
        stack.append((node, depth, True))
        stack.extend((child, depth + 1, False) for child in children if id(child) not in sizes)
    return sizes[id(root)]


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's merge of a later values file: maps merge recursively, anything else replaces."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def resolve_values(
    files: Iterable[str | Path] = (),
    sets: Iterable[str] = (),
    set_strings: Iterable[str] = (),
    namespace: str | None = None,
    set_files: Iterable[str] = (),
) -> dict[str, Any]:
    """Merge files and overrides as Helm does, then validate; returns complete, normalised values."""
    user: dict[str, Any] = {}
    for path in files:
        user = merge(user, load_values_file(path))
    for expression in sets:
        parse_set(expression, user, as_string=False)
    for expression in set_strings:
        parse_set(expression, user, as_string=True)
    for expression in set_files:
        parse_set_file(expression, user)
    if namespace is not None:
        user["namespace"] = namespace
    return validate(user)


def validate(user: Mapping[str, Any]) -> dict[str, Any]:
    """The schema check plus the rules that only the values file's own shape can break."""
    values = SCHEMA.check(dict(user), "")
    for role in ROLES:
        section = values[role]
        count = section["gpu"]["count"]
        if section["enabled"] and section["gpu"]["enabled"] and count is not None and count < 1:
            allowed = f"an integer >= 1 while {role}.gpu.enabled is true"
            raise ValuesError(f"{role}.gpu.count", section["gpu"]["count"], allowed)
        seen: set[str] = set()
        for index, entry in enumerate(section["env"]):
            if entry["name"] in seen:
                allowed = "a name not used earlier in the list"
                raise ValuesError(f"{role}.env[{index}].name", entry["name"], allowed)
            seen.add(entry["name"])
    return values
