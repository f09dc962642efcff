"""A StatefulSet of GPU pods with stable DNS names, done right for distributed ML (render core)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from ..errors import escape
from . import kubernetes
from .env import POD_INDEX_FIELD, EnvValue, downward_env, env_entry, require_env
from .manifest import manifest, metadata
from .naming import (
    DEFAULT_CLUSTER_DOMAIN,
    headless_service_name,
    pod_fqdn,
    selector_labels,
    service_fqdn,
    standard_labels,
)
from .validation import (
    ANTI_AFFINITY_MODES,
    MAX_NAME_LENGTH,
    MAX_STATEFULSET_NAME_LENGTH,
    PULL_POLICIES,
    SERVICE_TYPES,
    TOLERATION_EFFECTS,
    TOLERATION_KEYS,
    TOLERATION_OPERATORS,
    config_error,
    fail,
    parse_quantity,
    require_bool,
    require_command,
    require_dns1035_label,
    require_dns1123_label,
    require_dns1123_subdomain,
    require_extended_resource,
    require_generated_name,
    require_int,
    require_label_key,
    require_label_value,
    require_labels,
    require_list,
    require_mount_path,
    require_number,
    require_one_of,
    require_port,
    require_port_name,
    require_quantity,
    require_str,
    require_user_id,
)

GPU_RESOURCE = "nvidia.com/gpu"
#: Runtime class of the NVIDIA container toolkit / GPU operator.
DEFAULT_GPU_RUNTIME_CLASS = "nvidia"
#: PyTorch DataLoader workers and NCCL use /dev/shm; the container runtime's 64 MiB default is too small.
DEFAULT_GPU_SHM_SIZE_GIB = 16
#: The uid the PRIME-RL images run as (see Dockerfile APP_UID); also every pod's fsGroup.
DEFAULT_RUN_AS_USER = 10001
POD_FS_GROUP = 10001
DEFAULT_TOPOLOGY_KEY = "kubernetes.io/hostname"
SHM_VOLUME_NAME = "dshm"
TMP_VOLUME_NAME = "tmp"
#: Capabilities a GPU pod may add back after dropping all: IPC_LOCK pins RDMA memory.
CAPABILITIES = ("IPC_LOCK", "SYS_NICE", "SYS_PTRACE")
_GPU_TOLERATION = {"effect": "NoSchedule", "key": GPU_RESOURCE, "operator": "Exists"}
#: The label Kueue reads a workload's LocalQueue from.
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
UPDATE_STRATEGIES = ("RollingUpdate", "OnDelete")
_PROBE_HANDLERS = ("exec", "grpc", "httpGet", "tcpSocket")


@dataclass(frozen=True)
class GpuStatefulSetProps:
    """Props of :class:`GpuStatefulSet` (see there for each default's behaviour).

    ``volumes`` and ``volume_mounts`` are pod volumes and container mounts in Kubernetes JSON
    (``{"name": "cache", "emptyDir": {}}``), placed before the ``/dev/shm`` volume.
    """

    instance: str
    component: str
    image: str
    name: str | None = None
    namespace: str | None = None
    replicas: int = 1
    gpu_count: int = 0
    command: Sequence[str] | str | None = None
    env: Mapping[str, EnvValue] = field(default_factory=dict)
    image_pull_policy: str = "IfNotPresent"
    cpu_request: str | int | float | None = None
    memory_request: str | int | None = None
    cpu_limit: str | int | float | None = None
    memory_limit: str | int | None = None
    runtime_class_name: str | None = None
    shm_size_gib: int | float | None = None
    ports: Mapping[str, int] = field(default_factory=dict)
    service_enabled: bool = False
    service_type: str = "ClusterIP"
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: Sequence[Mapping[str, Any]] = ()
    pod_anti_affinity: str | Mapping[str, Any] | None = None
    anti_affinity_topology_key: str = DEFAULT_TOPOLOGY_KEY
    affinity: Mapping[str, Any] | None = None
    topology_spread_constraints: Sequence[Mapping[str, Any]] = ()
    volumes: Sequence[Mapping[str, Any]] = ()
    volume_mounts: Sequence[Mapping[str, Any]] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    startup_probe: Mapping[str, Any] | None = None
    liveness_probe: Mapping[str, Any] | None = None
    readiness_probe: Mapping[str, Any] | None = None
    termination_grace_period_seconds: int | None = None
    run_as_user: int | None = DEFAULT_RUN_AS_USER
    cluster_domain: str = DEFAULT_CLUSTER_DOMAIN
    priority_class_name: str | None = None
    update_strategy: str = "RollingUpdate"
    queue_name: str | None = None
    pod_disruption_budget: bool = False
    pod_labels: Mapping[str, str] = field(default_factory=dict)
    pod_annotations: Mapping[str, str] = field(default_factory=dict)
    extra_resources: Mapping[str, str | int] = field(default_factory=dict)
    env_from: Sequence[Mapping[str, Any]] = ()
    image_pull_secrets: Sequence[str] = ()
    service_account_name: str | None = None
    capabilities_add: Sequence[str] = ()
    read_only_root_filesystem: bool = False


class PodAddress(Protocol):
    """Where a role's pods are found, whichever controller creates them.

    ``name`` names the role's Services; pods are ``pod_name(i)``, reachable as ``pod_fqdn(i)``
    through the headless Service; ``pod_index_field`` is the downward-API field of POD_INDEX.
    """

    name: str
    namespace: str | None
    replicas: int
    cluster_domain: str
    pod_index_field: str

    @property
    def headless_service_name(self) -> str: ...

    @property
    def headless_service_fqdn(self) -> str: ...

    def pod_name(self, index: int) -> str: ...

    def pod_fqdn(self, index: int) -> str: ...


@dataclass(frozen=True)
class StatefulSetAddress:
    """Where a StatefulSet's pods are found: the one home of its DNS names.

    Pods are ``<name>-0 .. <name>-(replicas-1)``, reachable as
    ``<pod>.<name>-headless.<namespace>.svc.<cluster domain>``.
    """

    name: str
    namespace: str | None
    replicas: int
    cluster_domain: str = DEFAULT_CLUSTER_DOMAIN
    #: Where POD_INDEX comes from: the pod-index label the StatefulSet controller sets.
    pod_index_field: str = POD_INDEX_FIELD

    @property
    def headless_service_name(self) -> str:
        return headless_service_name(self.name)

    @property
    def headless_service_fqdn(self) -> str:
        """`<name>-headless.<namespace>.svc.<domain>`: resolves to every pod, ready or not."""
        return service_fqdn(self.headless_service_name, self.namespace, self.cluster_domain)

    def pod_name(self, index: int) -> str:
        """Stable name of pod `index` (0-based), e.g. `exp-trainer-0`."""
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < self.replicas:
            raise IndexError(f"pod index {index!r} is outside 0..{self.replicas - 1} of {self.name}")
        return f"{self.name}-{index}"

    def pod_fqdn(self, index: int) -> str:
        """DNS name of pod `index` through the headless Service: `<pod>.<headless FQDN>`."""
        self.pod_name(index)  # the index must be one of the pods
        return pod_fqdn(self.name, index, self.namespace, self.cluster_domain)


def statefulset_address(
    props: GpuStatefulSetProps, prefix: str = "", instance_field: str = "instance"
) -> StatefulSetAddress:
    """Validate the naming props and return the address, before anything else is checked.

    The experiment needs a role's address (for URLs and ``MASTER_ADDR``) to write that role's env;
    it calls its own name, which becomes ``instance``, ``name`` (``instance_field``).
    """
    instance = require_dns1035_label(props.instance, instance_field)
    component = require_dns1035_label(props.component, "component")
    if props.name is None:
        name, source_field, source = f"{instance}-{component}", instance_field, instance
    else:
        name = source = require_dns1035_label(props.name, "name")
        source_field = "name"
    require_generated_name(name, "StatefulSet", MAX_STATEFULSET_NAME_LENGTH, source_field, source)
    require_generated_name(
        headless_service_name(name), "headless Service", MAX_NAME_LENGTH, source_field, source
    )
    namespace = None if props.namespace is None else require_dns1123_label(props.namespace, "namespace")
    return StatefulSetAddress(
        name=name,
        namespace=namespace,
        replicas=require_int(props.replicas, f"{prefix}replicas"),
        cluster_domain=require_dns1123_subdomain(props.cluster_domain, "cluster_domain"),
    )


class GpuStatefulSetModel:
    """Validated :class:`GpuStatefulSetProps`, things added after construction, and their manifests.

    ``prefix`` is put before every prop name in errors (``trainer.`` in an experiment).
    """

    def __init__(
        self, props: GpuStatefulSetProps, prefix: str = "", address: PodAddress | None = None
    ) -> None:
        self.props = props
        self._prefix = prefix
        f = self._field
        self.address: PodAddress = statefulset_address(props, prefix) if address is None else address
        self.instance = props.instance
        self.component = props.component
        self.gpu_count = require_int(props.gpu_count, f("gpu_count"))
        self.ports = self._ports(props.ports)
        self.service_enabled = require_bool(props.service_enabled, f("service_enabled"))
        self.service_type = require_one_of(props.service_type, f("service_type"), SERVICE_TYPES)
        if self.service_enabled and not self.ports:
            raise config_error("{0} is true but no port is set; a Service needs a port", f("service_enabled"))
        standard = standard_labels(self.instance, self.component)
        extra = require_labels(props.labels, f("labels"))
        for key in extra.keys() & standard.keys():
            # Overriding these would break the selectors (or the chart-compatible `app`/`role` labels).
            raise fail(f"{f('labels')}.{key}", extra[key], f"absent; it is always {standard[key]!r}")
        self.labels = {**standard, **extra}
        self.selector = selector_labels(self.instance, self.component)
        self._env = require_env(props.env, f("env"))
        self.image = require_str(props.image, f("image"))
        self.image_pull_policy = require_one_of(
            props.image_pull_policy, f("image_pull_policy"), PULL_POLICIES
        )
        self.command = self._command(props.command)
        self.resources = self._resources()
        self.runtime_class_name = self._runtime_class(props.runtime_class_name)
        self.node_selector = require_labels(props.node_selector, f("node_selector"))
        self.tolerations = self._tolerations(props.tolerations)
        self.affinity = self._affinity(
            props.pod_anti_affinity, props.anti_affinity_topology_key, props.affinity
        )
        self.topology_spread_constraints = kubernetes.checked_list(
            props.topology_spread_constraints,
            f("topology_spread_constraints"),
            kubernetes.topology_spread_constraint,
        )
        self.env_from = kubernetes.checked_list(props.env_from, f("env_from"), kubernetes.env_from_source)
        self.image_pull_secrets = [
            require_dns1123_subdomain(name, f"{f('image_pull_secrets')}[{index}]")
            for index, name in enumerate(require_list(props.image_pull_secrets, f("image_pull_secrets")))
        ]
        self.service_account_name = (
            None
            if props.service_account_name is None
            else require_dns1123_subdomain(props.service_account_name, f("service_account_name"))
        )
        self.capabilities_add = [
            require_one_of(cap, f"{f('capabilities_add')}[{index}]", CAPABILITIES)
            for index, cap in enumerate(require_list(props.capabilities_add, f("capabilities_add")))
        ]
        self.read_only_root_filesystem = require_bool(
            props.read_only_root_filesystem, f("read_only_root_filesystem")
        )
        self.volumes: list[dict[str, Any]] = []
        self.volume_mounts: list[dict[str, Any]] = []
        for index, volume in enumerate(require_list(props.volumes, f("volumes"))):
            self.volumes.append(self._volume(volume, f"{f('volumes')}[{index}]"))
        for index, mount in enumerate(require_list(props.volume_mounts, f("volume_mounts"))):
            self.volume_mounts.append(self._mount(mount, f"{f('volume_mounts')}[{index}]"))
        self._shm_volume()
        if self.read_only_root_filesystem:
            # Python, torch, Triton and vLLM write temporary files and caches: /tmp stays writable.
            self._add_own_volume({"emptyDir": {}, "name": TMP_VOLUME_NAME}, "/tmp")
        self.probes = {
            key: self._probe(value, f(prop))
            for key, prop, value in (
                ("startupProbe", "startup_probe", props.startup_probe),
                ("livenessProbe", "liveness_probe", props.liveness_probe),
                ("readinessProbe", "readiness_probe", props.readiness_probe),
            )
        }
        self.priority_class_name = (
            None
            if props.priority_class_name is None
            else require_dns1123_subdomain(props.priority_class_name, f("priority_class_name"))
        )
        self.update_strategy = require_one_of(props.update_strategy, f("update_strategy"), UPDATE_STRATEGIES)
        self.queue_name = (
            None if props.queue_name is None else require_label_value(props.queue_name, f("queue_name"))
        )
        self.pod_disruption_budget = require_bool(props.pod_disruption_budget, f("pod_disruption_budget"))
        self.run_as_user = props.run_as_user
        if self.run_as_user is not None:
            require_user_id(self.run_as_user, f("run_as_user"))
        self.termination_grace_period_seconds = props.termination_grace_period_seconds
        if self.termination_grace_period_seconds is not None:
            require_int(self.termination_grace_period_seconds, f("termination_grace_period_seconds"))
        pod_labels = require_labels(props.pod_labels, f("pod_labels"))
        for key in pod_labels.keys() & self.labels.keys():
            raise fail(f"{f('pod_labels')}.{key}", pod_labels[key], f"absent; the pods always carry {key}")
        self.pod_labels = {**self.labels, **pod_labels}
        self.pod_annotations: dict[str, str] = {}
        annotations = props.pod_annotations
        if not isinstance(annotations, Mapping):
            raise fail(f("pod_annotations"), annotations, "a mapping of annotation keys to strings")
        for key, value in annotations.items():
            self.add_pod_annotation(key, value)

    # -- facts ---------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.address.name

    @property
    def namespace(self) -> str | None:
        return self.address.namespace

    @property
    def replicas(self) -> int:
        return self.address.replicas

    @property
    def service_name(self) -> str | None:
        """The load-balanced Service's name (the StatefulSet's), or None when it is disabled."""
        return self.name if self.service_enabled else None

    # -- additions after construction ------------------------------------------------------------
    def add_env(self, name: str, value: EnvValue) -> dict[str, Any]:
        """Add one variable after the others; a name already set is refused."""
        entry = env_entry(name, value, f"{self._field('env')}.{name}")
        if name in self.container_env_names():
            raise fail(f"{self._field('env')}.{name}", value, "a variable name not set already")
        self._env[name] = value
        return entry

    def add_volume(
        self, volume: Mapping[str, Any], mount_path: str | None = None, *, read_only: bool = False
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Add a pod volume (Kubernetes JSON) and, with ``mount_path``, mount it in the container.

        Returns the volume and the mount (None without ``mount_path``). A volume name or mount
        path already in use is refused.
        """
        entry = self._volume(volume, self._field("volumes"))
        mount: dict[str, Any] | None = None
        if mount_path is not None:
            mount = {"mountPath": mount_path, "name": entry["name"]}
            if require_bool(read_only, "read_only"):
                mount["readOnly"] = True
            mount = self._mount(mount, self._field("volume_mounts"), volumes=[*self.volumes, entry])
        self.volumes.append(entry)
        if mount is not None:
            self.volume_mounts.append(mount)
        return dict(entry), mount

    def add_toleration(self, toleration: Mapping[str, Any]) -> dict[str, Any]:
        """Add a toleration (Kubernetes JSON); one equal to a toleration already there is refused."""
        entry = _toleration(toleration, f"{self._field('tolerations')}[{len(self.tolerations)}]")
        if entry in self.tolerations:
            raise fail(self._field("tolerations"), dict(toleration), "a toleration not present already")
        self.tolerations.append(entry)
        return entry

    def add_pod_annotation(self, key: str, value: str) -> tuple[str, str]:
        """Annotate the pod template (a changed value rolls the pods); a key already set is refused."""
        field = self._field("pod_annotations")
        require_label_key(key, f"{field} key")
        require_str(value, f"{field}.{key}")
        if key in self.pod_annotations:
            raise fail(f"{field}.{key}", value, "an annotation key not set already")
        self.pod_annotations[key] = value
        return key, value

    # -- rendering -------------------------------------------------------------------------------
    def container_env(self) -> list[dict[str, Any]]:
        """The container's env: the contract variables, then the props' and added ones.

        A name given in the props replaces a contract variable in place.
        """
        env: dict[str, EnvValue] = {
            **downward_env(self.address.pod_index_field),
            "ROLE": self.component,
            "STATEFUL_REPLICAS": str(self.replicas),
            "HEADLESS_SERVICE": self.address.headless_service_fqdn,
            **self._env,
        }
        field = self._field("env")
        return [env_entry(name, value, f"{field}.{name}") for name, value in env.items()]

    def container_env_names(self) -> list[str]:
        return [entry["name"] for entry in self.container_env()]

    def manifests(self) -> list[dict[str, Any]]:
        """StatefulSet, headless Service, the load-balanced Service and the disruption budget.

        The last two only when enabled, in that order.
        """
        return [self.statefulset_manifest(), self.headless_service_manifest(), *self.role_manifests()]

    def role_manifests(self) -> list[dict[str, Any]]:
        """What the role has in either workload mode: its load-balanced Service and disruption budget."""
        docs = [self.service_manifest()] if self.service_enabled else []
        if self.pod_disruption_budget:
            docs.append(self.pod_disruption_budget_manifest())
        return docs

    def pod_template(self, *, restart_policy: str | None = None) -> dict[str, Any]:
        """The pod template (metadata and spec) the StatefulSet, or a Job, creates pods from."""
        container = {
            "name": self.component,
            "image": self.image,
            "imagePullPolicy": self.image_pull_policy,
            "command": self.command,
            "env": self.container_env(),
            "envFrom": self.env_from or None,
            "ports": [{"containerPort": p, "name": n, "protocol": "TCP"} for n, p in self.ports.items()]
            or None,
            "resources": self.resources,
            "volumeMounts": self.volume_mounts or None,
            **self.probes,
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "capabilities": {"add": self.capabilities_add or None, "drop": ["ALL"]},
                "readOnlyRootFilesystem": True if self.read_only_root_filesystem else None,
            },
        }
        pod_spec = {
            "containers": [container],
            "restartPolicy": restart_policy,
            "runtimeClassName": self.runtime_class_name,
            "priorityClassName": self.priority_class_name,
            "nodeSelector": self.node_selector or None,
            "tolerations": self.tolerations or None,
            "affinity": self.affinity,
            "topologySpreadConstraints": self.topology_spread_constraints or None,
            "imagePullSecrets": [{"name": name} for name in self.image_pull_secrets] or None,
            "serviceAccountName": self.service_account_name,
            "volumes": self.volumes or None,
            "enableServiceLinks": False,
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": self.termination_grace_period_seconds,
            # fsGroup makes volumes that support ownership management writable for the image's
            # user, without a recursive chown of a populated volume. A numeric runAsUser lets the
            # kubelet enforce runAsNonRoot even for images whose USER is a name.
            "securityContext": {
                "runAsUser": self.run_as_user,
                "runAsNonRoot": True if self.run_as_user else None,
                "seccompProfile": {"type": "RuntimeDefault"},
                "fsGroup": POD_FS_GROUP,
                "fsGroupChangePolicy": "OnRootMismatch",
            },
        }
        template_metadata = {"labels": self.pod_labels, "annotations": dict(self.pod_annotations) or None}
        return {"metadata": template_metadata, "spec": pod_spec}

    def statefulset_manifest(self) -> dict[str, Any]:
        labels = (
            self.labels if self.queue_name is None else {**self.labels, KUEUE_QUEUE_LABEL: self.queue_name}
        )
        return manifest(
            "apps/v1",
            "StatefulSet",
            metadata(self.name, self.namespace, labels),
            spec={
                "serviceName": self.address.headless_service_name,
                "replicas": self.replicas,
                "podManagementPolicy": "Parallel",
                "updateStrategy": {"type": self.update_strategy},
                "selector": {"matchLabels": self.selector},
                "template": self.pod_template(),
            },
        )

    def pod_disruption_budget_manifest(self) -> dict[str, Any]:
        """No voluntary disruption (a node drain) may evict any pod: one lost rank stops the gang."""
        return manifest(
            "policy/v1",
            "PodDisruptionBudget",
            metadata(self.name, self.namespace, self.labels),
            spec={"maxUnavailable": 0, "selector": {"matchLabels": self.selector}},
        )

    def headless_service_manifest(self) -> dict[str, Any]:
        return manifest(
            "v1",
            "Service",
            metadata(self.address.headless_service_name, self.namespace, self.labels),
            spec={
                "clusterIP": "None",
                "publishNotReadyAddresses": True,
                "selector": self.selector,
                "ports": self._service_ports() or None,
            },
        )

    def service_manifest(self) -> dict[str, Any]:
        return manifest(
            "v1",
            "Service",
            metadata(self.name, self.namespace, self.labels),
            spec={"type": self.service_type, "selector": self.selector, "ports": self._service_ports()},
        )

    # -- checks ----------------------------------------------------------------------------------
    def _field(self, prop: str) -> str:
        return f"{self._prefix}{prop}"

    def _service_ports(self) -> list[dict[str, Any]]:
        return [{"name": n, "port": p, "protocol": "TCP", "targetPort": n} for n, p in self.ports.items()]

    def _ports(self, ports: Any) -> dict[str, int]:
        field = self._field("ports")
        if not isinstance(ports, Mapping):
            raise fail(field, ports, "a mapping of port names to port numbers")
        checked = {require_port_name(n, f"{field} name"): require_port(p, field) for n, p in ports.items()}
        if len(set(checked.values())) != len(checked):
            raise fail(field, dict(ports), "distinct port numbers")
        return checked

    def _volume(self, volume: Any, field: str) -> dict[str, Any]:
        """A pod volume: a name and exactly one source, the name not taken yet."""
        entry = volume_shape(volume, field)
        if entry["name"] in {existing["name"] for existing in self.volumes}:
            raise fail(f"{field}.name", entry["name"], "a volume name not used already")
        return entry

    def _mount(
        self, mount: Any, field: str, volumes: Sequence[Mapping[str, Any]] | None = None
    ) -> dict[str, Any]:
        """A container mount of one of the pod's volumes, at a path not taken yet."""
        entry = mount_shape(mount, field)
        if entry["mountPath"] in {existing["mountPath"] for existing in self.volume_mounts}:
            raise fail(f"{field}.mountPath", entry["mountPath"], "a mount path not used already")
        check_mount_volume(entry, self.volumes if volumes is None else volumes, field)
        return entry

    def _command(self, command: Any) -> list[str] | None:
        return None if command is None else require_command(command, self._field("command"))

    def _resources(self) -> dict[str, Any]:
        props = self.props
        requests: dict[str, Any] = {}
        limits: dict[str, Any] = {}
        for resource, request, limit in (
            ("cpu", props.cpu_request, props.cpu_limit),
            ("memory", props.memory_request, props.memory_limit),
        ):
            request_field, limit_field = self._field(f"{resource}_request"), self._field(f"{resource}_limit")
            # Checked under the name they were given by, before one side is copied to the other.
            if request is not None:
                require_quantity(request, request_field)
            if limit is not None:
                require_quantity(limit, limit_field, positive=True)
            if self.gpu_count > 0:
                # GPU pods are Guaranteed: a side left unset equals the other, so the kubelet never
                # evicts or throttles a training process for using what it asked for.
                request, limit = (
                    (limit if request is None else request),
                    (request if limit is None else limit),
                )
            if request is not None:
                requests[resource] = require_quantity(request, request_field)
            if limit is not None:
                limits[resource] = require_quantity(limit, limit_field, positive=True)
            if (
                request is not None
                and limit is not None
                and parse_quantity(request, request_field) > parse_quantity(limit, limit_field)
            ):
                raise config_error(
                    "{0} must not exceed {1}, got " + escape(f"{request!r} > {limit!r}"),
                    request_field,
                    limit_field,
                )
        if self.gpu_count > 0:
            # Extended resources must be requested and limited alike.
            requests[GPU_RESOURCE] = self.gpu_count
            limits[GPU_RESOURCE] = self.gpu_count
        extra = props.extra_resources
        field = self._field("extra_resources")
        if not isinstance(extra, Mapping):
            raise fail(
                field, extra, "a mapping of extended resource names to quantities, such as {'rdma/ib': 1}"
            )
        for name, amount in extra.items():
            require_extended_resource(name, f"{field} key")
            if name == GPU_RESOURCE:
                raise fail(f"{field}.{name}", amount, "absent; GPUs have their own prop, gpu_count")
            quantity = require_quantity(amount, f"{field}.{name}", positive=True)
            value = amount if isinstance(amount, int) and not isinstance(amount, bool) else quantity
            requests[name] = limits[name] = value
        return {"requests": requests or None, "limits": limits or None}

    def _runtime_class(self, runtime_class_name: Any) -> str | None:
        if runtime_class_name is None:
            return DEFAULT_GPU_RUNTIME_CLASS if self.gpu_count > 0 else None
        if runtime_class_name == "":
            return None
        return require_dns1123_subdomain(runtime_class_name, self._field("runtime_class_name"))

    def _shm_volume(self) -> None:
        field = self._field("shm_size_gib")
        shm_size_gib = self.props.shm_size_gib
        memory_limit = (self.resources["limits"] or {}).get("memory")
        limit_field = self._field("memory_limit")
        if shm_size_gib is None:
            size = Decimal(DEFAULT_GPU_SHM_SIZE_GIB) if self.gpu_count > 0 else Decimal(0)
            if size and memory_limit is not None:
                # At most half the memory limit by default, so a small pod still has room to run.
                half_mib = parse_quantity(memory_limit, limit_field) / 2 // 1024**2
                size = min(size, half_mib / 1024)
        else:
            require_number(shm_size_gib, field, allowed="a number of GiB of at least 0 (0 disables /dev/shm)")
            size = Decimal(str(shm_size_gib))
        if size <= 0:
            return
        mebibytes = size * 1024
        if mebibytes != mebibytes.to_integral_value():
            raise fail(field, shm_size_gib, "a whole number of MiB expressed in GiB (e.g. 0.5 or 16)")
        size_limit = f"{size.normalize():f}Gi" if size == size.to_integral_value() else f"{int(mebibytes)}Mi"
        if memory_limit is not None and size * 1024**3 > parse_quantity(memory_limit, limit_field):
            raise config_error(
                "{0} must not exceed {1} because /dev/shm counts against the memory limit, got "
                + escape(f"{size_limit} > {memory_limit!r}"),
                field,
                limit_field,
            )
        self._add_own_volume(
            {"emptyDir": {"medium": "Memory", "sizeLimit": size_limit}, "name": SHM_VOLUME_NAME}, "/dev/shm"
        )

    def _add_own_volume(self, volume: dict[str, Any], mount_path: str) -> None:
        """A volume the pods need (/dev/shm, /tmp): a volume or mount given already may not take it."""
        for index, existing in enumerate(self.volumes):
            if existing["name"] == volume["name"]:
                raise fail(
                    f"{self._field('volumes')}[{index}].name",
                    volume["name"],
                    "a name these pods do not use already",
                )
        for index, existing in enumerate(self.volume_mounts):
            if existing["mountPath"] == mount_path:
                raise fail(
                    f"{self._field('volume_mounts')}[{index}].mountPath",
                    mount_path,
                    "a path these pods do not mount already",
                )
        self.volumes.append(volume)
        self.volume_mounts.append({"mountPath": mount_path, "name": volume["name"]})

    def _tolerations(self, tolerations: Any) -> list[dict[str, Any]]:
        field = self._field("tolerations")
        if isinstance(tolerations, str | Mapping) or not isinstance(tolerations, Sequence):
            raise fail(field, tolerations, "a list of tolerations")
        result: list[dict[str, Any]] = []
        if self.gpu_count > 0:
            result.append(dict(_GPU_TOLERATION))
        for index, toleration in enumerate(tolerations):
            if self.gpu_count > 0 and toleration == _GPU_TOLERATION:
                continue
            result.append(_toleration(toleration, f"{field}[{index}]"))
        return result

    def _affinity(self, mode: Any, topology_key: Any, affinity: Any) -> dict[str, Any] | None:
        """``affinity`` as given, with the pod anti-affinity (a full one, or the shorthand's)."""
        result = {} if affinity is None else kubernetes.affinity(affinity, self._field("affinity"))
        anti = self._pod_anti_affinity(mode, topology_key)
        if anti is not None:
            if "podAntiAffinity" in result:
                raise config_error(
                    "{0} and {1}.podAntiAffinity are both set; give the pod anti-affinity once",
                    self._field("pod_anti_affinity"),
                    self._field("affinity"),
                )
            result["podAntiAffinity"] = anti
        return result or None

    def _pod_anti_affinity(self, mode: Any, topology_key: Any) -> dict[str, Any] | None:
        if mode is None:
            return None
        field = self._field("pod_anti_affinity")
        if isinstance(mode, Mapping):
            return kubernetes.pod_affinity(mode, field)
        if mode not in ANTI_AFFINITY_MODES:
            raise fail(field, mode, "required, preferred or a Kubernetes PodAntiAffinity mapping")
        term = {
            "labelSelector": {"matchLabels": self.selector},
            "topologyKey": require_label_key(topology_key, self._field("anti_affinity_topology_key")),
        }
        if mode == "required":
            return {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
        return {"preferredDuringSchedulingIgnoredDuringExecution": [{"podAffinityTerm": term, "weight": 100}]}

    def _probe(self, probe: Any, field: str) -> dict[str, Any] | None:
        """A container probe in Kubernetes JSON with exactly one handler; named ports must exist."""
        if probe is None:
            return None
        handlers = [key for key in _PROBE_HANDLERS if isinstance(probe, Mapping) and key in probe]
        if len(handlers) != 1:
            raise fail(field, probe, "a probe with exactly one of " + ", ".join(_PROBE_HANDLERS))
        port = probe[handlers[0]].get("port") if isinstance(probe[handlers[0]], Mapping) else None
        if isinstance(port, str) and port not in self.ports:
            raise fail(
                f"{field}.{handlers[0]}.port", port, "one of the container's ports: " + ", ".join(self.ports)
            )
        return dict(probe)


def volume_shape(volume: Any, field: str) -> dict[str, Any]:
    """A pod volume in Kubernetes JSON: a name and exactly one source."""
    if not isinstance(volume, Mapping) or len(volume) != 2 or "name" not in volume:
        allowed = "a mapping with a name and one volume source, such as {'name': 'cache', 'emptyDir': {}}"
        raise fail(field, volume, allowed)
    require_dns1123_label(volume["name"], f"{field}.name")
    return dict(volume)


def mount_shape(mount: Any, field: str) -> dict[str, Any]:
    """A container volume mount in Kubernetes JSON: a volume name and an absolute path."""
    if not isinstance(mount, Mapping) or "name" not in mount or "mountPath" not in mount:
        raise fail(
            field,
            mount,
            "a mapping with name and mountPath, such as {'name': 'cache', 'mountPath': '/cache'}",
        )
    require_mount_path(mount["mountPath"], f"{field}.mountPath")
    return dict(mount)


def check_mount_volume(mount: Mapping[str, Any], volumes: Sequence[Mapping[str, Any]], field: str) -> None:
    """A mount names one of the pod's volumes."""
    names = {volume["name"] for volume in volumes}
    if mount["name"] not in names:
        raise fail(
            f"{field}.name",
            mount["name"],
            "the name of one of the pod's volumes: " + ", ".join(sorted(names)),
        )


def _toleration(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise fail(field, value, "a mapping with key, operator, value, effect or tolerationSeconds")
    unknown = sorted(set(value) - set(TOLERATION_KEYS))
    if unknown:
        raise fail(
            f"{field}.{unknown[0]}",
            value[unknown[0]],
            "absent; allowed keys are " + ", ".join(TOLERATION_KEYS),
        )
    operator = require_one_of(value.get("operator", "Equal"), f"{field}.operator", TOLERATION_OPERATORS)
    key = value.get("key")
    if key is not None:
        require_label_key(key, f"{field}.key")
    elif operator != "Exists":
        raise fail(f"{field}.operator", operator, "Exists when no key is given")
    toleration_value = value.get("value")
    if toleration_value is not None:
        if operator == "Exists":
            raise fail(f"{field}.value", toleration_value, "absent when operator is Exists")
        require_str(toleration_value, f"{field}.value")
        if toleration_value:
            require_label_value(toleration_value, f"{field}.value")
    effect = value.get("effect")
    if effect is not None:
        require_one_of(effect, f"{field}.effect", TOLERATION_EFFECTS)
    seconds = value.get("tolerationSeconds")
    if seconds is not None:
        if effect != "NoExecute":
            raise fail(f"{field}.tolerationSeconds", seconds, "set only with effect NoExecute")
        require_int(seconds, f"{field}.tolerationSeconds", maximum=2**63 - 1)
    entry = {
        "key": key,
        "operator": operator if "operator" in value else None,
        "value": toleration_value,
        "effect": effect,
        "tolerationSeconds": seconds,
    }
    return {k: v for k, v in sorted(entry.items()) if v is not None}
