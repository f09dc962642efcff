"""GpuStatefulSet: a StatefulSet of GPU pods with stable DNS names, done right for distributed ML."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

from constructs import Construct

from ..core.env import EnvValue
from ..core.naming import DEFAULT_CLUSTER_DOMAIN
from ..core.statefulset import (
    DEFAULT_RUN_AS_USER,
    DEFAULT_TOPOLOGY_KEY,
    GpuStatefulSetModel,
    GpuStatefulSetProps,
)
from .pods import GpuPods
from .rendered import ChartContext, RenderedApiObject, kubernetes_json
from .volume import SharedDataVolume


class GpuStatefulSet(GpuPods):
    """A StatefulSet, its headless Service and optionally a ClusterIP Service, for GPU workloads.

    Pods are ``<name>-0 .. <name>-(replicas-1)``, reachable at ``pod_fqdn(i)`` through the
    headless Service ``<name>-headless`` (which publishes not-ready addresses, so torchrun
    rendezvous and NCCL can resolve peers before they pass readiness). ``podManagementPolicy`` is
    ``Parallel`` so all ranks start together. Children: ``Default`` (the StatefulSet, so
    ``ApiObject.of(sts)`` finds it), ``headless``, ``service`` and ``disruption-budget``.
    Manifests are rendered when the app synthesizes, so :meth:`add_env`, :meth:`add_volume`,
    :meth:`add_toleration` and :meth:`add_pod_annotation` work after construction.

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
      ``kubernetes.io/hostname``); a mapping is a full Kubernetes ``PodAntiAffinity``, used as is.
    - ``affinity``: default none; a full Kubernetes ``Affinity`` (node, pod and pod anti-affinity),
      checked against the API's shape; its ``podAntiAffinity`` and ``pod_anti_affinity`` exclude
      each other. ``topology_spread_constraints``: default none; Kubernetes
      ``TopologySpreadConstraint`` mappings.
    - ``pod_labels``/``pod_annotations``: default none; on the pod template only (never in
      selectors; the standard labels cannot be overridden).
    - ``extra_resources``: default none; extended resources such as ``{"rdma/ib": 1}``, requested
      and limited alike.
    - ``env_from``: default none; Kubernetes ``EnvFromSource`` mappings (``configMapRef`` or
      ``secretRef``, optional ``prefix``).
    - ``image_pull_secrets``: default none; Secret names for pulling the image.
    - ``service_account_name``: default none (the namespace's ``default``).
    - ``capabilities_add``: default none; capabilities added back after dropping all
      (``IPC_LOCK`` for RDMA).
    - ``read_only_root_filesystem``: default ``False``; ``True`` makes the container's root
      filesystem read-only and mounts a writable ``emptyDir`` at ``/tmp``.
    - ``shared_data``: a :class:`SharedDataVolume` to mount in every pod.
    - ``volumes``/``volume_mounts``: default none; more pod volumes and container mounts in
      Kubernetes JSON, after the shared volume and before ``/dev/shm``.
    - ``labels``: extra labels on every object and pod (never in selectors).
    - ``startup_probe``/``liveness_probe``/``readiness_probe``: default none; container probes in
      Kubernetes JSON with one handler (``{"httpGet": {"path": "/health", "port": "http"}, ...}``);
      a named port must be one of ``ports``.
    - ``priority_class_name``: default none; the pods' PriorityClass.
    - ``update_strategy``: default ``"RollingUpdate"``; ``"OnDelete"`` changes pods only when they
      are deleted, so a distributed job is never rolled one rank at a time.
    - ``queue_name``: default none; a Kueue LocalQueue, written as the ``kueue.x-k8s.io/queue-name``
      label of the StatefulSet so Kueue admits its pods together.
    - ``pod_disruption_budget``: default ``False``; ``True`` adds a PodDisruptionBudget
      ``<name>`` with ``maxUnavailable: 0`` (child ``disruption-budget``): a node drain waits
      instead of evicting one pod of a running gang.
    - ``termination_grace_period_seconds``: default ``None`` (Kubernetes' 30 s): how long a pod may
      take to stop after SIGTERM before it is killed.
    - ``run_as_user``: default ``10001`` (the uid the PRIME-RL images use): pods run as that uid with
      ``runAsNonRoot``, so the kubelet refuses to start them as root. ``0`` runs them as root and
      ``None`` leaves the user to the image; neither sets ``runAsNonRoot`` (the kubelet would refuse
      a root user, and it cannot tell whether an image's named user is root).
    - ``cluster_domain``: default ``"cluster.local"``, used in FQDNs.

    Requests and limits: GPU pods are Guaranteed, so a CPU or memory request without a limit (or a
    limit without a request) is used for both.

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
        pod_anti_affinity: str | Mapping[str, Any] | None = None,
        anti_affinity_topology_key: str = DEFAULT_TOPOLOGY_KEY,
        affinity: Mapping[str, Any] | None = None,
        topology_spread_constraints: Sequence[Mapping[str, Any]] = (),
        shared_data: SharedDataVolume | None = None,
        volumes: Sequence[Mapping[str, Any]] = (),
        volume_mounts: Sequence[Mapping[str, Any]] = (),
        labels: Mapping[str, str] | None = None,
        startup_probe: Mapping[str, Any] | None = None,
        liveness_probe: Mapping[str, Any] | None = None,
        readiness_probe: Mapping[str, Any] | None = None,
        termination_grace_period_seconds: int | None = None,
        run_as_user: int | None = DEFAULT_RUN_AS_USER,
        cluster_domain: str = DEFAULT_CLUSTER_DOMAIN,
        priority_class_name: str | None = None,
        update_strategy: str = "RollingUpdate",
        queue_name: str | None = None,
        pod_disruption_budget: bool = False,
        pod_labels: Mapping[str, str] | None = None,
        pod_annotations: Mapping[str, str] | None = None,
        extra_resources: Mapping[str, str | int] | None = None,
        env_from: Sequence[Mapping[str, Any]] = (),
        image_pull_secrets: Sequence[str] = (),
        service_account_name: str | None = None,
        capabilities_add: Sequence[str] = (),
        read_only_root_filesystem: bool = False,
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
                affinity=affinity,
                topology_spread_constraints=topology_spread_constraints,
                volumes=_after(shared_volumes, _as_json(volumes, "volume")),
                volume_mounts=_after(shared_mounts, volume_mounts),
                labels={} if labels is None else labels,
                startup_probe=startup_probe,
                liveness_probe=liveness_probe,
                readiness_probe=readiness_probe,
                termination_grace_period_seconds=termination_grace_period_seconds,
                run_as_user=run_as_user,
                cluster_domain=cluster_domain,
                priority_class_name=priority_class_name,
                update_strategy=update_strategy,
                queue_name=queue_name,
                pod_disruption_budget=pod_disruption_budget,
                pod_labels={} if pod_labels is None else pod_labels,
                pod_annotations={} if pod_annotations is None else pod_annotations,
                extra_resources={} if extra_resources is None else extra_resources,
                env_from=env_from,
                image_pull_secrets=image_pull_secrets,
                service_account_name=service_account_name,
                capabilities_add=capabilities_add,
                read_only_root_filesystem=read_only_root_filesystem,
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
        self._add_service_and_budget()

    @classmethod
    def from_props(cls, scope: Construct, id: str, props: GpuStatefulSetProps) -> GpuStatefulSet:
        """The same construct from a frozen props object."""
        return cls(scope, id, **{f.name: getattr(props, f.name) for f in fields(props)})


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
