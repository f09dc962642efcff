"""The one bridge from the render core to cdk8s: an ApiObject whose body is rendered at synthesis."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import cdk8s
from constructs import Construct

from ..core.manifest import canonical
from ..core.validation import require_dns1123_label


class RenderedApiObject(cdk8s.ApiObject):
    """An API object whose manifest comes from ``render()`` each time cdk8s synthesizes it.

    Rendering late lets the owning construct accept ``add_*`` calls after construction. The
    object stays an ordinary cdk8s ``ApiObject``: the Chart's labels are applied, labels and
    annotations added through ``metadata`` are kept, and ``add_json_patch`` patches the final
    Kubernetes JSON, so a patch spelled as the API spells it (``clusterIP``, a raw quantity such
    as ``rdma/ib: 1``) keeps its value.

    Synthesis asks Node.js for the metadata only when Python code has touched ``metadata``;
    every other object renders in one callback.
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
        context: ChartContext,
    ) -> None:
        self._metadata_touched = False
        super().__init__(
            scope,
            id,
            api_version=api_version,
            kind=kind,
            metadata={"name": name, "namespace": context.namespace},
        )
        self._render = render
        self._chart_labels = context.labels
        self._patches: list[cdk8s.JsonPatch] = []

    @property
    def metadata(self) -> cdk8s.ApiObjectMetadataDefinition:
        """The cdk8s metadata; what is added to it is merged into the rendered metadata."""
        self._metadata_touched = True
        return super().metadata

    def add_json_patch(self, *ops: cdk8s.JsonPatch) -> None:
        """Apply JSON patches (RFC 6902) to the rendered Kubernetes JSON, in the order added."""
        self._patches.extend(ops)

    def to_json(self) -> Any:
        document = self._render()
        metadata = dict(document["metadata"])
        if self._chart_labels:
            metadata["labels"] = {**self._chart_labels, **metadata.get("labels", {})}
        if self._metadata_touched:
            for key, value in self.metadata.to_json().items():
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


@dataclass(frozen=True)
class ChartContext:
    """What a construct takes from its enclosing Chart: the namespace and the Chart's labels."""

    namespace: str | None
    labels: Mapping[str, str]

    @classmethod
    def of(cls, scope: Construct, namespace: str | None) -> ChartContext:
        """The enclosing Chart's context; an explicit namespace wins over the Chart's.

        Read once per Chart and handed down through this library's constructs, since every
        read is a round trip to Node.js.
        """
        chart_context = getattr(scope, "chart_context", None)
        if not isinstance(chart_context, ChartContext):
            chart = cdk8s.Chart.of(scope)
            chart_context = getattr(chart, "chart_context", None)
            if not isinstance(chart_context, ChartContext):
                chart_namespace = chart.namespace
                if chart_namespace is not None:
                    require_dns1123_label(chart_namespace, "namespace")
                chart_context = cls(chart_namespace, dict(chart.labels))
                chart.chart_context = chart_context
        if namespace is None:
            return chart_context
        return cls(require_dns1123_label(namespace, "namespace"), chart_context.labels)


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
