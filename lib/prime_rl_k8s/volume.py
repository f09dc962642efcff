"""SharedDataVolume: the ReadWriteMany claim every PRIME-RL pod mounts to exchange rollouts and weights."""

from __future__ import annotations

from collections.abc import Sequence

from cdk8s_plus_28 import k8s
from constructs import Construct

from .naming import resolve_namespace, standard_labels
from .validation import (
    ACCESS_MODES,
    MAX_NAME_LENGTH,
    fail,
    require_bool,
    require_dns1035_label,
    require_dns1123_subdomain,
    require_generated_name,
    require_one_of,
    require_quantity,
)

#: Annotations that keep the claim (and its data) when the release or Argo CD application is deleted.
RETAIN_ANNOTATIONS = {
    "helm.sh/resource-policy": "keep",
    "argocd.argoproj.io/sync-options": "Delete=false",
}
#: The pod-level volume name; fixed so pod specs stay readable whatever the claim is called.
VOLUME_NAME = "shared-data"


class SharedDataVolume(Construct):
    """A PersistentVolumeClaim `<experiment>-shared-data`, or an existing claim, plus its pod wiring.

    Props (keyword only):

    - ``experiment``: the experiment (release) name; the claim is named ``<experiment>-shared-data``.
    - ``storage_class_name``: default ``"nfs"``. ``None`` omits the field so the cluster's default
      class provisions the claim; ``""`` is written as is (bind a pre-created PersistentVolume).
    - ``size``: default ``"1Ti"``; any positive Kubernetes quantity.
    - ``access_modes``: default ``("ReadWriteMany",)``, because orchestrator, inference and trainer
      pods on different nodes all read and write it.
    - ``existing_claim_name``: when set, no claim is created and pods mount this claim instead
      (``storage_class_name``, ``size`` and ``access_modes`` are then unused).
    - ``mount_path``: default ``"/data"``; absolute path where every pod sees the volume.
    - ``retain_on_delete``: default ``False``. ``True`` annotates the claim so Helm
      (``helm.sh/resource-policy: keep``) and Argo CD (``Delete=false``) leave it, and the data, in
      place when the application is deleted.
    - ``namespace``: default ``None``: the enclosing Chart's namespace if it has one, otherwise no
      ``metadata.namespace`` (the namespace ``kubectl apply`` targets).
    - ``config_path``: default ``"storage"``; the field prefix used in error messages.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        experiment: str,
        storage_class_name: str | None = "nfs",
        size: str | int = "1Ti",
        access_modes: Sequence[str] = ("ReadWriteMany",),
        existing_claim_name: str | None = None,
        mount_path: str = "/data",
        retain_on_delete: bool = False,
        namespace: str | None = None,
        labels: dict[str, str] | None = None,
        config_path: str = "storage",
    ) -> None:
        super().__init__(scope, id)
        require_dns1035_label(experiment, "name")
        self.mount_path = require_mount_path(mount_path, f"{config_path}.mountPath")
        require_bool(retain_on_delete, f"{config_path}.retain")
        self.namespace = resolve_namespace(self, namespace)
        self.created = existing_claim_name is None
        if existing_claim_name is not None:
            self.claim_name = require_dns1123_subdomain(existing_claim_name, f"{config_path}.existingClaim")
            return
        self.claim_name = require_generated_name(
            f"{experiment}-shared-data", "PersistentVolumeClaim", MAX_NAME_LENGTH, "name", experiment
        )
        if storage_class_name is not None and storage_class_name != "":
            require_dns1123_subdomain(storage_class_name, f"{config_path}.storageClassName")
        if isinstance(access_modes, str) or not isinstance(access_modes, Sequence) or not access_modes:
            allowed = "a non-empty list of " + ", ".join(ACCESS_MODES)
            raise fail(f"{config_path}.accessModes", access_modes, allowed)
        modes = [require_one_of(mode, f"{config_path}.accessModes", ACCESS_MODES) for mode in access_modes]
        requested = require_quantity(size, f"{config_path}.size", positive=True)
        k8s.KubePersistentVolumeClaim(
            self,
            "claim",
            metadata=k8s.ObjectMeta(
                name=self.claim_name,
                namespace=self.namespace,
                labels={**standard_labels(experiment, "shared-data"), **(labels or {})},
                annotations=dict(RETAIN_ANNOTATIONS) if retain_on_delete else None,
            ),
            spec=k8s.PersistentVolumeClaimSpec(
                access_modes=modes,
                storage_class_name=storage_class_name,
                resources=k8s.ResourceRequirements(requests={"storage": k8s.Quantity.from_string(requested)}),
            ),
        )

    def volume(self) -> k8s.Volume:
        """The pod `volumes` entry that refers to the claim."""
        return k8s.Volume(
            name=VOLUME_NAME,
            persistent_volume_claim=k8s.PersistentVolumeClaimVolumeSource(claim_name=self.claim_name),
        )

    def volume_mount(self) -> k8s.VolumeMount:
        """The container `volumeMounts` entry that mounts the claim at :attr:`mount_path`."""
        return k8s.VolumeMount(name=VOLUME_NAME, mount_path=self.mount_path)


def require_mount_path(value: object, field: str) -> str:
    """An absolute, normalised container path that does not hide the root or /dev/shm."""
    path = value if isinstance(value, str) else ""
    parts = path.split("/")
    if (
        not path.startswith("/")
        or path == "/"
        or path.endswith("/")
        or "" in parts[1:]
        or ".." in parts
        or "." in parts
        or path in ("/dev", "/dev/shm")
        or path.startswith("/dev/shm/")
    ):
        raise fail(field, value, "an absolute path such as /data (not /, /dev or /dev/shm)")
    return path
