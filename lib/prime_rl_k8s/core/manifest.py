"""The canonical form of a rendered object: what both the constructs and the CLI emit."""

from __future__ import annotations

from typing import Any

_HEAD = ("apiVersion", "kind", "metadata")


def canonical(value: Any) -> Any:
    """Drop ``None`` values and sort mapping keys, as cdk8s does when it synthesizes."""
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value) if value[key] is not None}
    if isinstance(value, list):
        return [canonical(item) for item in value]
    return value


def manifest(api_version: str, kind: str, metadata: dict[str, Any], **body: Any) -> dict[str, Any]:
    """One API object: ``apiVersion``, ``kind`` and ``metadata`` first, the rest sorted."""
    rest = canonical(body)
    return {"apiVersion": api_version, "kind": kind, "metadata": canonical(metadata), **rest}


def metadata(name: str, namespace: str | None, labels: dict[str, str], **extra: Any) -> dict[str, Any]:
    """Object metadata; a ``None`` namespace is left out so ``kubectl apply -n`` decides."""
    return {"name": name, "namespace": namespace, "labels": labels, **extra}
