"""GpuStatefulSet: a StatefulSet of GPU pods with stable DNS names, done right for distributed ML."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

from constructs import Construct

from ..core.env import EnvValue
from ..core.naming import DEFAULT_CLUSTER_DOMAIN, service_fqdn
from ..core.statefulset import (
    DEFAULT_RUN_AS_USER,
    DEFAULT_TOPOLOGY_KEY,
    GpuStatefulSetModel,
    GpuStatefulSetProps,
)
from .rendered import ChartContext, RenderedApiObject, kubernetes_json
from .volume import SharedDataVolume


class GpuStatefulSet(Construct):
    """A StatefulSet, its headless Service and optionally a ClusterIP Service, for GPU workloads.

    Pods are ``<name>-0 .. <name>-(replicas-1)``, reachable at ``pod_fqdn(i)`` through the
    headless Service ``<name>-headless`` (which publishes not-ready addresses, so torchrun
    rendezvous and NCCL can resolve peers before they pass readiness). ``podManagementPolicy`` is
    ``Parallel`` so all ranks start together. Children: ``Default`` (the StatefulSet, so
    ``ApiObject.of(sts)`` finds it), ``headless`` and ``service``. Manifests are rendered when the
    app synthesizes, so :meth:`add_env`, :meth:`add_volume`, :meth:`add_toleration` and
    :meth:`add_pod_annotation` work after construction.

    Props (keyword only, or one :class:`GpuStatefulSetProps` through :meth:`from_props`):

    - ``instance``: the experiment/release name (label ``app.kubernetes.io/instance``).
    - ``component``: the role (label ``app.kubernetes.io/component``, container name, ``ROLE`` env).
    - ``image``: full image reference. ``image_pull_policy``: default ``"IfNotPresent"``; one of
      Always, IfNotPresent, Never.
    - ``name``: default ``<instance>-<component>``; a DNS-1035 label of at most 52 characters (so
      the controller-revision-hash label fits); ``<name>-headless`` must fit in 63.
    - ``namespace``: default ``None``: the Chart's namespace if set, else no ``metadata.namespace``
      and FQDNs use ``default``.
    - ``replicas``: default 1; integer >= 0.
    - ``gpu_count``: default 0; ``nvidia.com/gpu`` per pod, written to requests and limits alike.
    - ``command``: default ``None`` (the image's entrypoint). A list is the argv as is; a string is
      run as ``["bash", "-c", command]`` verbatim, so ``#``, ``: `` and ``&&`` keep their shell meaning.
    - ``env``: extra variables (name → literal, :class:`SecretKeyRef` or :class:`FieldRef`), after
      the contract env; a name given here replaces a contract variable of the same name.
    - ``cpu_request``/``memory_request``/``cpu_limit``/``memory_limit``: default ``None`` (omitted);
      Kubernetes quantities; a request above its limit is rejected.
    - ``runtime_class_name``: default ``None``: ``"nvidia"`` when ``gpu_count > 0``, none
      otherwise; ``""`` omits it even for GPU pods; any other string is used as is.
    - ``shm_size_gib``: default ``None``: a 16 GiB memory-backed ``/dev/shm`` when
      ``gpu_count > 0``, none otherwise; ``0`` disables it; a positive number sets its size
      (it counts against the memory limit, so it may not exceed ``memory_limit``).
    - ``ports``: default none; port name → container port, published on both Services.
    - ``service_enabled``: default ``False``; also create a ClusterIP-style Service ``<name>``
      (needs at least one port). ``service_type``: default ``"ClusterIP"``; or NodePort, LoadBalancer.
    - ``node_selector``: default none. ``tolerations``: Kubernetes-shaped mappings (``key``,
      ``operator``, ``value``, ``effect``, ``tolerationSeconds``) added after the default toleration
      of the ``nvidia.com/gpu`` taint (``Exists``/``NoSchedule``) that GPU pods get.
    - ``pod_anti_affinity``: default ``None``; ``"required"`` or ``"preferred"`` keeps pods of this
      instance and component apart on ``anti_affinity_topology_key`` (default
      ``kubernetes.io/hostname``).
    - ``shared_data``: a :class:`SharedDataVolume` to mount in every pod.
    - ``volumes``/``volume_mounts``: default none; more pod volumes and container mounts in
      Kubernetes JSON, after the shared volume and before ``/dev/shm``.
    - ``labels``: extra labels on every object and pod (never in selectors).
    - ``readiness_path``: default ``None``; an HTTP path probed on the first port for readiness.
    - ``termination_grace_period_seconds``: default ``None`` (Kubernetes' 30 s): how long a pod may
      take to stop after SIGTERM before it is killed.
    - ``run_as_user``: default ``1000`` (the uid the PRIME-RL images use): pods run as that uid with
      ``runAsNonRoot``, so the kubelet refuses to start them as root. ``0`` runs them as root and
      ``None`` leaves the user to the image; neither sets ``runAsNonRoot`` (the kubelet would refuse
      a root user, and it cannot tell whether an image's named user is root).
    - ``cluster_domain``: default ``"cluster.local"``, used in FQDNs.

    Every pod gets ``POD_NAME``, ``POD_IP``, ``POD_NAMESPACE``, ``POD_INDEX`` (downward API),
    ``ROLE``, ``STATEFUL_REPLICAS`` and ``HEADLESS_SERVICE`` (the headless Service FQDN).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        instance: str,
        component: str,
        image: str,
        name: str | None = None,
        namespace: str | None = None,
        replicas: int = 1,
        gpu_count: int = 0,
        command: Sequence[str] | str | None = None,
        env: Mapping[str, EnvValue] | None = None,
        image_pull_policy: str = "IfNotPresent",
        cpu_request: str | int | float | None = None,
        memory_request: str | int | None = None,
        cpu_limit: str | int | float | None = None,
        memory_limit: str | int | None = None,
        runtime_class_name: str | None = None,
        shm_size_gib: int | float | None = None,
        ports: Mapping[str, int] | None = None,
        service_enabled: bool = False,
        service_type: str = "ClusterIP",
        node_selector: Mapping[str, str] | None = None,
        tolerations: Sequence[Mapping[str, Any]] = (),
        pod_anti_affinity: str | None = None,
        anti_affinity_topology_key: str = DEFAULT_TOPOLOGY_KEY,
        shared_data: SharedDataVolume | None = None,
        volumes: Sequence[Mapping[str, Any]] = (),
        volume_mounts: Sequence[Mapping[str, Any]] = (),
        labels: Mapping[str, str] | None = None,
        readiness_path: str | None = None,
        termination_grace_period_seconds: int | None = None,
        run_as_user: int | None = DEFAULT_RUN_AS_USER,
        cluster_domain: str = DEFAULT_CLUSTER_DOMAIN,
    ) -> None:
        super().__init__(scope, id)
        self._context = ChartContext.of(scope, namespace)
        #: The enclosing Chart's namespace and labels, handed to child constructs.
        self.chart_context = ChartContext.of(scope, None)
        shared_volumes, shared_mounts = (
            ((shared_data.volume(),), (shared_data.volume_mount(),)) if shared_data is not None else ((), ())
        )
        self.model = GpuStatefulSetModel(
            GpuStatefulSetProps(
                instance=instance,
                component=component,
                image=image,
                name=name,
                namespace=self._context.namespace,
                replicas=replicas,
                gpu_count=gpu_count,
                command=command,
                env={} if env is None else env,
                image_pull_policy=image_pull_policy,
                cpu_request=cpu_request,
                memory_request=memory_request,
                cpu_limit=cpu_limit,
                memory_limit=memory_limit,
                runtime_class_name=runtime_class_name,
                shm_size_gib=shm_size_gib,
                ports={} if ports is None else ports,
                service_enabled=service_enabled,
                service_type=service_type,
                node_selector={} if node_selector is None else node_selector,
                tolerations=_as_json(tolerations, "toleration"),
                pod_anti_affinity=pod_anti_affinity,
                anti_affinity_topology_key=anti_affinity_topology_key,
                volumes=_after(shared_volumes, _as_json(volumes, "volume")),
                volume_mounts=_after(shared_mounts, volume_mounts),
                labels={} if labels is None else labels,
                readiness_path=readiness_path,
                termination_grace_period_seconds=termination_grace_period_seconds,
                run_as_user=run_as_user,
                cluster_domain=cluster_domain,
            )
        )
        model = self.model
        self.statefulset = RenderedApiObject(
            self,
            "Default",
            model.statefulset_manifest,
            api_version="apps/v1",
            kind="StatefulSet",
            name=model.name,
            context=self._context,
        )
        self.headless_service = RenderedApiObject(
            self,
            "headless",
            model.headless_service_manifest,
            api_version="v1",
            kind="Service",
            name=model.address.headless_service_name,
            context=self._context,
        )
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

    @classmethod
    def from_props(cls, scope: Construct, id: str, props: GpuStatefulSetProps) -> GpuStatefulSet:
        """The same construct from a frozen props object."""
        return cls(scope, id, **{f.name: getattr(props, f.name) for f in fields(props)})

    # -- facts ---------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The StatefulSet's name, which prefixes its pods' names."""
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
        """`<name>-headless.<namespace>.svc.<domain>`: resolves to every pod, ready or not."""
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
        """Stable name of pod `index` (0-based), e.g. `exp-trainer-0`."""
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


def _as_json(items: Any, kind: str) -> Any:
    """Each typed cdk8s-plus-28 struct of a list as Kubernetes JSON; anything else as given.

    A value that is not a list goes through unchanged, so the core reports it by its prop name.
    """
    if isinstance(items, str) or not isinstance(items, Sequence):
        return items
    return [kubernetes_json(item, kind) for item in items]


def _after(first: tuple[dict[str, Any], ...], items: Any) -> Any:
    """``first`` followed by ``items``; anything but a list goes through for the core to report."""
    if isinstance(items, str) or not isinstance(items, Sequence):
        return items
    return (*first, *items)
