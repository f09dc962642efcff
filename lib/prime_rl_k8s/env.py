"""Container environment: literal values, Secret references and the downward-API contract env."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cdk8s_plus_28 import k8s

from .validation import fail, require_bool, require_dns1123_subdomain, require_env_name, require_str

#: The pod-index label the StatefulSet controller sets (Kubernetes >= 1.28); POD_INDEX reads it.
POD_INDEX_FIELD = "metadata.labels['apps.kubernetes.io/pod-index']"


@dataclass(frozen=True)
class SecretKeyRef:
    """An env value read from key `key` of Secret `name`.

    ``optional=True`` lets the pod start when the Secret or key is missing (the variable is then
    unset), which suits credentials such as a W&B key that only some runs use.
    """

    name: str
    key: str
    optional: bool = False


#: What an env mapping may hold: literals (numbers and bools are written as YAML would print them)
#: or a Secret reference.
EnvValue = str | int | float | bool | SecretKeyRef


def downward_env() -> dict[str, k8s.EnvVarSource]:
    """Pod identity from the downward API, so the runtime needs no Kubernetes client."""
    return {
        "POD_NAME": _field_ref("metadata.name"),
        "POD_IP": _field_ref("status.podIP"),
        "POD_NAMESPACE": _field_ref("metadata.namespace"),
        "POD_INDEX": _field_ref(POD_INDEX_FIELD),
    }


def env_vars(env: Mapping[str, EnvValue | k8s.EnvVarSource], field: str) -> list[k8s.EnvVar]:
    """Turn an ordered name→value mapping into container env entries, validating names and values."""
    if not isinstance(env, Mapping):
        raise fail(field, env, "a mapping of variable names to values")
    return [_env_var(name, value, f"{field}.{name}") for name, value in env.items()]


def _env_var(name: Any, value: Any, field: str) -> k8s.EnvVar:
    require_env_name(name, field)
    if isinstance(value, k8s.EnvVarSource):
        return k8s.EnvVar(name=name, value_from=value)
    if isinstance(value, SecretKeyRef):
        secret = require_dns1123_subdomain(value.name, f"{field}.secretKeyRef.name")
        key = require_str(value.key, f"{field}.secretKeyRef.key")
        if not key:
            raise fail(f"{field}.secretKeyRef.key", value.key, "a non-empty Secret key")
        optional = require_bool(value.optional, f"{field}.secretKeyRef.optional")
        ref = k8s.SecretKeySelector(name=secret, key=key, optional=optional or None)
        return k8s.EnvVar(name=name, value_from=k8s.EnvVarSource(secret_key_ref=ref))
    if isinstance(value, bool):
        return k8s.EnvVar(name=name, value="true" if value else "false")
    if isinstance(value, str | int | float):
        return k8s.EnvVar(name=name, value=str(value))
    raise fail(field, value, "a string, number, boolean or SecretKeyRef")


def _field_ref(path: str) -> k8s.EnvVarSource:
    return k8s.EnvVarSource(field_ref=k8s.ObjectFieldSelector(field_path=path))
