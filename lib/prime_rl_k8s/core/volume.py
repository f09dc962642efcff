"""The shared ReadWriteMany claim every PRIME-RL pod mounts to exchange rollouts and weights."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .manifest import manifest, metadata
from .naming import standard_labels
from .validation import (
    MAX_NAME_LENGTH,
    require_access_modes,
    require_bool,
    require_dns1035_label,
    require_dns1123_label,
    require_dns1123_subdomain,
    require_generated_name,
    require_labels,
    require_mount_path,
    require_quantity,
)

#: Annotations that keep the claim (and its data) when the release or Argo CD application is deleted.
RETAIN_ANNOTATIONS = {
    "helm.sh/resource-policy": "keep",
    "argocd.argoproj.io/sync-options": "Delete=false",
}
#: The pod-level volume name; fixed so pod specs stay readable whatever the claim is called.
VOLUME_NAME = "shared-data"
DEFAULT_MOUNT_PATH = "/data"


@dataclass(frozen=True)
class SharedDataVolumeProps:
    """Props of :class:`SharedDataVolume` (see there for each default's behaviour)."""

    experiment: str
    storage_class_name: str | None = "nfs"
    size: str | int = "1Ti"
    access_modes: Sequence[str] = ("ReadWriteMany",)
    existing_claim_name: str | None = None
    mount_path: str = DEFAULT_MOUNT_PATH
    retain_on_delete: bool = False
    namespace: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


class SharedDataModel:
    """Validated :class:`SharedDataVolumeProps` and what they render to.

    ``field_name`` maps a prop name to the name errors should use (the experiment calls
    ``size`` ``storage_size``).
    """

    def __init__(self, props: SharedDataVolumeProps, field_name: Callable[[str], str] = str) -> None:
        f = field_name
        self.props = props
        self.experiment = require_dns1035_label(props.experiment, f("experiment"))
        self.mount_path = require_mount_path(props.mount_path, f("mount_path"))
        self.retain_on_delete = require_bool(props.retain_on_delete, f("retain_on_delete"))
        self.namespace = (
            None if props.namespace is None else require_dns1123_label(props.namespace, "namespace")
        )
        self.labels = {
            **standard_labels(self.experiment, VOLUME_NAME),
            **require_labels(props.labels, "labels"),
        }
        self.created = props.existing_claim_name is None
        if not self.created:
            self.claim_name = require_dns1123_subdomain(props.existing_claim_name, f("existing_claim_name"))
            return
        self.claim_name = require_generated_name(
            f"{self.experiment}-shared-data",
            "PersistentVolumeClaim",
            MAX_NAME_LENGTH,
            f("experiment"),
            self.experiment,
        )
        if props.storage_class_name:
            require_dns1123_subdomain(props.storage_class_name, f("storage_class_name"))
        self.access_modes = require_access_modes(props.access_modes, f("access_modes"))
        self.size = require_quantity(props.size, f("size"), positive=True)

    def manifests(self) -> list[dict[str, Any]]:
        """The PersistentVolumeClaim, or nothing when pods mount an existing claim."""
        return [self.claim_manifest()] if self.created else []

    def claim_manifest(self) -> dict[str, Any]:
        """The PersistentVolumeClaim this volume creates (only when :attr:`created`)."""
        annotations = dict(RETAIN_ANNOTATIONS) if self.retain_on_delete else None
        return manifest(
            "v1",
            "PersistentVolumeClaim",
            metadata(self.claim_name, self.namespace, self.labels, annotations=annotations),
            spec={
                "accessModes": self.access_modes,
                "resources": {"requests": {"storage": self.size}},
                "storageClassName": self.props.storage_class_name,
            },
        )

    def volume(self) -> dict[str, Any]:
        """The pod `volumes` entry that refers to the claim."""
        return {"name": VOLUME_NAME, "persistentVolumeClaim": {"claimName": self.claim_name}}

    def volume_mount(self) -> dict[str, Any]:
        """The container `volumeMounts` entry that mounts the claim at :attr:`mount_path`."""
        return {"mountPath": self.mount_path, "name": VOLUME_NAME}
