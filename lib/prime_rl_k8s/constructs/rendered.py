"""The one bridge from the render core to cdk8s: an ApiObject whose body is rendered at synthesis."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import cdk8s
from constructs import Construct

from ..core.manifest import canonical
from ..core.validation import require_dns1123_label


class RenderedApiObject(cdk8s.ApiObject):
    """An API object whose manifest comes from ``render()`` each time cdk8s synthesizes it.

    Rendering late lets the owning construct accept ``add_*`` calls after construction. The
    object stays an ordinary cdk8s ``ApiObject``: labels and annotations added through
    ``metadata`` are kept, and ``add_json_patch`` patches the final Kubernetes JSON, so a patch
    spelled as the API spells it (``clusterIP``, a raw quantity such as ``rdma/ib: 1``) keeps its
    value.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        render: Callable[[], dict[str, Any]],
        *,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None,
    ) -> None:
        super().__init__(
            scope, id, api_version=api_version, kind=kind, metadata={"name": name, "namespace": namespace}
        )
        self._render = render
        self._patches: list[cdk8s.JsonPatch] = []

    def add_json_patch(self, *ops: cdk8s.JsonPatch) -> None:
        """Apply JSON patches (RFC 6902) to the rendered Kubernetes JSON, in the order added."""
        self._patches.extend(ops)

    def to_json(self) -> Any:
        document = self._render()
        added = self.metadata.to_json()
        metadata = dict(document["metadata"])
        for key, value in added.items():
            if key in ("name", "namespace"):
                continue
            if isinstance(value, Mapping) and isinstance(metadata.get(key), Mapping):
                metadata[key] = {**metadata[key], **value}
            else:
                metadata[key] = value
        document["metadata"] = canonical(metadata)
        if self._patches:
            document = cdk8s.JsonPatch.apply(document, *self._patches)
        return document


def resolve_namespace(scope: Construct, namespace: str | None) -> str | None:
    """An explicit namespace wins; otherwise the enclosing Chart's, so FQDNs match where objects land."""
    if namespace is not None:
        return require_dns1123_label(namespace, "namespace")
    chart_namespace = cdk8s.Chart.of(scope).namespace
    if chart_namespace is None:
        return None
    return require_dns1123_label(chart_namespace, "namespace")


def kubernetes_json(value: Any, kind: str) -> Any:
    """A cdk8s-plus-28 ``k8s.Volume``/``k8s.Toleration``/``k8s.VolumeMount`` as Kubernetes JSON.

    Mappings are taken to be Kubernetes JSON already and returned as they are. A typed struct is
    rendered by cdk8s-plus-28 itself (inside a throwaway Pod manifest), so its field names and
    quantities come out exactly as the API spells them.
    """
    if isinstance(value, Mapping):
        return dict(value)
    from cdk8s_plus_28 import k8s

    if kind == "volume" and isinstance(value, k8s.Volume):
        spec = k8s.PodSpec(containers=[k8s.Container(name="c")], volumes=[value])
        return k8s.KubePod.manifest(spec=spec)["spec"]["volumes"][0]
    if kind == "toleration" and isinstance(value, k8s.Toleration):
        spec = k8s.PodSpec(containers=[k8s.Container(name="c")], tolerations=[value])
        return k8s.KubePod.manifest(spec=spec)["spec"]["tolerations"][0]
    return value
