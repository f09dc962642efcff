"""Validate custom resources against their CRD's openAPIV3Schema, strictly.

A Kubernetes API server prunes or rejects fields a structural schema does not declare; jsonschema
would let them through, so every object schema that lists its properties and does not preserve
unknown fields is closed here (``additionalProperties: false``), and ``x-kubernetes-int-or-string``
accepts exactly an integer or a string.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jsonschema
import yaml

CRD_DIR = Path(__file__).resolve().parents[2] / "crds"


def _strict(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _strict(value) for key, value in schema.items()}
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@functools.cache
def crd_validators() -> dict[tuple[str, str], jsonschema.protocols.Validator]:
    """(apiVersion, kind) -> a strict validator, for every CRD file under crds/."""
    validators = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = _strict(version["schema"]["openAPIV3Schema"])
            # The API server fills these; a manifest's own metadata is checked by its fields below.
            schema["properties"]["metadata"] = {"type": "object"}
            validators[(f"{group}/{version['name']}", kind)] = jsonschema.Draft7Validator(schema)
    return validators


def is_custom_resource(document: dict[str, Any]) -> bool:
    return (document.get("apiVersion"), document.get("kind")) in crd_validators()


def validate_custom_resource(document: dict[str, Any]) -> None:
    """Raises AssertionError listing every violation of the CRD schema."""
    validator = crd_validators()[(document["apiVersion"], document["kind"])]
    errors = sorted(validator.iter_errors(document), key=lambda error: list(error.absolute_path))
    assert not errors, "\n".join(
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in errors
    )
