"""Configuration for every entry point: pydantic models filled from TOML files and CLI overrides.

Grammar: ``CMD @ a.toml [@ b.toml] [--section.key value]...`` (``@a.toml`` works too). Later files
win over earlier ones (deep merge), command-line options win over files. Keys may be written in
kebab-case or snake_case. The string ``None`` means null. Any mistake becomes one clear message and
exit code 2, before any heavy library is imported, so this module imports only the standard library
and pydantic.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import sys
import tomllib
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, time
from enum import Enum
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from pydantic_core import PydanticUndefined

__all__ = [
    "BaseConfig",
    "ConfigError",
    "dump",
    "env_bool",
    "env_int",
    "env_list",
    "env_port",
    "env_str",
    "load_config",
    "output_dir_default",
    "parse_config",
    "to_toml",
]

EXIT_CONFIG_ERROR = 2
_HELP_FLAGS = ("--help", "-h")
_BOOL_WORDS = {"true": True, "false": False}
#: What a boolean environment variable may say (case-insensitive); unset or empty is its default.
_ENV_BOOL_WORDS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}

C = TypeVar("C", bound=BaseModel)


class ConfigError(Exception):
    """A user mistake in a config file, a command-line option or an environment variable."""


class EnvDefault:
    """A default read from an environment variable when the config is instantiated, not imported.

    Instances are zero-argument callables for ``Field(default_factory=...)``; ``repr`` says where the
    value comes from so that ``--help`` can show it without reading the environment.
    """

    def __init__(self, name: str, default: Any, convert: Callable[[str, str], Any], kind: str) -> None:
        self.name = name
        self.default = default
        self._convert = convert
        self.kind = kind

    def __call__(self) -> Any:
        raw = os.environ.get(self.name)
        if raw is None or raw.strip() == "":
            return list(self.default) if isinstance(self.default, tuple) else self.default
        return self._convert(self.name, raw)

    def __repr__(self) -> str:
        default = list(self.default) if isinstance(self.default, tuple) else self.default
        return f"${self.name} or {default!r}"


def _to_int(name: str, raw: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise ConfigError(f"environment variable {name}={raw!r} is not an integer") from None


def _to_bool(name: str, raw: str) -> bool:
    word = raw.strip().lower()
    if word not in _ENV_BOOL_WORDS:
        raise ConfigError(
            f"environment variable {name}={raw!r} is not a boolean (expected 1, true or yes to turn it "
            "on; 0, false, no or unset to turn it off)"
        )
    return _ENV_BOOL_WORDS[word]


def _to_str(name: str, raw: str) -> str:
    return raw


def _to_port(name: str, raw: str) -> int:
    try:
        port = int(raw.strip())
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise ConfigError(
            f"environment variable {name}={raw!r} is not a TCP port (expected an integer from 1 to "
            "65535, or unset or empty to turn it off)"
        )
    return port


def _to_list(name: str, raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_int(name: str, default: int | None) -> EnvDefault:
    """Default factory: the integer in environment variable ``name``, else ``default``."""
    return EnvDefault(name, default, _to_int, "int")


def env_bool(name: str, default: bool) -> EnvDefault:
    """Default factory: the boolean in environment variable ``name`` (1/true/yes or 0/false/no),
    else ``default``; any other value is a ConfigError naming the variable."""
    return EnvDefault(name, default, _to_bool, "bool")


def env_port(name: str, default: int | None) -> EnvDefault:
    """Default factory: the TCP port (1 to 65535) in environment variable ``name``, else ``default``;
    anything else is a ConfigError naming the variable, its value and the allowed range."""
    return EnvDefault(name, default, _to_port, "port")


def env_str(name: str, default: str | None) -> EnvDefault:
    """Default factory: the string in environment variable ``name``, else ``default``."""
    return EnvDefault(name, default, _to_str, "str")


def env_list(name: str, default: Sequence[str] = ()) -> EnvDefault:
    """Default factory: the comma-separated items in environment variable ``name``, else ``default``."""
    return EnvDefault(name, tuple(default), _to_list, "list")


def output_dir_default() -> str:
    """The shared output directory: ``$OUTPUT_DIR`` (set by the manifests), else ``outputs``."""
    return os.environ.get("OUTPUT_DIR") or "outputs"


class BaseConfig(BaseModel):
    """Base of every config section: unknown keys are errors and assignments are validated."""

    model_config = ConfigDict(
        extra="forbid",
        validate_assignment=True,
        validate_default=True,
        use_attribute_docstrings=True,
    )

    @field_validator("*", mode="before")
    @classmethod
    def _resolve_env_default(cls, value: Any) -> Any:
        """Lets ``EnvDefault`` also work as a plain default or from a lambda factory."""
        return value() if isinstance(value, EnvDefault) else value


# ---------------------------------------------------------------------------------------------
# Type inspection
# ---------------------------------------------------------------------------------------------


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _strip(tp: Any) -> Any:
    """Removes ``Annotated`` wrappers."""
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _union_members(tp: Any) -> list[Any]:
    tp = _strip(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return [_strip(a) for a in typing.get_args(tp)]
    return [tp]


def _non_none(tp: Any) -> list[Any]:
    return [m for m in _union_members(tp) if m is not type(None)]


def _models_in(tp: Any) -> list[type[BaseModel]]:
    return [m for m in _non_none(tp) if _is_model(m)]


def _list_item_models(tp: Any) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    for member in _non_none(tp):
        if typing.get_origin(member) in (list, tuple, Sequence) and typing.get_args(member):
            found.extend(_models_in(typing.get_args(member)[0]))
    return found


def _is_free_mapping(tp: Any) -> bool:
    """A dict-typed field: keys below it are free-form and kept verbatim."""
    return any(m is dict or m is Any or typing.get_origin(m) in (dict, Mapping) for m in _non_none(tp))


def _is_bool(tp: Any) -> bool:
    members = _non_none(tp)
    return bool(members) and all(m is bool for m in members)


def _wants_string(tp: Any) -> bool:
    """True when a command-line value for this type must stay the raw string."""
    members = _non_none(tp)
    if not members:
        return False
    for member in members:
        if member in (str, Path) or (isinstance(member, type) and issubclass(member, (str, Enum))):
            continue
        if typing.get_origin(member) is Literal and all(isinstance(v, str) for v in typing.get_args(member)):
            continue
        return False
    return True


def _type_name(tp: Any) -> str:
    tp = _strip(tp)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is Literal:
        return " | ".join(repr(v) for v in typing.get_args(tp))
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(tp) if a is not Ellipsis)
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    if tp is type(None):
        return "None"
    if tp is Any:
        return "any"
    if _is_model(tp):
        return "section"
    return getattr(tp, "__name__", str(tp))


def _fields(models: Sequence[type[BaseModel]]) -> dict[str, Any]:
    """Field name -> annotation over one model or the alternatives of a union of models."""
    merged: dict[str, Any] = {}
    for model in models:
        for name, info in model.model_fields.items():
            merged.setdefault(name, info.annotation)
    return merged


def _snake(key: str) -> str:
    return key.replace("-", "_")


def _unknown_key_message(dotted: str, where: str, allowed: Sequence[str], parent: str) -> str:
    key = dotted.rsplit(".", 1)[-1]
    level = f"under '{parent}'" if parent else "at the top level"
    msg = f"unknown key '{dotted}'{where}; allowed keys {level}: {', '.join(sorted(allowed)) or '(none)'}"
    close = difflib.get_close_matches(_snake(key), list(allowed), n=1, cutoff=0.6)
    if close:
        msg += f" (did you mean '{(parent + '.') if parent else ''}{close[0]}'?)"
    return msg


# ---------------------------------------------------------------------------------------------
# Normalising and merging raw data
# ---------------------------------------------------------------------------------------------


def _normalize(models: Sequence[type[BaseModel]], data: Mapping[str, Any], prefix: str, where: str) -> dict:
    """Snake-cases the keys the models know, recursing into sections; rejects unknown keys."""
    fields = _fields(models)
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = _snake(str(key))
        dotted = f"{prefix}.{name}" if prefix else name
        if name not in fields:
            raise ConfigError(_unknown_key_message(dotted, where, list(fields), prefix))
        if name in out:
            raise ConfigError(f"key '{dotted}' is given twice{where} (kebab-case and snake_case)")
        out[name] = _normalize_value(fields[name], value, dotted, where)
    return out


def _normalize_value(annotation: Any, value: Any, dotted: str, where: str) -> Any:
    if value == "None":
        return None
    sub_models = _models_in(annotation)
    if sub_models and isinstance(value, Mapping):
        return _normalize(sub_models, value, dotted, where)
    item_models = _list_item_models(annotation)
    if item_models and isinstance(value, list):
        return [
            _normalize(item_models, item, f"{dotted}[{i}]", where) if isinstance(item, Mapping) else item
            for i, item in enumerate(value)
        ]
    return _none_strings(value)


def _none_strings(value: Any) -> Any:
    if value == "None":
        return None
    if isinstance(value, Mapping):
        return {k: _none_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_none_strings(v) for v in value]
    return value


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def _read_toml(path_text: str) -> dict[str, Any]:
    path = Path(path_text)
    if not path.exists():
        raise ConfigError(f"config file '{path_text}' not found")
    if not path.is_file():
        raise ConfigError(f"config file '{path_text}' is not a file")
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file '{path_text}' is not valid toml: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file '{path_text}': {exc}") from None


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def _resolve_option(cls: type[BaseModel], dotted: str) -> tuple[list[str], Any]:
    """Maps ``a.b-c`` to snake-case path parts and the annotation found there (``Any`` in dicts)."""
    parts = [_snake(p) for p in dotted.split(".")]
    if any(not p for p in parts):
        raise ConfigError(f"option '--{dotted}' is not a valid dotted key")
    models: list[type[BaseModel]] = [cls]
    annotation: Any = None
    for i, part in enumerate(parts):
        if not models:
            return parts, Any
        fields = _fields(models)
        if part not in fields:
            prefix = ".".join(parts[:i])
            raise ConfigError(_unknown_key_message(".".join(parts[: i + 1]), "", list(fields), prefix))
        annotation = fields[part]
        models = _models_in(annotation)
        if i < len(parts) - 1 and not models:
            if _is_free_mapping(annotation):
                return parts, Any
            raise ConfigError(f"option '--{dotted}': '{'.'.join(parts[: i + 1])}' is not a section")
    return parts, annotation


def _parse_literal(raw: str, annotation: Any) -> Any:
    """A TOML literal when the text is one (numbers, bools, lists), otherwise the text itself."""
    if raw in ("None", "none", "null"):
        return None
    if _wants_string(annotation):
        return raw
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw
    if isinstance(value, date | datetime | time):
        return raw
    return value


def _set_path(target: dict[str, Any], parts: Sequence[str], value: Any) -> None:
    node = target
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def _parse_argv(cls: type[BaseModel], argv: Sequence[str]) -> tuple[list[str], dict[str, Any]]:
    """Splits argv into TOML files and a nested dict of command-line overrides."""
    files: list[str] = []
    overrides: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "@":
            if i + 1 >= len(argv) or argv[i + 1].startswith("--"):
                raise ConfigError("'@' must be followed by a toml file")
            files.append(argv[i + 1])
            i += 2
            continue
        if token.startswith("@"):
            files.append(token[1:])
            i += 1
            continue
        if not token.startswith("--") or token == "--":
            raise ConfigError(f"unexpected argument '{token}'; expected '@ FILE.toml' or '--key value'")
        body = token[2:]
        key, has_value, inline = body.partition("=")
        try:
            parts, annotation = _resolve_option(cls, key)
        except ConfigError:
            negated = _snake(key).rsplit(".", 1)
            if not has_value and negated[-1].startswith("no_"):
                plain = ".".join([*negated[:-1], negated[-1][3:]])
                try:
                    parts, annotation = _resolve_option(cls, plain)
                except ConfigError:
                    parts, annotation = [], None
                if parts and _is_bool(annotation):
                    _set_path(overrides, parts, False)
                    i += 1
                    continue
            raise
        if has_value:
            _set_path(overrides, parts, _parse_literal(inline, annotation))
            i += 1
            continue
        following = argv[i + 1] if i + 1 < len(argv) else None
        if _is_bool(annotation):
            if following is not None and following.lower() in (*_BOOL_WORDS, "none"):
                word = following.lower()
                _set_path(overrides, parts, None if word == "none" else _BOOL_WORDS[word])
                i += 2
            else:
                _set_path(overrides, parts, True)
                i += 1
            continue
        if following is None or following.startswith("--") or following.startswith("@"):
            raise ConfigError(f"option '--{key}' needs a value (expected {_type_name(annotation)})")
        _set_path(overrides, parts, _parse_literal(following, annotation))
        i += 2
    return files, overrides


# ---------------------------------------------------------------------------------------------
# Validation errors
# ---------------------------------------------------------------------------------------------


def _describe_loc(cls: type[BaseModel], loc: Sequence[int | str]) -> tuple[str, Any]:
    """Turns a pydantic error location into a dotted field name and the annotation there."""
    parts: list[str] = []
    models: list[type[BaseModel]] = [cls]
    annotation: Any = None
    pending_list = False
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
            if pending_list:
                models = _list_item_models(annotation)
                annotation = models[0] if models else Any
                pending_list = False
            continue
        fields = _fields(models) if models else {}
        if item in fields:
            parts.append(item)
            annotation = fields[item]
            models = _models_in(annotation)
            pending_list = bool(_list_item_models(annotation))
        elif not models and annotation is not None and _is_free_mapping(annotation):
            parts.append(item)
            annotation = Any
    return ".".join(parts), annotation


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _format_validation_error(cls: type[BaseModel], exc: ValidationError) -> str:
    lines: list[str] = []
    seen: set[str] = set()
    for err in exc.errors(include_url=False):
        field, annotation = _describe_loc(cls, err["loc"])
        msg = err["msg"]
        for prefix in ("Value error, ", "Assertion failed, "):
            msg = msg.removeprefix(prefix)
        msg = msg[:1].lower() + msg[1:]
        if err["type"] == "extra_forbidden":
            parent, _, _ = field.rpartition(".")
            parent_models = [cls] if not parent else _models_in(_describe_loc(cls, parent.split("."))[1])
            allowed = list(_fields(parent_models)) if parent_models else []
            line = _unknown_key_message(field, "", allowed, parent)
        elif err["type"] == "missing":
            line = f"missing required field '{field}' (expected {_type_name(annotation)})"
        elif err["type"] in ("value_error", "assertion_error") and not field:
            line = msg
        else:
            where = f"'{field}'" if field else "config"
            expected = f" (expected {_type_name(annotation)})" if annotation is not None else ""
            line = f"invalid value for {where}: {_short(err.get('input'))}{expected}: {msg}"
        if line not in seen:
            seen.add(line)
            lines.append(line)
    if len(lines) == 1:
        return lines[0]
    return f"{len(lines)} config errors:\n  " + "\n  ".join(lines)


# ---------------------------------------------------------------------------------------------
# Help
# ---------------------------------------------------------------------------------------------


def _default_text(info: Any) -> str:
    if info.default_factory is not None:
        factory = info.default_factory
        if isinstance(factory, EnvDefault):
            return repr(factory)
        if factory is output_dir_default:
            return "$OUTPUT_DIR or 'outputs'"
        if _is_model(factory):
            return "(section)"
        try:
            return _short(factory())
        except Exception:  # a factory that needs runtime context has no printable default
            return "(computed)"
    if info.default is PydanticUndefined:
        return "(required)"
    if isinstance(info.default, EnvDefault):
        return repr(info.default)
    if isinstance(info.default, BaseModel):
        return "(section)"
    return _short(info.default.value if isinstance(info.default, Enum) else info.default)


def _help_lines(models: Sequence[type[BaseModel]], prefix: str) -> list[str]:
    """Plain fields of this level first, then one block per section."""
    lines: list[str] = []
    sections: list[tuple[str, Any]] = []
    for model in models:
        for name, info in model.model_fields.items():
            dotted = f"{prefix}{name}"
            if _models_in(info.annotation):
                sections.append((dotted, info))
                continue
            lines.append(f"  --{dotted}: {_type_name(info.annotation)} = {_default_text(info)}")
            if info.description:
                lines.append(f"      {' '.join(info.description.split())}")
    for dotted, info in sections:
        title = f"[{dotted}]"
        if info.default is None:
            title += "  (optional: off unless set; 'None' turns it off)"
        if info.description:
            title += f"  {' '.join(info.description.split())}"
        lines.extend(["", title])
        lines.extend(_help_lines(_models_in(info.annotation), f"{dotted}."))
    return lines


def format_help(cls: type[BaseModel], prog: str) -> str:
    """Every field with its dotted name, type, default and description."""
    doc = " ".join((cls.__doc__ or "").strip().split())
    head = [
        f"usage: {prog} [@ FILE.toml ...] [--section.key VALUE ...]",
        "",
        *([doc, ""] if doc else []),
        "Later files win over earlier ones; options win over files. Keys accept kebab-case or",
        "snake_case; 'None' means null; '--flag' / '--no-flag' set booleans.",
        "",
        "options:",
    ]
    return "\n".join(head + _help_lines([cls], "")) + "\n"


# ---------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------


def load_config(cls: type[C], argv: Sequence[str] = ()) -> C:
    """Builds ``cls`` from ``@ file`` arguments and ``--key value`` options; raises ConfigError."""
    files, overrides = _parse_argv(cls, list(argv))
    data: dict[str, Any] = {}
    for path in files:
        raw = _read_toml(path)
        data = _deep_merge(data, _normalize([cls], raw, "", f" in {path}"))
    data = _deep_merge(data, _normalize([cls], overrides, "", " on the command line"))
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(cls, exc)) from None


def parse_config(cls: type[C], argv: Sequence[str] | None = None, prog: str | None = None) -> C:
    """Command-line front end of ``load_config``: ``--help`` exits 0, any error exits 2."""
    args = list(sys.argv[1:] if argv is None else argv)
    name = prog or Path(sys.argv[0]).name or "prime-rl"
    if any(a in _HELP_FLAGS for a in args):
        sys.stdout.write(format_help(cls, name))
        sys.stdout.flush()
        raise SystemExit(0)
    try:
        return load_config(cls, args)
    except ConfigError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG_ERROR) from None


# ---------------------------------------------------------------------------------------------
# Writing configs back (to log the resolved config next to the outputs)
# ---------------------------------------------------------------------------------------------


def _toml_scalar(value: Any) -> str:
    if value is None:
        return '"None"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_scalar(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_scalar(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value), ensure_ascii=False)


def _toml_key(key: str) -> str:
    bare = key.replace("_", "").replace("-", "").isalnum() and key.isascii()
    return key if bare else json.dumps(key)


def _is_table_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _toml_table(data: Mapping[str, Any], path: str, out: list[str]) -> None:
    tables = [(k, v) for k, v in data.items() if isinstance(v, Mapping) and v]
    arrays = [(k, v) for k, v in data.items() if _is_table_list(v)]
    for key, value in data.items():
        if (isinstance(value, Mapping) and value) or _is_table_list(value):
            continue
        out.append(f"{_toml_key(key)} = {_toml_scalar(value)}")
    for key, value in tables:
        name = f"{path}.{_toml_key(key)}" if path else _toml_key(key)
        out.extend(["", f"[{name}]"])
        _toml_table(value, name, out)
    for key, items in arrays:
        name = f"{path}.{_toml_key(key)}" if path else _toml_key(key)
        for item in items:
            out.extend(["", f"[[{name}]]"])
            _toml_table(item, name, out)


def to_toml(config: BaseModel) -> str:
    """The config as TOML that ``load_config`` reads back to an equal config (null as "None")."""
    out: list[str] = []
    _toml_table(config.model_dump(mode="json"), "", out)
    return "\n".join(out).lstrip("\n") + "\n"


def dump(config: BaseModel, path: str | Path) -> Path:
    """Writes ``to_toml(config)`` atomically (tmp file then rename) and returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(to_toml(config), encoding="utf-8")
    os.replace(tmp, target)
    return target
