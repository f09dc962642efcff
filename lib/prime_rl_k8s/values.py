"""Helm-compatible values: load `-f` files, apply `--set`/`--set-string`, validate strictly.

The merge order is Helm's: files in the order given (later wins, maps merge key by key, lists
and scalars replace), then every `--set`, then every `--set-string`. The result is checked
against the chart schema (unknown keys and wrong types are errors) and then across keys
(GPU counts, inference reachability, duplicate env names, generated name lengths).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from prime_rl_k8s.validation import DNS1035_LABEL, MAX_NAME_LENGTH, MAX_STATEFULSET_NAME_LENGTH
from prime_rl_k8s.values_errors import ValuesError
from prime_rl_k8s.values_schema import ROLES, SCHEMA
from prime_rl_k8s.values_set import parse_set


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
        data = yaml.safe_load(text)
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
) -> dict[str, Any]:
    """Merge files and overrides as Helm does, then validate; returns complete, normalised values."""
    user: dict[str, Any] = {}
    for path in files:
        user = merge(user, load_values_file(path))
    for expression in sets:
        parse_set(expression, user, as_string=False)
    for expression in set_strings:
        parse_set(expression, user, as_string=True)
    if namespace is not None:
        user["namespace"] = namespace
    return validate(user)


def validate(user: Mapping[str, Any]) -> dict[str, Any]:
    """Schema check plus the rules that span several keys.

    Rules the constructs enforce themselves (request <= limit, /dev/shm <= memory limit, one
    orchestrator) are left to them: their errors already name the values keys.
    """
    values = SCHEMA.check(dict(user), "")
    for role in ROLES:
        section = values[role]
        if section["enabled"] and section["gpu"]["enabled"] and section["gpu"]["count"] < 1:
            allowed = f"an integer >= 1 while {role}.gpu.enabled is true"
            raise ValuesError(f"{role}.gpu.count", section["gpu"]["count"], allowed)
        seen: set[str] = set()
        for index, entry in enumerate(section["env"]):
            if entry["name"] in seen:
                allowed = "a name not used earlier in the list"
                raise ValuesError(f"{role}.env[{index}].name", entry["name"], allowed)
            seen.add(entry["name"])
    _check_inference_reachable(values)
    if values["storage"]["existingClaim"] and not values["storage"]["enabled"]:
        raise ValuesError(
            "storage.existingClaim",
            values["storage"]["existingClaim"],
            "an existing claim only while storage.enabled is true",
        )
    return values


def _check_inference_reachable(values: Mapping[str, Any]) -> None:
    inference = values["inference"]
    if inference["externalUrls"]:
        return
    for role in ("orchestrator", "trainer"):
        if not values[role]["enabled"]:
            continue
        alternatives = f"(or give inference.externalUrls, or set {role}.enabled=false)"
        if not inference["enabled"]:
            raise ValuesError("inference.enabled", False, f"true while {role}.enabled is true {alternatives}")
        if inference["replicas"] == 0:
            allowed = f"an integer >= 1 while {role}.enabled is true {alternatives}"
            raise ValuesError("inference.replicas", 0, allowed)


def check_release(release: str, values: Mapping[str, Any]) -> None:
    """A release name must be a DNS-1035 label short enough for every name generated from it."""
    allowed = (
        "a DNS-1035 label: lowercase letters, digits and '-', starting with a letter, "
        "ending with a letter or digit"
    )
    if not release or len(release) > 63 or DNS1035_LABEL.match(release) is None:
        raise ValuesError("release", release, allowed)
    names: list[tuple[str, int]] = []
    if values["storage"]["enabled"] and not values["storage"]["existingClaim"]:
        names.append((f"{release}-shared-data", MAX_NAME_LENGTH))
    for role in ROLES:
        if values[role]["enabled"]:
            names.append((f"{release}-{role}", MAX_STATEFULSET_NAME_LENGTH))
            names.append((f"{release}-{role}-headless", MAX_NAME_LENGTH))
    for name, limit in names:
        if len(name) > limit:
            longest = min(cap - (len(other) - len(release)) for other, cap in names)
            raise ValuesError(
                "release",
                release,
                f"at most {longest} characters, so that generated names such as {name!r} "
                f"stay within {limit} characters",
            )
