"""GpuStatefulSet: a StatefulSet of GPU pods with stable DNS names, done right for distributed ML."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from cdk8s_plus_28 import k8s
from constructs import Construct

from .env import EnvValue, downward_env, env_vars
from .errors import PrimeRLConfigError
from .naming import (
    DEFAULT_CLUSTER_DOMAIN,
    headless_service_name,
    pod_fqdn,
    resolve_namespace,
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
    fail,
    parse_quantity,
    require_bool,
    require_dns1035_label,
    require_dns1123_subdomain,
    require_generated_name,
    require_int,
    require_label_key,
    require_labels,
    require_one_of,
    require_port,
    require_port_name,
    require_quantity,
    require_str,
    require_user_id,
)
from .volume import SharedDataVolume

GPU_RESOURCE = "nvidia.com/gpu"
#: Runtime class of the NVIDIA container toolkit / GPU operator.
DEFAULT_GPU_RUNTIME_CLASS = "nvidia"
#: PyTorch DataLoader workers and NCCL use /dev/shm; the container runtime's 64 MiB default is too small.
DEFAULT_GPU_SHM_SIZE_GIB = 16
#: The uid the PRIME-RL images run as (see Dockerfile APP_UID); also every pod's fsGroup.
DEFAULT_RUN_AS_USER = 1000
POD_FS_GROUP = 1000
DEFAULT_TOPOLOGY_KEY = "kubernetes.io/hostname"
SHM_VOLUME_NAME = "dshm"
#: Python prop name -> values-file key (under the role), used in error messages when config_path is set.
VALUES_KEYS: dict[str, str] = {
    "replicas": "replicas",
    "command": "command",
    "env": "env",
    "gpu_count": "gpu.count",
    "cpu_request": "resources.requests.cpu",
    "memory_request": "resources.requests.memory",
    "cpu_limit": "resources.limits.cpu",
    "memory_limit": "resources.limits.memory",
    "runtime_class_name": "runtimeClassName",
    "service_enabled": "service.enabled",
    "service_type": "service.type",
    "ports": "service.port",
    "node_selector": "nodeSelector",
    "tolerations": "tolerations",
    "pod_anti_affinity": "podAntiAffinity",
    "anti_affinity_topology_key": "podAntiAffinityTopologyKey",
    "shm_size_gib": "shmSizeGiB",
    "labels": "labels",
    "image": "image",
    "image_pull_policy": "image.pullPolicy",
    "readiness_path": "readinessPath",
    "run_as_user": "runAsUser",
}


class GpuStatefulSet(Construct):
    """A StatefulSet, its headless Service and optionally a ClusterIP Service, for GPU workloads.

    Pods are ``<name>-0 .. <name>-(replicas-1)``, reachable at ``pod_fqdn(i)`` through the
    headless Service ``<name>-headless`` (which publishes not-ready addresses, so torchrun
    rendezvous and NCCL can resolve peers before they pass readiness). ``podManagementPolicy`` is
    ``Parallel`` so all ranks start together.

    Props (keyword only):

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
    - ``env``: extra variables (name → literal or :class:`SecretKeyRef`), after the contract env;
      a name given here replaces a contract variable of the same name.
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
    - ``labels``: extra labels on every object and pod (never in selectors).
    - ``readiness_path``: default ``None``; an HTTP path probed on the first port for readiness.
    - ``run_as_user``: default ``1000`` (the uid the PRIME-RL images use): pods run as that uid with
      ``runAsNonRoot``, so the kubelet refuses to start them as root. ``0`` runs them as root and
      ``None`` leaves the user to the image; neither sets ``runAsNonRoot`` (the kubelet would refuse
      a root user, and it cannot tell whether an image's named user is root).
    - ``cluster_domain``: default ``"cluster.local"``, used in FQDNs.
    - ``config_path``: default ``None``; when set (e.g. ``"trainer"``), error messages name fields as
      the values file spells them (``trainer.gpu.count``) instead of by prop name.

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
        labels: Mapping[str, str] | None = None,
        readiness_path: str | None = None,
        run_as_user: int | None = DEFAULT_RUN_AS_USER,
        cluster_domain: str = DEFAULT_CLUSTER_DOMAIN,
        config_path: str | None = None,
    ) -> None:
        super().__init__(scope, id)
        self._config_path = config_path
        f = self._field
        self.instance = require_dns1035_label(instance, "instance")
        self.component = require_dns1035_label(component, "component")
        self.name = require_dns1035_label(name, "name") if name is not None else f"{instance}-{component}"
        source_field, source = ("instance", instance) if name is None else ("name", name)
        require_generated_name(self.name, "StatefulSet", MAX_STATEFULSET_NAME_LENGTH, source_field, source)
        self.headless_service_name = require_generated_name(
            headless_service_name(self.name), "headless Service", MAX_NAME_LENGTH, source_field, source
        )
        self.namespace = resolve_namespace(self, namespace)
        self.cluster_domain = require_dns1123_subdomain(cluster_domain, "cluster_domain")
        self.replicas = require_int(replicas, f("replicas"))
        self.gpu_count = require_int(gpu_count, f("gpu_count"))
        self.ports = self._ports(ports)
        self.service_enabled = require_bool(service_enabled, f("service_enabled"))
        require_one_of(service_type, f("service_type"), SERVICE_TYPES)
        if self.service_enabled and not self.ports:
            raise PrimeRLConfigError(
                f"{f('service_enabled')} is true but no port is set; a Service needs a port"
            )
        self.service_name: str | None = self.name if self.service_enabled else None
        standard = standard_labels(self.instance, self.component)
        extra = require_labels(labels or {}, f("labels"))
        for key in extra.keys() & standard.keys():
            # Overriding these would break the selectors (or the chart-compatible `app`/`role` labels).
            raise fail(f"{f('labels')}.{key}", extra[key], f"absent; it is always {standard[key]!r}")
        self.labels = {**standard, **extra}
        self.selector = selector_labels(self.instance, self.component)
        metadata = {"namespace": self.namespace, "labels": self.labels}

        if env is not None and not isinstance(env, Mapping):
            raise fail(f("env"), env, "a mapping of variable names to values")
        container_env = {
            **downward_env(),
            "ROLE": self.component,
            "STATEFUL_REPLICAS": str(self.replicas),
            "HEADLESS_SERVICE": self.headless_service_fqdn,
            **(env or {}),
        }
        volumes, mounts = self._volumes(shared_data, shm_size_gib, memory_limit)
        if run_as_user is not None:
            require_user_id(run_as_user, f("run_as_user"))
        container = k8s.Container(
            name=self.component,
            image=require_str(image, f("image")),
            image_pull_policy=require_one_of(image_pull_policy, f("image_pull_policy"), PULL_POLICIES),
            command=self._command(command),
            env=env_vars(container_env, f("env")),
            ports=[k8s.ContainerPort(name=n, container_port=p, protocol="TCP") for n, p in self.ports.items()]
            or None,
            resources=self._resources(cpu_request, memory_request, cpu_limit, memory_limit),
            volume_mounts=mounts or None,
            readiness_probe=self._readiness(readiness_path),
            security_context=k8s.SecurityContext(
                allow_privilege_escalation=False, capabilities=k8s.Capabilities(drop=["ALL"])
            ),
        )
        pod_spec = k8s.PodSpec(
            containers=[container],
            runtime_class_name=self._runtime_class(runtime_class_name),
            node_selector=require_labels(node_selector or {}, f("node_selector")) or None,
            tolerations=self._tolerations(tolerations) or None,
            affinity=self._affinity(pod_anti_affinity, anti_affinity_topology_key),
            volumes=volumes or None,
            enable_service_links=False,
            automount_service_account_token=False,
            # fsGroup makes volumes that support ownership management writable for the image's
            # user, without a recursive chown of a populated volume. A numeric runAsUser lets the
            # kubelet enforce runAsNonRoot even for images whose USER is a name.
            security_context=k8s.PodSecurityContext(
                run_as_user=run_as_user,
                run_as_non_root=True if run_as_user else None,
                seccomp_profile=k8s.SeccompProfile(type="RuntimeDefault"),
                fs_group=POD_FS_GROUP,
                fs_group_change_policy="OnRootMismatch",
            ),
        )
        self.statefulset = k8s.KubeStatefulSet(
            self,
            "statefulset",
            metadata=k8s.ObjectMeta(name=self.name, **metadata),
            spec=k8s.StatefulSetSpec(
                service_name=self.headless_service_name,
                replicas=self.replicas,
                pod_management_policy="Parallel",
                selector=k8s.LabelSelector(match_labels=self.selector),
                template=k8s.PodTemplateSpec(metadata=k8s.ObjectMeta(labels=self.labels), spec=pod_spec),
            ),
        )
        service_ports = [
            k8s.ServicePort(name=n, port=p, target_port=k8s.IntOrString.from_string(n), protocol="TCP")
            for n, p in self.ports.items()
        ]
        self.headless_service = k8s.KubeService(
            self,
            "headless",
            metadata=k8s.ObjectMeta(name=self.headless_service_name, **metadata),
            spec=k8s.ServiceSpec(
                cluster_ip="None",
                publish_not_ready_addresses=True,
                selector=self.selector,
                ports=service_ports or None,
            ),
        )
        self.service: k8s.KubeService | None = None
        if self.service_enabled:
            self.service = k8s.KubeService(
                self,
                "service",
                metadata=k8s.ObjectMeta(name=self.name, **metadata),
                spec=k8s.ServiceSpec(type=service_type, selector=self.selector, ports=service_ports),
            )

    @property
    def headless_service_fqdn(self) -> str:
        """`<name>-headless.<namespace>.svc.<domain>`: resolves to every pod, ready or not."""
        return service_fqdn(self.headless_service_name, self.namespace, self.cluster_domain)

    @property
    def service_fqdn(self) -> str | None:
        """FQDN of the load-balanced Service, or None when ``service_enabled`` is false."""
        if self.service_name is None:
            return None
        return service_fqdn(self.service_name, self.namespace, self.cluster_domain)

    def pod_name(self, index: int) -> str:
        """Stable name of pod `index` (0-based), e.g. `exp-trainer-0`."""
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < self.replicas:
            raise IndexError(f"pod index {index!r} is outside 0..{self.replicas - 1} of {self.name}")
        return f"{self.name}-{index}"

    def pod_fqdn(self, index: int) -> str:
        """DNS name of pod `index` through the headless Service: `<pod>.<headless FQDN>`."""
        self.pod_name(index)
        return pod_fqdn(self.name, index, self.namespace, self.cluster_domain)

    def _field(self, prop: str) -> str:
        if self._config_path is None:
            return prop
        return f"{self._config_path}.{VALUES_KEYS.get(prop, prop)}"

    def _ports(self, ports: Mapping[str, int] | None) -> dict[str, int]:
        if ports is None:
            return {}
        if not isinstance(ports, Mapping):
            raise fail(self._field("ports"), ports, "a mapping of port names to port numbers")
        checked = {
            require_port_name(n, f"{self._field('ports')} name"): require_port(p, self._field("ports"))
            for n, p in ports.items()
        }
        if len(set(checked.values())) != len(checked):
            raise fail(self._field("ports"), dict(ports), "distinct port numbers")
        return checked

    def _command(self, command: Sequence[str] | str | None) -> list[str] | None:
        field = self._field("command")
        if command is None:
            return None
        if isinstance(command, str):
            if not command.strip():
                raise fail(field, command, "a non-empty shell command or argv list")
            return ["bash", "-c", command]
        if not isinstance(command, Sequence) or not command or not all(isinstance(a, str) for a in command):
            raise fail(field, command, "a non-empty shell command or a list of strings")
        return list(command)

    def _resources(
        self,
        cpu_request: str | int | float | None,
        memory_request: str | int | None,
        cpu_limit: str | int | float | None,
        memory_limit: str | int | None,
    ) -> k8s.ResourceRequirements:
        requests: dict[str, k8s.Quantity] = {}
        limits: dict[str, k8s.Quantity] = {}
        for resource, request, limit in (
            ("cpu", cpu_request, cpu_limit),
            ("memory", memory_request, memory_limit),
        ):
            request_field, limit_field = self._field(f"{resource}_request"), self._field(f"{resource}_limit")
            if request is not None:
                requests[resource] = k8s.Quantity.from_string(require_quantity(request, request_field))
            if limit is not None:
                limits[resource] = k8s.Quantity.from_string(
                    require_quantity(limit, limit_field, positive=True)
                )
            if (
                request is not None
                and limit is not None
                and parse_quantity(request, request_field) > parse_quantity(limit, limit_field)
            ):
                raise PrimeRLConfigError(
                    f"{request_field} must not exceed {limit_field}, got {request!r} > {limit!r}"
                )
        if self.gpu_count > 0:
            # Extended resources must be requested and limited alike; the typed Quantity keeps the
            # value through synthesis (a raw number in a JSON patch would be dropped).
            requests[GPU_RESOURCE] = k8s.Quantity.from_number(self.gpu_count)
            limits[GPU_RESOURCE] = k8s.Quantity.from_number(self.gpu_count)
        return k8s.ResourceRequirements(requests=requests or None, limits=limits or None)

    def _runtime_class(self, runtime_class_name: str | None) -> str | None:
        if runtime_class_name is None:
            return DEFAULT_GPU_RUNTIME_CLASS if self.gpu_count > 0 else None
        if runtime_class_name == "":
            return None
        return require_dns1123_subdomain(runtime_class_name, self._field("runtime_class_name"))

    def _volumes(
        self,
        shared_data: SharedDataVolume | None,
        shm_size_gib: int | float | None,
        memory_limit: str | int | None,
    ) -> tuple[list[k8s.Volume], list[k8s.VolumeMount]]:
        volumes: list[k8s.Volume] = []
        mounts: list[k8s.VolumeMount] = []
        if shared_data is not None:
            volumes.append(shared_data.volume())
            mounts.append(shared_data.volume_mount())
        field = self._field("shm_size_gib")
        if shm_size_gib is None:
            size = Decimal(DEFAULT_GPU_SHM_SIZE_GIB) if self.gpu_count > 0 else Decimal(0)
        else:
            if (
                isinstance(shm_size_gib, bool)
                or not isinstance(shm_size_gib, int | float)
                or shm_size_gib < 0
            ):
                raise fail(field, shm_size_gib, "a number of GiB of at least 0 (0 disables /dev/shm)")
            size = Decimal(str(shm_size_gib))
        if size > 0:
            mebibytes = size * 1024
            if mebibytes != mebibytes.to_integral_value():
                raise fail(field, shm_size_gib, "a whole number of MiB expressed in GiB (e.g. 0.5 or 16)")
            size_limit = (
                f"{size.normalize():f}Gi" if size == size.to_integral_value() else f"{int(mebibytes)}Mi"
            )
            if memory_limit is not None and size * 1024**3 > parse_quantity(
                memory_limit, self._field("memory_limit")
            ):
                raise PrimeRLConfigError(
                    f"{field} must not exceed {self._field('memory_limit')} because /dev/shm counts against "
                    f"the memory limit, got {size_limit} > {memory_limit!r}"
                )
            volumes.append(
                k8s.Volume(
                    name=SHM_VOLUME_NAME,
                    empty_dir=k8s.EmptyDirVolumeSource(
                        medium="Memory", size_limit=k8s.Quantity.from_string(size_limit)
                    ),
                )
            )
            mounts.append(k8s.VolumeMount(name=SHM_VOLUME_NAME, mount_path="/dev/shm"))
        return volumes, mounts

    def _tolerations(self, tolerations: Sequence[Mapping[str, Any]]) -> list[k8s.Toleration]:
        field = self._field("tolerations")
        if isinstance(tolerations, str | Mapping) or not isinstance(tolerations, Sequence):
            raise fail(field, tolerations, "a list of tolerations")
        result: list[k8s.Toleration] = []
        if self.gpu_count > 0:
            result.append(k8s.Toleration(key=GPU_RESOURCE, operator="Exists", effect="NoSchedule"))
        default = {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}
        for index, toleration in enumerate(tolerations):
            if self.gpu_count > 0 and toleration == default:
                continue
            result.append(_toleration(toleration, f"{field}[{index}]"))
        return result

    def _affinity(self, mode: str | None, topology_key: str) -> k8s.Affinity | None:
        if mode is None:
            return None
        require_one_of(mode, self._field("pod_anti_affinity"), ANTI_AFFINITY_MODES)
        term = k8s.PodAffinityTerm(
            label_selector=k8s.LabelSelector(match_labels=self.selector),
            topology_key=require_label_key(topology_key, self._field("anti_affinity_topology_key")),
        )
        if mode == "required":
            anti = k8s.PodAntiAffinity(required_during_scheduling_ignored_during_execution=[term])
        else:
            anti = k8s.PodAntiAffinity(
                preferred_during_scheduling_ignored_during_execution=[
                    k8s.WeightedPodAffinityTerm(weight=100, pod_affinity_term=term)
                ]
            )
        return k8s.Affinity(pod_anti_affinity=anti)

    def _readiness(self, path: str | None) -> k8s.Probe | None:
        if path is None:
            return None
        field = self._field("readiness_path")
        if not isinstance(path, str) or not path.startswith("/"):
            raise fail(field, path, "an HTTP path starting with /")
        if not self.ports:
            raise PrimeRLConfigError(f"{field} is set but no port is set to probe")
        port = next(iter(self.ports))
        return k8s.Probe(
            http_get=k8s.HttpGetAction(path=path, port=k8s.IntOrString.from_string(port)),
            period_seconds=10,
            failure_threshold=3,
        )


def _toleration(value: Any, field: str) -> k8s.Toleration:
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
    effect = value.get("effect")
    if effect is not None:
        require_one_of(effect, f"{field}.effect", TOLERATION_EFFECTS)
    seconds = value.get("tolerationSeconds")
    if seconds is not None:
        if effect != "NoExecute":
            raise fail(f"{field}.tolerationSeconds", seconds, "set only with effect NoExecute")
        require_int(seconds, f"{field}.tolerationSeconds")
    return k8s.Toleration(
        key=key,
        operator=operator if "operator" in value else None,
        value=toleration_value,
        effect=effect,
        toleration_seconds=seconds,
    )
