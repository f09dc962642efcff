"""SharedDataVolume: the ReadWriteMany claim every PRIME-RL pod mounts to exchange rollouts and weights."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from constructs import Construct

from ..core.volume import DEFAULT_MOUNT_PATH, SharedDataModel, SharedDataVolumeProps
from .rendered import ChartContext, RenderedApiObject


class SharedDataVolume(Construct):
    """A PersistentVolumeClaim `<experiment>-shared-data`, or an existing claim, plus its pod wiring.

    Props (keyword only, or one :class:`SharedDataVolumeProps` through :meth:`from_props`):

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
    - ``labels``: extra labels on the claim.

    The claim, when one is created, is the child ``Default``, so ``ApiObject.of(volume)`` finds it.
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
        mount_path: str = DEFAULT_MOUNT_PATH,
        retain_on_delete: bool = False,
        namespace: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(scope, id)
        self._context = ChartContext.of(scope, namespace)
        #: The enclosing Chart's namespace and labels, handed to child constructs.
        self.chart_context = ChartContext.of(scope, None)
        props = SharedDataVolumeProps(
            experiment=experiment,
            storage_class_name=storage_class_name,
            size=size,
            access_modes=access_modes,
            existing_claim_name=existing_claim_name,
            mount_path=mount_path,
            retain_on_delete=retain_on_delete,
            namespace=self._context.namespace,
            labels=labels or {},
        )
        self.model = SharedDataModel(props)
        self.claim: RenderedApiObject | None = None
        if self.model.created:
            self.claim = RenderedApiObject(
                self,
                "Default",
                self.model.claim_manifest,
                api_version="v1",
                kind="PersistentVolumeClaim",
                name=self.model.claim_name,
                context=self._context,
            )

    @classmethod
    def from_props(cls, scope: Construct, id: str, props: SharedDataVolumeProps) -> SharedDataVolume:
        """The same construct from a frozen props object."""
        return cls(scope, id, **{**vars(replace(props)), "labels": dict(props.labels)})

    @property
    def claim_name(self) -> str:
        """The claim pods mount: ``<experiment>-shared-data`` or ``existing_claim_name``."""
        return self.model.claim_name

    @property
    def mount_path(self) -> str:
        return self.model.mount_path

    @property
    def namespace(self) -> str | None:
        return self.model.namespace

    @property
    def created(self) -> bool:
        """Whether this construct creates the claim (False for an existing claim)."""
        return self.model.created

    def volume(self) -> dict[str, Any]:
        """The pod `volumes` entry that refers to the claim (Kubernetes JSON)."""
        return self.model.volume()

    def volume_mount(self) -> dict[str, Any]:
        """The container `volumeMounts` entry that mounts the claim at :attr:`mount_path`."""
        return self.model.volume_mount()
