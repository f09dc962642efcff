"""Runtime configs given in values or props, shipped as ConfigMaps instead of baked into the image.

A role's config (``<role>.config``) and the settings orchestrator and trainer share
(``config.shared``) are TOML text or a mapping. Each role that has one gets a ConfigMap
``<experiment>-<role>-config`` mounted at :data:`CONFIG_DIR`; its command layers the files over the
example's TOML (``@ example.toml @ shared.toml @ config.toml``: later files win), and a checksum
of the files on the pod template restarts the pods that read a changed config.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import escape
from .manifest import manifest, metadata
from .validation import config_error, fail

#: Where a role's ConfigMap is mounted (read-only).
CONFIG_DIR = "/etc/prime-rl"
SHARED_FILE = "shared.toml"
ROLE_FILE = "config.toml"
#: The pod annotation whose change restarts the pods when their config changes.
CHECKSUM_ANNOTATION = "prime-rl.io/config-sha256"
#: Runtime settings that come from one experiment-wide prop and may not be set per config.
RESERVED_KEYS = {
    "max_async_level": "max_async_level (config.maxAsyncLevel)",
    "output_dir": "nothing: every experiment writes to OUTPUT_DIR, <mount path>/outputs/<name>",
}
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_text(value: Any, field: str) -> tuple[str, dict[str, Any]]:
    """The TOML text of a config given as text or as a mapping, and the table it parses to."""
    import tomllib  # only experiments with configs pay for the parser

    if isinstance(value, str):
        text = value
    elif isinstance(value, Mapping):
        text = _dump_table(value, (), field)
    else:
        raise fail(field, value, "TOML text or a mapping of runtime settings")
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise fail(field, f"<TOML: {error}>", "valid TOML") from None
    for key in table:
        normalized = key.replace("-", "_")
        if normalized in RESERVED_KEYS:
            raise config_error(
                "{0} sets "
                + escape(key)
                + ", which the deployment sets for every role; set "
                + escape(RESERVED_KEYS[normalized])
                + " instead",
                field,
            )
    return text, table


def check_disjoint(
    shared: Mapping[str, Any], own: Mapping[str, Any], shared_field: str, own_field: str
) -> None:
    """A setting lives in one place: a role's config may not repeat a shared one."""
    for path in _leaf_paths(own) & _leaf_paths(shared):
        raise config_error(
            "{0} sets " + escape(path) + ", which {1} already sets for orchestrator and trainer alike",
            own_field,
            shared_field,
        )


def config_files(has_shared: bool, has_own: bool) -> list[str]:
    """The mounted files a role's command reads, shared first so the role's own win."""
    files = [SHARED_FILE] if has_shared else []
    if has_own:
        files.append(ROLE_FILE)
    return [f"{CONFIG_DIR}/{name}" for name in files]


def config_args(paths: Sequence[str]) -> str:
    """``@ <file> @ <file>``: what a runtime command appends to read ``paths``."""
    return " ".join(f"@ {path}" for path in paths)


def config_map_manifest(
    name: str, namespace: str | None, labels: Mapping[str, str], data: Mapping[str, str]
) -> dict[str, Any]:
    return manifest("v1", "ConfigMap", metadata(name, namespace, dict(labels)), data=dict(data))


def checksum(data: Mapping[str, str]) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(dict(data), sort_keys=True).encode()).hexdigest()


def _leaf_paths(table: Mapping[str, Any], prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for key, value in table.items():
        path = f"{prefix}{key.replace('-', '_')}"
        if isinstance(value, Mapping):
            paths |= _leaf_paths(value, f"{path}.")
        else:
            paths.add(path)
    return paths


def _dump_table(table: Mapping[str, Any], path: tuple[str, ...], field: str) -> str:
    """A mapping as TOML: scalars and arrays first, then one ``[section]`` per nested mapping."""
    lines: list[str] = []
    sections: list[str] = []
    for key, value in table.items():
        if not isinstance(key, str) or not key:
            raise fail(field, key, "setting names that are non-empty strings")
        name = _key(key)
        if isinstance(value, Mapping):
            sections.append(_dump_table(value, (*path, name), f"{field}.{key}"))
        else:
            lines.append(f"{name} = {_value(value, f'{field}.{key}')}")
    header = [f"[{'.'.join(path)}]"] if path and lines else []
    body = "\n".join(header + lines)
    return "\n\n".join(part for part in (body, *sections) if part) + ("\n" if not path else "")


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _value(value: Any, field: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise fail(field, value, "a finite number")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(item, f"{field}[{i}]") for i, item in enumerate(value)) + "]"
    raise fail(field, value, "a string, number, boolean, list or mapping")
