"""What every construct of GPU pods offers: facts about its pods and additions after construction."""

from __future__ import annotations

from typing import Any

from constructs import Construct

from ..core.env import EnvValue
from ..core.naming import service_fqdn
from ..core.statefulset import GpuStatefulSetModel
from .rendered import ChartContext, RenderedApiObject, kubernetes_json


class GpuPods(Construct):
    """A role's pods, rendered from one :class:`GpuStatefulSetModel` when the app synthesizes.

    Subclasses create the controller (a StatefulSet, or a replicated job of a JobSet); this base
    adds the role's load-balanced Service and disruption budget, the facts (names, DNS, ports)
    and the ``add_*`` methods, which therefore work alike in both workload modes.
    """

    model: GpuStatefulSetModel
    _context: ChartContext

    def _add_service_and_budget(self) -> None:
        model = self.model
        self.service: RenderedApiObject | None = None
        if model.service_enabled:
            self.service = RenderedApiObject(
                self,
                "service",
                model.service_manifest,
                api_version="v1",
                kind="Service",
                name=model.name,
                context=self._context,
            )
        self.pod_disruption_budget: RenderedApiObject | None = None
        if model.pod_disruption_budget:
            self.pod_disruption_budget = RenderedApiObject(
                self,
                "disruption-budget",
                model.pod_disruption_budget_manifest,
                api_version="policy/v1",
                kind="PodDisruptionBudget",
                name=model.name,
                context=self._context,
            )

    # -- facts ---------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """``<instance>-<component>``: the role's Services (and StatefulSet) are named after it."""
        return self.model.name

    @property
    def namespace(self) -> str | None:
        return self.model.namespace

    @property
    def instance(self) -> str:
        return self.model.instance

    @property
    def component(self) -> str:
        return self.model.component

    @property
    def replicas(self) -> int:
        return self.model.replicas

    @property
    def gpu_count(self) -> int:
        return self.model.gpu_count

    @property
    def ports(self) -> dict[str, int]:
        """Port name -> container port, as published on the Services."""
        return dict(self.model.ports)

    @property
    def labels(self) -> dict[str, str]:
        """Labels on every object and pod (the standard ones plus ``labels``)."""
        return dict(self.model.labels)

    @property
    def selector(self) -> dict[str, str]:
        """What the Services and anti-affinity select: name, instance and component."""
        return dict(self.model.selector)

    @property
    def headless_service_name(self) -> str:
        return self.model.address.headless_service_name

    @property
    def headless_service_fqdn(self) -> str:
        """FQDN of the headless Service (`<name>-headless`, or the JobSet's subdomain): every pod."""
        return self.model.address.headless_service_fqdn

    @property
    def service_name(self) -> str | None:
        """The load-balanced Service's name, or None when ``service_enabled`` is false."""
        return self.model.service_name

    @property
    def service_fqdn(self) -> str | None:
        """FQDN of the load-balanced Service, or None when ``service_enabled`` is false."""
        if self.model.service_name is None:
            return None
        return service_fqdn(self.model.service_name, self.namespace, self.model.address.cluster_domain)

    def pod_name(self, index: int) -> str:
        """Stable name of pod `index` (0-based): `exp-trainer-0`, or `exp-trainer-0-0` in a JobSet."""
        return self.model.address.pod_name(index)

    def pod_fqdn(self, index: int) -> str:
        """DNS name of pod `index` through the headless Service: `<pod>.<headless FQDN>`."""
        return self.model.address.pod_fqdn(index)

    # -- additions -----------------------------------------------------------------------------
    def add_env(self, name: str, value: EnvValue) -> dict[str, Any]:
        """Add a variable to the container after the others; returns its env entry.

        A name that is already set (the contract env included) is refused.
        """
        return self.model.add_env(name, value)

    def add_volume(
        self, volume: Any, mount_path: str | None = None, *, read_only: bool = False
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Add a pod volume and, with ``mount_path``, mount it in the container.

        ``volume`` is a cdk8s-plus-28 ``k8s.Volume`` or its Kubernetes JSON
        (``{"name": "cache", "emptyDir": {}}``). Returns the volume and the mount (or None) as
        Kubernetes JSON. A volume name or mount path already in use is refused.
        """
        return self.model.add_volume(kubernetes_json(volume, "volume"), mount_path, read_only=read_only)

    def add_toleration(self, toleration: Any) -> dict[str, Any]:
        """Add a toleration (a ``k8s.Toleration`` or its Kubernetes JSON); a repeat is refused."""
        return self.model.add_toleration(kubernetes_json(toleration, "toleration"))

    def add_pod_annotation(self, key: str, value: str) -> tuple[str, str]:
        """Annotate the pod template (changing it rolls the pods); a key already set is refused."""
        return self.model.add_pod_annotation(key, value)
