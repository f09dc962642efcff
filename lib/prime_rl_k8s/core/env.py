"""Container environment: literal values, Secret references and the downward-API contract env."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .validation import fail, require_bool, require_dns1123_subdomain, require_env_name, require_str

#: The pod-index label the StatefulSet controller sets (Kubernetes >= 1.28); POD_INDEX reads it.
POD_INDEX_FIELD = "metadata.labels['apps.kubernetes.io/pod-index']"
#: The completion-index label of an Indexed Job's pods (Kubernetes >= 1.28): POD_INDEX in a JobSet.
JOB_COMPLETION_INDEX_FIELD = "metadata.labels['batch.kubernetes.io/job-completion-index']"
#: The kernel refuses to exec a process whose single environment string (``NAME=value``) exceeds
#: MAX_ARG_STRLEN (32 pages of 4 KiB); the pod would fail to start with "argument list too long".
MAX_ENV_STRING_BYTES = 131072


@dataclass(frozen=True)
class SecretKeyRef:
    """An env value read from key `key` of Secret `name`.

    ``optional=True`` lets the pod start when the Secret or key is missing (the variable is then
    unset), which suits credentials such as a W&B key that only some runs use.
    """

    name: str
    key: str
    optional: bool = False


@dataclass(frozen=True)
class FieldRef:
    """An env value the kubelet fills from the pod's own fields (the downward API)."""

    field_path: str


#: What an env mapping may hold: literals (numbers and bools are written as YAML would print them),
#: a Secret reference or a downward-API field.
EnvValue = str | int | float | bool | SecretKeyRef | FieldRef


def downward_env(pod_index_field: str = POD_INDEX_FIELD) -> dict[str, FieldRef]:
    """Pod identity from the downward API, so the runtime needs no Kubernetes client."""
    return {
        "POD_NAME": FieldRef("metadata.name"),
        "POD_IP": FieldRef("status.podIP"),
        "POD_NAMESPACE": FieldRef("metadata.namespace"),
        "POD_INDEX": FieldRef(pod_index_field),
    }


def require_env(env: Any, field: str) -> dict[str, EnvValue]:
    """Check an ordered name→value mapping once, so rendering it later cannot fail."""
    if not isinstance(env, Mapping):
        raise fail(field, env, "a mapping of variable names to values")
    for name, value in env.items():
        env_entry(name, value, f"{field}.{name}" if isinstance(name, str) else field)
    return dict(env)


def env_entry(name: Any, value: Any, field: str) -> dict[str, Any]:
    """One container `env` entry in Kubernetes JSON."""
    require_env_name(name, field)
    if isinstance(value, FieldRef):
        return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": require_str(value.field_path, field)}}}
    if isinstance(value, SecretKeyRef):
        secret = require_dns1123_subdomain(value.name, f"{field}.secretKeyRef.name")
        key = require_str(value.key, f"{field}.secretKeyRef.key")
        if not key:
            raise fail(f"{field}.secretKeyRef.key", value.key, "a non-empty Secret key")
        ref: dict[str, Any] = {"key": key, "name": secret}
        if require_bool(value.optional, f"{field}.secretKeyRef.optional"):
            ref["optional"] = True
        return {"name": name, "valueFrom": {"secretKeyRef": ref}}
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str | int | float):
        text = str(value)
    else:
        raise fail(field, value, "a string, number, boolean, SecretKeyRef or FieldRef")
    if len(name.encode()) + len(text.encode()) + 2 > MAX_ENV_STRING_BYTES:
        raise fail(
            field,
            f"<{len(text.encode())} bytes>",
            f"at most {MAX_ENV_STRING_BYTES} bytes with its name (the kernel's limit for one "
            "environment string)",
        )
    return {"name": name, "value": text}
