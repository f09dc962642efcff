"""One PRIME-RL experiment as plain manifests: every cross-component rule and default lives here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .. import __version__
from ..errors import escape
from . import configs, kubernetes, platform
from .commands import check_output_dir, check_port, check_torchrun_processes, command_text
from .env import MAX_ENV_STRING_BYTES, EnvValue, SecretKeyRef
from .jobset import DEFAULT_MAX_RESTARTS, JobSetModel, jobset_address
from .naming import DEFAULT_CLUSTER_DOMAIN, instance_labels
from .presets import INFERENCE, ORCHESTRATOR, ROLES, TRAINER, ExamplePreset, get_preset
from .probes import (
    DEFAULT_PROBES,
    HEARTBEAT_FILE,
    PROBE_KINDS,
    ProbeTiming,
    render_probes,
    require_probe_timing,
)
from .statefulset import (
    DEFAULT_RUN_AS_USER,
    DEFAULT_TOPOLOGY_KEY,
    SHM_VOLUME_NAME,
    TMP_VOLUME_NAME,
    GpuStatefulSetModel,
    GpuStatefulSetProps,
    PodAddress,
    check_mount_volume,
    mount_shape,
    statefulset_address,
    volume_shape,
)
from .validation import (
    PULL_POLICIES,
    config_error,
    fail,
    parse_quantity,
    require_annotations,
    require_base_url,
    require_bool,
    require_data_mount_path,
    require_dns1035_label,
    require_dns1123_label,
    require_dns1123_subdomain,
    require_duration,
    require_extended_resource,
    require_image,
    require_int,
    require_label_value,
    require_labels,
    require_list,
    require_one_of,
    require_port,
    require_run_id,
    require_str,
    require_user_id,
)
from .volume import SharedDataModel, SharedDataVolumeProps

#: This project's image, built from its Dockerfile (see the README's quick start).
DEFAULT_IMAGE_REPOSITORY = "ghcr.io/prime-rl-k8s/prime-rl-k8s"
WORKLOADS = ("statefulset", "jobset")
DEFAULT_PYTORCH_CUDA_ALLOC_CONF = "expandable_segments:True"
#: Port of the OpenAI-compatible API on inference pods (and the trainer's HTTP port).
DEFAULT_HTTP_PORT = 8000
#: Port torchrun / NCCL rendezvous on trainer pod 0.
DEFAULT_NCCL_PORT = 29501
#: Seconds a role's pods get between SIGTERM and SIGKILL: the trainer and the orchestrator save a
#: checkpoint of their finished steps first (a large model's trainer state takes minutes to write).
DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS = {ORCHESTRATOR: 120, TRAINER: 900}
#: Secret keys read into WANDB_API_KEY and HF_TOKEN when `secret_name` is set.
SECRET_KEYS = {"WANDB_API_KEY": "wandb-api-key", "HF_TOKEN": "hf-token"}
#: Start order of the roles, and their order in a JobSet: servers first, the trainer last.
START_ORDER = (INFERENCE, ORCHESTRATOR, TRAINER)


def default_image_tag(preset: ExamplePreset) -> str:
    """``<version>`` (the CUDA image), or ``<version>-cpu`` for examples that run on CPU nodes."""
    return f"{__version__}-cpu" if preset.cpu_only else __version__


@dataclass(frozen=True)
class RoleProps:
    """Settings of one role; every ``None`` means "the role's / example preset's default".

    - ``enabled``: default ``True``; ``False`` renders nothing for the role.
    - ``replicas``: default 1 (the orchestrator must have exactly 1).
    - ``auto_start``: default ``True``: run ``command``. ``False`` runs ``sleep infinity`` so you can
      ``kubectl exec`` in and start the role by hand.
    - ``command``: default: the preset's command for the role; a string runs verbatim under ``bash -c``.
    - ``env``: extra variables, applied last (they can override the wiring env).
    - ``gpu_count``: default: the preset's GPUs for the role (0 for the orchestrator).
    - ``cpu_request``/``memory_request``: default: the preset's requests.
    - ``cpu_limit``/``memory_limit``: default: the preset's limit, raised to the request when the
      request is higher (so setting only a request never fails for request > limit).
    - ``runtime_class_name``: default ``"nvidia"`` when GPUs are requested; ``""`` omits it.
    - ``shm_size_gib``: default 16 GiB ``/dev/shm`` for GPU pods, none otherwise; ``0`` disables it.
    - ``service_enabled``: default ``True`` when the role has a port (inference and trainer).
    - ``service_type``: default ``"ClusterIP"``.
    - ``port``: default 8000 for inference and trainer, none for the orchestrator.
    - ``nccl_port``: trainer: default 29501 (``MASTER_PORT``); other roles: default none, and a
      port given is published as ``nccl``.
    - ``node_selector``, ``tolerations``: added to the pod (GPU pods also tolerate the
      ``nvidia.com/gpu`` taint).
    - ``pod_anti_affinity``: ``None``, ``"required"`` or ``"preferred"`` on
      ``anti_affinity_topology_key`` (default ``kubernetes.io/hostname``).
    - ``termination_grace_period_seconds``: default 900 for the trainer and 120 for the
      orchestrator (time to checkpoint after SIGTERM), Kubernetes' 30 for inference.
    - ``probes_enabled``: default ``True`` when the role runs its command, ``False`` for
      ``auto_start=False`` pods (nothing would answer). Inference is probed on vLLM's ``/health``;
      trainer and orchestrator on the heartbeat file the runtime touches from its loops.
    - ``startup_probe``/``liveness_probe``/``readiness_probe``: :class:`ProbeTiming`; default:
      :data:`DEFAULT_PROBES` (inference: 45 minutes to load a model; trainer and orchestrator:
      10 minutes to start, restarted after 20 minutes without a heartbeat).
    - ``priority_class_name``: default none; the pods' PriorityClass.
    - ``pod_disruption_budget``: default ``True`` for a trainer of more than one pod, else
      ``False``: a PodDisruptionBudget with ``maxUnavailable: 0``, so a node drain waits instead of
      evicting one rank of a running gang.
    - ``pod_anti_affinity`` may also be a full Kubernetes ``PodAntiAffinity`` mapping, and
      ``affinity`` a full ``Affinity``; ``topology_spread_constraints``, ``pod_labels``,
      ``pod_annotations``, ``extra_resources`` (requested and limited alike, e.g. ``{"rdma/ib": 1}``),
      ``extra_volumes``/``extra_volume_mounts`` and ``extra_env_from`` pass through to the pods,
      checked against the Kubernetes shapes (see :class:`GpuStatefulSet`).
    - ``rdma_enabled``: default ``False``; ``True`` adds one ``rdma_resource_name`` device (default
      ``rdma/ib``), the ``IPC_LOCK`` capability (pinned memory) and ``NCCL_IB_DISABLE=0``, which
      InfiniBand/RoCE clusters need for NCCL over RDMA.
    - ``config``: default none; the role's runtime config as TOML text or a mapping, shipped in a
      ConfigMap and read after the example's TOML (see :mod:`.configs`).
    """

    enabled: bool = True
    replicas: int | None = None
    auto_start: bool = True
    command: Sequence[str] | str | None = None
    env: Mapping[str, EnvValue] = field(default_factory=dict)
    gpu_count: int | None = None
    cpu_request: str | int | float | None = None
    memory_request: str | int | None = None
    cpu_limit: str | int | float | None = None
    memory_limit: str | int | None = None
    runtime_class_name: str | None = None
    shm_size_gib: int | float | None = None
    service_enabled: bool | None = None
    service_type: str = "ClusterIP"
    port: int | None = None
    nccl_port: int | None = None
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: Sequence[Mapping[str, Any]] = ()
    pod_anti_affinity: str | Mapping[str, Any] | None = None
    anti_affinity_topology_key: str = DEFAULT_TOPOLOGY_KEY
    termination_grace_period_seconds: int | None = None
    probes_enabled: bool | None = None
    startup_probe: ProbeTiming | None = None
    liveness_probe: ProbeTiming | None = None
    readiness_probe: ProbeTiming | None = None
    priority_class_name: str | None = None
    pod_disruption_budget: bool | None = None
    affinity: Mapping[str, Any] | None = None
    topology_spread_constraints: Sequence[Mapping[str, Any]] = ()
    pod_labels: Mapping[str, str] = field(default_factory=dict)
    pod_annotations: Mapping[str, str] = field(default_factory=dict)
    extra_resources: Mapping[str, str | int] = field(default_factory=dict)
    extra_volumes: Sequence[Mapping[str, Any]] = ()
    extra_volume_mounts: Sequence[Mapping[str, Any]] = ()
    extra_env_from: Sequence[Mapping[str, Any]] = ()
    rdma_enabled: bool = False
    rdma_resource_name: str = "rdma/ib"
    config: str | Mapping[str, Any] | None = None


@dataclass(frozen=True)
class PrimeRLExperimentProps:
    """Props of :class:`PrimeRLExperiment` (see there for each default's behaviour)."""

    name: str
    namespace: str | None = None
    example: str = "reverse-text"
    image_repository: str = DEFAULT_IMAGE_REPOSITORY
    image_tag: str | None = None
    image_pull_policy: str = "IfNotPresent"
    storage_enabled: bool = True
    storage_class_name: str | None = "nfs"
    storage_size: str | int = "1Ti"
    storage_access_modes: Sequence[str] = ("ReadWriteMany",)
    storage_mount_path: str = "/data"
    storage_existing_claim_name: str | None = None
    storage_retain_on_delete: bool = False
    secret_name: str | None = None
    external_inference_urls: Sequence[str] = ()
    run_as_user: int | None = DEFAULT_RUN_AS_USER
    max_async_level: int = 1
    run_id: str | None = None
    workload: str = "statefulset"
    jobset_max_restarts: int = DEFAULT_MAX_RESTARTS
    jobset_ttl_seconds_after_finished: int | None = None
    kueue_queue_name: str | None = None
    trainer_pytorch_cuda_alloc_conf: str = DEFAULT_PYTORCH_CUDA_ALLOC_CONF
    shared_config: str | Mapping[str, Any] | None = None
    image_pull_secrets: Sequence[str] = ()
    service_account_create: bool = False
    service_account_name: str | None = None
    service_account_annotations: Mapping[str, str] = field(default_factory=dict)
    read_only_root_filesystem: bool = True
    metrics_port: int = platform.DEFAULT_METRICS_PORT
    monitoring_pod_monitor_enabled: bool = False
    monitoring_pod_monitor_interval: str = "30s"
    monitoring_pod_monitor_labels: Mapping[str, str] = field(default_factory=dict)
    network_policy_enabled: bool = False
    network_policy_inference_clients: Sequence[Mapping[str, Any]] = ()
    network_policy_prometheus_namespace_labels: Mapping[str, str] = field(
        default_factory=lambda: dict(platform.DEFAULT_PROMETHEUS_NAMESPACE_LABELS)
    )
    network_policy_allow_model_hub: bool = True
    network_policy_extra_egress: Sequence[Mapping[str, Any]] = ()
    orchestrator: RoleProps | None = None
    inference: RoleProps | None = None
    trainer: RoleProps | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    cluster_domain: str = DEFAULT_CLUSTER_DOMAIN


class ExperimentPlan:
    """Validated experiment props, resolved into the props of its volume and StatefulSets.

    The constructs build one child per entry; :meth:`manifests` renders the same children
    without cdk8s, in the same order (claim, then per role: StatefulSet, Services and disruption
    budget; in JobSet mode the claim, the JobSet, then per role its Service and budget).
    """

    def __init__(self, props: PrimeRLExperimentProps) -> None:
        self.props = props
        self.name = require_dns1035_label(props.name, "name")
        self.namespace = (
            None if props.namespace is None else require_dns1123_label(props.namespace, "namespace")
        )
        self.preset: ExamplePreset = get_preset(props.example, "example")
        self.cluster_domain = require_dns1123_subdomain(props.cluster_domain, "cluster_domain")
        image_tag = default_image_tag(self.preset) if props.image_tag is None else props.image_tag
        self.image = require_image(props.image_repository, image_tag, "image_repository", "image_tag")
        self.workload = require_one_of(props.workload, "workload", WORKLOADS)
        self.jobset_max_restarts = require_int(props.jobset_max_restarts, "jobset_max_restarts")
        self.jobset_ttl_seconds_after_finished = (
            None
            if props.jobset_ttl_seconds_after_finished is None
            else require_int(props.jobset_ttl_seconds_after_finished, "jobset_ttl_seconds_after_finished")
        )
        self.kueue_queue_name = (
            None
            if props.kueue_queue_name is None
            else require_label_value(props.kueue_queue_name, "kueue_queue_name")
        )
        if self.kueue_queue_name == "":
            raise fail("kueue_queue_name", "", "a LocalQueue name or None")
        self.pytorch_cuda_alloc_conf = require_str(
            props.trainer_pytorch_cuda_alloc_conf, "trainer_pytorch_cuda_alloc_conf"
        )
        require_one_of(props.image_pull_policy, "image_pull_policy", PULL_POLICIES)
        storage_enabled = require_bool(props.storage_enabled, "storage_enabled")
        if props.secret_name is not None:
            require_dns1123_subdomain(props.secret_name, "secret_name")
        if props.run_as_user is not None:
            require_user_id(props.run_as_user, "run_as_user")
        self.max_async_level = require_int(props.max_async_level, "max_async_level")
        self.run_id = self.name if props.run_id is None else require_run_id(props.run_id, "run_id")
        self.labels = {**require_labels(props.labels, "labels"), "example": props.example}
        roles = {role: _role_props(getattr(props, role), role) for role in ROLES}
        enabled = {role: role_props for role, role_props in roles.items() if role_props.enabled}
        #: Roles with the RDMA profile.
        self.rdma_roles: set[str] = set()
        self._platform(props)
        self._configs(props, enabled)

        self.volume: SharedDataVolumeProps | None = None
        if storage_enabled:
            self.volume = SharedDataVolumeProps(
                experiment=self.name,
                storage_class_name=props.storage_class_name,
                size=props.storage_size,
                access_modes=props.storage_access_modes,
                existing_claim_name=props.storage_existing_claim_name,
                mount_path=props.storage_mount_path,
                retain_on_delete=props.storage_retain_on_delete,
                namespace=self.namespace,
                labels=self.labels,
            )
            volume = self._volume_model = SharedDataModel(self.volume, _storage_field)
            self.mount_path = require_data_mount_path(volume.mount_path, "storage_mount_path")
            shared = {"volumes": (volume.volume(),), "volume_mounts": (volume.volume_mount(),)}
        else:
            if props.storage_existing_claim_name is not None:
                raise config_error(
                    "{0} must be None while {1} is false, got "
                    + escape(repr(props.storage_existing_claim_name)),
                    "storage_existing_claim_name",
                    "storage_enabled",
                )
            self.mount_path = require_data_mount_path(props.storage_mount_path, "storage_mount_path")
            shared = {}
            if ORCHESTRATOR in enabled and TRAINER in enabled:
                raise config_error(
                    "{0} must be true while orchestrator and trainer are enabled, got False; they "
                    "exchange rollouts and weights through the shared volume",
                    "storage_enabled",
                )

        for path in self.preset.volume_paths:
            if not path.startswith(self.mount_path + "/"):
                raise fail(
                    "storage_mount_path",
                    self.mount_path,
                    f"a directory that holds {path}, where the {props.example} example's configs read it",
                )
        self.output_dir = f"{self.mount_path}/outputs/{self.name}"
        base = {role: self._base_props(role, role_props, shared) for role, role_props in enabled.items()}
        self.addresses: dict[str, PodAddress] = {}
        for role, role_base in base.items():
            # The StatefulSet names are checked in both modes, so switching modes never renames.
            address = statefulset_address(role_base, f"{role}.", "name")
            if self.workload == "jobset":
                address = jobset_address(
                    self.name, role, self.namespace, address.replicas, self.cluster_domain, "name"
                )
            self.addresses[role] = address
        self.inference_urls = self._inference_urls(base)
        self.trainer_world_size: int | None = None
        if TRAINER in enabled and self.addresses[TRAINER].replicas > 0:
            self.trainer_world_size = self.addresses[TRAINER].replicas * max(base[TRAINER].gpu_count, 1)
        self.roles: dict[str, GpuStatefulSetProps] = {}
        self.models: dict[str, GpuStatefulSetModel] = {}
        for role, role_props in enabled.items():
            env = {**self._wiring_env(role, base[role]), **_secret_env(props.secret_name), **role_props.env}
            self.roles[role] = replace(base[role], env=env)
            address = self.addresses[role] if self.workload == "jobset" else None
            self.models[role] = GpuStatefulSetModel(self.roles[role], f"{role}.", address)
            self._check_command(role, self.models[role])
        self.jobset: JobSetModel | None = None
        if self.workload == "jobset":
            self.jobset = JobSetModel(
                self.name,
                self.namespace,
                self.labels,
                {role: self.models[role] for role in START_ORDER if role in self.models},
                success_role=next((r for r in (TRAINER, ORCHESTRATOR) if r in self.models), None),
                max_restarts=self.jobset_max_restarts,
                ttl_seconds_after_finished=self.jobset_ttl_seconds_after_finished,
                queue_name=self.kueue_queue_name,
            )

    @property
    def inference_url(self) -> str | None:
        """The first inference base URL (``INFERENCE_URL``), or None when there is none."""
        return self.inference_urls[0] if self.inference_urls else None

    def manifests(self) -> list[dict[str, Any]]:
        """Every object of the experiment, in the order the constructs synthesize them.

        The claim, the service account and the ConfigMaps come first (``kubectl apply`` creates
        them before the pods that use them), then the workloads, then policies and monitoring.
        """
        docs = self._volume_model.manifests() if self.volume is not None else []
        if self.service_account is not None:
            docs.append(self.service_account_manifest())
        docs.extend(self.config_map_manifest(role) for role in self.config_data)
        if self.jobset is None:
            for model in self.models.values():
                docs.extend(model.manifests())
        else:
            docs.append(self.jobset.manifest())
            for model in self.models.values():
                docs.extend(model.role_manifests())
        docs.extend(self.network_policy_manifests())
        if self.pod_monitor_enabled:
            docs.append(self.pod_monitor_manifest())
        return docs

    # -- objects around the workloads -------------------------------------------------------------
    @property
    def object_labels(self) -> dict[str, str]:
        """Labels of the experiment-wide objects (service account, ConfigMaps, policies, PodMonitor)."""
        return {**instance_labels(self.name), **self.labels}

    def service_account_manifest(self) -> dict[str, Any]:
        assert self.service_account is not None
        return platform.service_account_manifest(
            self.service_account, self.namespace, self.object_labels, self.service_account_annotations
        )

    def config_map_name(self, role: str) -> str:
        return f"{self.name}-{role}-config"

    def config_map_manifest(self, role: str) -> dict[str, Any]:
        labels = {**self.object_labels, "app.kubernetes.io/component": role}
        return configs.config_map_manifest(
            self.config_map_name(role), self.namespace, labels, self.config_data[role]
        )

    def network_policy_manifests(self) -> list[dict[str, Any]]:
        if not self.network_policy_enabled:
            return []
        # What Prometheus scrapes: the metrics ports, and with the PodMonitor vLLM's /metrics, which
        # is on the inference API port (so that port opens to the scraper only then).
        metrics_ports = {model.ports["metrics"] for model in self.models.values() if "metrics" in model.ports}
        inference = self.models.get(INFERENCE)
        if self.pod_monitor_enabled and inference is not None and "http" in inference.ports:
            metrics_ports.add(inference.ports["http"])
        docs = [
            platform.network_policy_manifest(
                self.name,
                self.namespace,
                self.object_labels,
                metrics_ports=sorted(metrics_ports),
                prometheus_namespace_labels=self.network_policy_prometheus_namespace_labels,
                allow_model_hub=self.network_policy_allow_model_hub,
                extra_egress=self.network_policy_extra_egress,
            )
        ]
        if self.network_policy_inference_clients and inference is not None:
            docs.append(
                platform.inference_clients_policy_manifest(
                    f"{self.name}-inference-clients",
                    self.namespace,
                    self.object_labels,
                    inference.selector,
                    inference.ports["http"],
                    self.network_policy_inference_clients,
                )
            )
        return docs

    def pod_monitor_manifest(self) -> dict[str, Any]:
        return platform.pod_monitor_manifest(
            self.name,
            self.namespace,
            {**self.object_labels, **self.pod_monitor_labels},
            interval=self.pod_monitor_interval,
            scrape_inference=INFERENCE in self.models,
        )

    def _platform(self, props: PrimeRLExperimentProps) -> None:
        """Checks the service account, policy and monitoring props."""
        self.image_pull_secrets = list(require_list(props.image_pull_secrets, "image_pull_secrets"))
        create = require_bool(props.service_account_create, "service_account_create")
        name = props.service_account_name
        if name is not None:
            require_dns1123_subdomain(name, "service_account_name")
        self.service_account_annotations = require_annotations(
            props.service_account_annotations, "service_account_annotations"
        )
        #: The ServiceAccount this experiment creates, or None.
        self.service_account: str | None = (name or self.name) if create else None
        #: The ServiceAccount the pods run as (None: the namespace's default).
        self.pod_service_account: str | None = (name or self.name) if create else name
        self.read_only_root_filesystem = require_bool(
            props.read_only_root_filesystem, "read_only_root_filesystem"
        )
        self.metrics_port = require_port(props.metrics_port, "metrics_port")
        self.pod_monitor_enabled = require_bool(
            props.monitoring_pod_monitor_enabled, "monitoring_pod_monitor_enabled"
        )
        self.pod_monitor_interval = require_duration(
            props.monitoring_pod_monitor_interval, "monitoring_pod_monitor_interval"
        )
        self.pod_monitor_labels = require_labels(
            props.monitoring_pod_monitor_labels, "monitoring_pod_monitor_labels"
        )
        self.network_policy_enabled = require_bool(props.network_policy_enabled, "network_policy_enabled")
        self.network_policy_inference_clients = kubernetes.checked_list(
            props.network_policy_inference_clients,
            "network_policy_inference_clients",
            kubernetes.network_peer,
        )
        self.network_policy_prometheus_namespace_labels = require_labels(
            props.network_policy_prometheus_namespace_labels, "network_policy_prometheus_namespace_labels"
        )
        self.network_policy_allow_model_hub = require_bool(
            props.network_policy_allow_model_hub, "network_policy_allow_model_hub"
        )
        self.network_policy_extra_egress = kubernetes.checked_list(
            props.network_policy_extra_egress, "network_policy_extra_egress", kubernetes.egress_rule
        )

    def _configs(self, props: PrimeRLExperimentProps, enabled: Mapping[str, RoleProps]) -> None:
        """Parses the configs and decides, per role, the files of its ConfigMap."""
        shared: tuple[str, dict[str, Any]] | None = None
        if props.shared_config is not None:
            shared = configs.toml_text(props.shared_config, "shared_config")
        #: role -> ConfigMap data (file name -> TOML text), for roles that have a config.
        self.config_data: dict[str, dict[str, str]] = {}
        for role, role_props in enabled.items():
            data: dict[str, str] = {}
            if shared is not None and role in (ORCHESTRATOR, TRAINER):
                data[configs.SHARED_FILE] = shared[0]
            if role_props.config is not None:
                text, table = configs.toml_text(role_props.config, f"{role}.config")
                if shared is not None and role in (ORCHESTRATOR, TRAINER):
                    configs.check_disjoint(shared[1], table, "shared_config", f"{role}.config")
                data[configs.ROLE_FILE] = text
            if data:
                self.config_data[role] = data

    def _check_command(self, role: str, model: GpuStatefulSetModel) -> None:
        """The flags a command repeats agree with the pods that run it (see :mod:`.commands`)."""
        if model.command is None:
            return
        check_output_dir(model.command, self.output_dir, f"{role}.command")
        if role == TRAINER:
            check_torchrun_processes(model.command, model.gpu_count, f"{role}.command", f"{role}.gpu_count")
        if role == INFERENCE:
            check_port(model.command, model.ports.get("http"), f"{role}.command", f"{role}.port")

    # -- one role ------------------------------------------------------------------------------
    def _base_props(self, role: str, props: RoleProps, shared: Mapping[str, Any]) -> GpuStatefulSetProps:
        """A role's StatefulSet props, everything but the wiring env."""
        defaults = self.preset.role_defaults(role)
        replicas = require_int(_default(props.replicas, 1), f"{role}.replicas")
        if role == ORCHESTRATOR and replicas != 1:
            raise fail(f"{role}.replicas", replicas, "1 while the orchestrator is enabled")
        gpus = require_int(_default(props.gpu_count, defaults.gpu_count), f"{role}.gpu_count")
        port = _default(props.port, None if role == ORCHESTRATOR else DEFAULT_HTTP_PORT)
        ports = {} if port is None else {"http": require_port(port, f"{role}.port")}
        nccl = _default(props.nccl_port, DEFAULT_NCCL_PORT if role == TRAINER else None)
        if nccl is not None:
            require_port(nccl, f"{role}.nccl_port")
            if nccl == port:
                raise fail(f"{role}.nccl_port", nccl, f"different from {role}.port")
            ports["nccl"] = nccl
        if gpus > 0:
            # Guaranteed: the GPU pod copies a side left unset from the other; with neither set,
            # both are the preset's limit.
            cpu_request, cpu_limit = props.cpu_request, props.cpu_limit
            if cpu_request is None and cpu_limit is None:
                cpu_request = defaults.cpu_limit
            memory_request, memory_limit = props.memory_request, props.memory_limit
            if memory_request is None and memory_limit is None:
                memory_request = defaults.memory_limit
        else:
            cpu_request = _default(props.cpu_request, defaults.cpu_request)
            memory_request = _default(props.memory_request, defaults.memory_request)
            cpu_limit = _limit(props.cpu_limit, cpu_request, defaults.cpu_limit, f"{role}.cpu_request")
            memory_limit = _limit(
                props.memory_limit, memory_request, defaults.memory_limit, f"{role}.memory_request"
            )
        auto_start = require_bool(props.auto_start, f"{role}.auto_start")
        probes = self._probes(role, props, auto_start, "http" if "http" in ports else None)
        pod_disruption_budget = require_bool(
            _default(props.pod_disruption_budget, role == TRAINER and replicas > 1),
            f"{role}.pod_disruption_budget",
        )
        if role in (ORCHESTRATOR, TRAINER):
            for name, number in ports.items():
                if number == self.metrics_port:
                    prop = f"{role}.port" if name == "http" else f"{role}.{name}_port"
                    raise config_error(
                        "{0} must differ from {1}, got " + str(number) + " for both", "metrics_port", prop
                    )
            ports["metrics"] = self.metrics_port
        config_files = self._config_files(role)
        if not auto_start:
            command: Sequence[str] | str = ["sleep", "infinity"]
        elif props.command is not None:
            command = props.command
            if config_files and not _reads_config(command, config_files):
                raise config_error(
                    "{0} is set but {1} never reads it; add $CONFIG_FILES to the command (it expands to "
                    + escape(configs.config_args(config_files))
                    + ")",
                    f"{role}.config"
                    if role in self.config_data and configs.ROLE_FILE in self.config_data[role]
                    else "shared_config",
                    f"{role}.command",
                )
        else:
            command = self.preset.command(role, replicas=replicas, gpu_count=gpus)
            if config_files:
                # The same words a user writes, so a values file and the preset render alike.
                command = f"{command} $CONFIG_FILES"
        volumes = list(shared.get("volumes", ()))
        mounts = list(shared.get("volume_mounts", ()))
        annotations = dict(_mapping(props.pod_annotations, f"{role}.pod_annotations"))
        if role in self.config_data:
            if configs.CHECKSUM_ANNOTATION in annotations:
                raise fail(
                    f"{role}.pod_annotations.{configs.CHECKSUM_ANNOTATION}",
                    annotations[configs.CHECKSUM_ANNOTATION],
                    "absent; it is the checksum of the role's config",
                )
            volumes.append({"configMap": {"name": self.config_map_name(role)}, "name": "config"})
            mounts.append({"mountPath": configs.CONFIG_DIR, "name": "config", "readOnly": True})
            annotations[configs.CHECKSUM_ANNOTATION] = configs.checksum(self.config_data[role])
        # The pods' own volumes and paths are taken: an extra one may not reuse them.
        names = {volume["name"] for volume in volumes} | {SHM_VOLUME_NAME, TMP_VOLUME_NAME}
        paths = {mount["mountPath"] for mount in mounts} | {"/dev/shm", "/tmp"}
        extra_volumes: list[dict[str, Any]] = []
        for index, volume in enumerate(require_list(props.extra_volumes, f"{role}.extra_volumes")):
            field = f"{role}.extra_volumes[{index}]"
            entry = volume_shape(volume, field)
            if entry["name"] in names:
                raise fail(
                    f"{field}.name", entry["name"], "a name not used already: " + ", ".join(sorted(names))
                )
            names.add(entry["name"])
            extra_volumes.append(entry)
        for index, mount in enumerate(require_list(props.extra_volume_mounts, f"{role}.extra_volume_mounts")):
            field = f"{role}.extra_volume_mounts[{index}]"
            entry = mount_shape(mount, field)
            if entry["mountPath"] in paths:
                raise fail(
                    f"{field}.mountPath",
                    entry["mountPath"],
                    "a path not mounted already: " + ", ".join(sorted(paths)),
                )
            paths.add(entry["mountPath"])
            check_mount_volume(entry, [*volumes, *extra_volumes], field)
        volumes.extend(extra_volumes)
        mounts.extend(props.extra_volume_mounts)
        extra_resources = dict(_mapping(props.extra_resources, f"{role}.extra_resources"))
        capabilities: list[str] = []
        if require_bool(props.rdma_enabled, f"{role}.rdma_enabled"):
            resource = require_extended_resource(props.rdma_resource_name, f"{role}.rdma_resource_name")
            if resource in extra_resources:
                raise config_error(
                    "{0} and {1} both set " + escape(str(resource)),
                    f"{role}.rdma_enabled",
                    f"{role}.extra_resources",
                )
            extra_resources[resource] = 1
            capabilities.append("IPC_LOCK")
            self.rdma_roles.add(role)
        return GpuStatefulSetProps(
            instance=self.name,
            component=role,
            image=self.image,
            namespace=self.namespace,
            replicas=replicas,
            gpu_count=gpus,
            command=command,
            image_pull_policy=self.props.image_pull_policy,
            cpu_request=cpu_request,
            memory_request=memory_request,
            cpu_limit=cpu_limit,
            memory_limit=memory_limit,
            runtime_class_name=props.runtime_class_name,
            shm_size_gib=props.shm_size_gib,
            ports=ports,
            service_enabled=_default(props.service_enabled, bool(ports.get("http"))),
            service_type=props.service_type,
            node_selector=_default(props.node_selector, {}),
            tolerations=_default(props.tolerations, ()),
            pod_anti_affinity=props.pod_anti_affinity,
            anti_affinity_topology_key=props.anti_affinity_topology_key,
            affinity=props.affinity,
            topology_spread_constraints=props.topology_spread_constraints,
            pod_labels=props.pod_labels,
            pod_annotations=annotations,
            extra_resources=extra_resources,
            env_from=props.extra_env_from,
            image_pull_secrets=self.image_pull_secrets,
            service_account_name=self.pod_service_account,
            capabilities_add=capabilities,
            read_only_root_filesystem=self.read_only_root_filesystem,
            volumes=volumes,
            volume_mounts=mounts,
            labels=self.labels,
            startup_probe=probes.get("startupProbe"),
            liveness_probe=probes.get("livenessProbe"),
            readiness_probe=probes.get("readinessProbe"),
            priority_class_name=props.priority_class_name,
            # A trainer gang must never roll one pod at a time: each restart would break the
            # torchrun group. Its pods change only when deleted (the README's restart).
            update_strategy="OnDelete" if role == TRAINER else "RollingUpdate",
            queue_name=self.kueue_queue_name if self.workload == "statefulset" else None,
            pod_disruption_budget=pod_disruption_budget,
            termination_grace_period_seconds=_default(
                props.termination_grace_period_seconds, DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS.get(role)
            ),
            run_as_user=self.props.run_as_user,
            cluster_domain=self.cluster_domain,
        )

    def _config_files(self, role: str) -> list[str]:
        data = self.config_data.get(role, {})
        return configs.config_files(configs.SHARED_FILE in data, configs.ROLE_FILE in data)

    @staticmethod
    def _probes(role: str, props: RoleProps, auto_start: bool, port_name: str | None) -> dict[str, Any]:
        """The role's probes: on by default while it runs its command, never for an idle pod."""
        enabled = require_bool(_default(props.probes_enabled, auto_start), f"{role}.probes_enabled")
        timings = {
            kind: require_probe_timing(
                _default(getattr(props, f"{kind}_probe"), DEFAULT_PROBES[role][kind]), f"{role}.{kind}_probe"
            )
            for kind in PROBE_KINDS
        }
        return render_probes(role, port_name, timings) if enabled else {}

    def _inference_urls(self, base: Mapping[str, GpuStatefulSetProps]) -> tuple[str, ...]:
        """External URLs when given, else one per inference pod through its headless Service."""
        urls = external = _urls(self.props.external_inference_urls)
        inference = self.addresses.get(INFERENCE)
        if not external and inference is not None and "http" in base[INFERENCE].ports:
            port = base[INFERENCE].ports["http"]
            urls = tuple(base_url(inference.pod_fqdn(i), port) for i in range(inference.replicas))
        joined = len(",".join(urls).encode())
        if joined + len("ADMIN_INFERENCE_URLS") + 2 > MAX_ENV_STRING_BYTES:
            field, value = (
                ("external_inference_urls", f"<{len(urls)} URLs>")
                if external
                else ("inference.replicas", len(urls))
            )
            raise fail(
                field,
                value,
                "few enough inference servers that INFERENCE_URLS fits the kernel's "
                f"{MAX_ENV_STRING_BYTES}-byte limit for one environment variable "
                f"(these URLs join to {joined} bytes)",
            )
        for role in (ORCHESTRATOR, TRAINER):
            if role in base and not urls:
                reason = (
                    "inference is disabled" if INFERENCE not in base else "inference has no replicas or port"
                )
                raise config_error(
                    "{0} is true but "
                    + escape(reason)
                    + " and {1} is empty; enable inference with at least 1 replica, give external "
                    "inference URLs, or disable " + role,
                    f"{role}.enabled",
                    "external_inference_urls",
                )
        return urls

    def _wiring_env(self, role: str, props: GpuStatefulSetProps) -> dict[str, str]:
        env: dict[str, str] = {}
        if role in (ORCHESTRATOR, TRAINER):
            env["INFERENCE_URL"] = self.inference_urls[0]
            env["INFERENCE_URLS"] = ",".join(self.inference_urls)
            env["ADMIN_INFERENCE_URLS"] = env["INFERENCE_URLS"]
            if self.trainer_world_size is not None:
                env["TRAINER_WORLD_SIZE"] = str(self.trainer_world_size)
            env["MAX_ASYNC_LEVEL"] = str(self.max_async_level)
            env["RUN_ID"] = self.run_id
            env["HEARTBEAT_FILE"] = HEARTBEAT_FILE
            if self.workload == "statefulset":
                # A StatefulSet restarts a pod that exits, even with status 0: a finished role
                # idles instead, so it neither loops nor redoes steps.
                env["IDLE_WHEN_DONE"] = "1"
        if role == TRAINER and self.trainer_world_size is not None:
            env["MASTER_ADDR"] = self.addresses[TRAINER].pod_fqdn(0)
        if role == TRAINER:
            env["MASTER_PORT"] = str(props.ports["nccl"])
            env["PYTORCH_CUDA_ALLOC_CONF"] = self.pytorch_cuda_alloc_conf
        if "metrics" in props.ports:
            env["METRICS_PORT"] = str(props.ports["metrics"])
        if role in self.rdma_roles:
            env["NCCL_IB_DISABLE"] = "0"
        config_files = self._config_files(role)
        if config_files:
            env["CONFIG_FILES"] = configs.config_args(config_files)
        if self.volume is not None:
            # One model download per experiment: every pod reads the copy the first one fetched.
            env["HF_HOME"] = f"{self.mount_path}/cache/huggingface"
            env["VLLM_CACHE_ROOT"] = f"{self.mount_path}/cache/vllm"
        if self.read_only_root_filesystem:
            # The root filesystem is read-only: caches that live under $HOME go to the /tmp emptyDir.
            env["HOME"] = "/tmp/home"
        if role == INFERENCE and "http" in props.ports:
            env["INFERENCE_PORT"] = str(props.ports["http"])
        env["OUTPUT_DIR"] = self.output_dir
        return env


def _reads_config(command: Sequence[str] | str, files: Sequence[str]) -> bool:
    """Whether a user's command reads the mounted config: through $CONFIG_FILES or by path."""
    text = command if isinstance(command, str) else command_text(command)
    return "CONFIG_FILES" in text or all(path in text for path in files)


def _mapping(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise fail(field, value, "a mapping")
    return value


def base_url(host: str, port: int) -> str:
    """The OpenAI-compatible base URL of one vLLM server."""
    return f"http://{host}:{port}/v1"


#: SharedDataVolume prop -> the experiment prop that sets it.
_STORAGE_FIELDS = {
    "experiment": "name",
    "storage_class_name": "storage_class_name",
    "size": "storage_size",
    "access_modes": "storage_access_modes",
    "existing_claim_name": "storage_existing_claim_name",
    "mount_path": "storage_mount_path",
    "retain_on_delete": "storage_retain_on_delete",
}


def _storage_field(prop: str) -> str:
    return _STORAGE_FIELDS.get(prop, prop)


def _role_props(value: RoleProps | None, role: str) -> RoleProps:
    if value is None:
        return RoleProps()
    if not isinstance(value, RoleProps):
        raise fail(role, value, "a RoleProps or None")
    require_bool(value.enabled, f"{role}.enabled")
    if not isinstance(value.env, Mapping):
        raise fail(f"{role}.env", value.env, "a mapping of variable names to values")
    return value


def _urls(urls: Any) -> tuple[str, ...]:
    field = "external_inference_urls"
    if isinstance(urls, str) or not isinstance(urls, Sequence):
        raise fail(field, urls, "a list of http(s) base URLs such as http://vllm:8000/v1")
    return tuple(require_base_url(url, field) for url in urls)


def _secret_env(secret_name: str | None) -> dict[str, SecretKeyRef]:
    """Optional refs, so pods of runs that log nowhere and pull only public models still start."""
    if secret_name is None:
        return {}
    return {name: SecretKeyRef(secret_name, key, optional=True) for name, key in SECRET_KEYS.items()}


def _limit(limit: Any, request: Any, preset_limit: str, request_field: str) -> Any:
    """An unset limit is the preset's, raised to the request when the request is higher."""
    if limit is not None or request is None:
        return _default(limit, preset_limit)
    if parse_quantity(request, request_field) > parse_quantity(preset_limit, "limit"):
        return request
    return preset_limit


def _default(value: Any, default: Any) -> Any:
    return default if value is None else value
