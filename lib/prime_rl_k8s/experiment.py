"""PrimeRLExperiment: orchestrator, inference and trainer wired together on one shared volume."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from constructs import Construct

from .env import EnvValue, SecretKeyRef
from .errors import PrimeRLConfigError
from .gpu_statefulset import DEFAULT_RUN_AS_USER, DEFAULT_TOPOLOGY_KEY, GpuStatefulSet
from .naming import DEFAULT_CLUSTER_DOMAIN, headless_service_name, pod_fqdn, resolve_namespace
from .presets import INFERENCE, ORCHESTRATOR, TRAINER, ExamplePreset, get_preset
from .validation import (
    HTTP_BASE_URL,
    MAX_NAME_LENGTH,
    MAX_STATEFULSET_NAME_LENGTH,
    PULL_POLICIES,
    fail,
    require_bool,
    require_dns1035_label,
    require_dns1123_subdomain,
    require_generated_name,
    require_image,
    require_int,
    require_labels,
    require_one_of,
    require_port,
    require_user_id,
)
from .volume import SharedDataVolume, require_mount_path

DEFAULT_IMAGE_REPOSITORY = "primeintellect/prime-rl"
DEFAULT_IMAGE_TAG = "main"
#: Port of the OpenAI-compatible API on inference pods (and the trainer's HTTP port).
DEFAULT_HTTP_PORT = 8000
#: Port torchrun / NCCL rendezvous on trainer pod 0.
DEFAULT_NCCL_PORT = 29501
#: Secret keys read into WANDB_API_KEY and HF_TOKEN when `secret_name` is set.
SECRET_KEYS = {"WANDB_API_KEY": "wandb-api-key", "HF_TOKEN": "hf-token"}


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
    - ``cpu_request``/``memory_request``/``cpu_limit``/``memory_limit``: default: the preset's.
    - ``runtime_class_name``: default ``"nvidia"`` when GPUs are requested; ``""`` omits it.
    - ``shm_size_gib``: default 16 GiB ``/dev/shm`` for GPU pods, none otherwise; ``0`` disables it.
    - ``service_enabled``: default ``True`` when the role has a port (inference and trainer).
    - ``service_type``: default ``"ClusterIP"``.
    - ``port``: default 8000 for inference and trainer, none for the orchestrator.
    - ``nccl_port``: trainer: default 29501 (``MASTER_PORT``); other roles: default none, and a
      port given is published as ``nccl`` (the chart's values files set one on the orchestrator).
    - ``node_selector``, ``tolerations``: added to the pod (GPU pods also tolerate the
      ``nvidia.com/gpu`` taint).
    - ``pod_anti_affinity``: ``None``, ``"required"`` or ``"preferred"`` on
      ``anti_affinity_topology_key`` (default ``kubernetes.io/hostname``).
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
    pod_anti_affinity: str | None = None
    anti_affinity_topology_key: str = DEFAULT_TOPOLOGY_KEY


class PrimeRLExperiment(Construct):
    """One PRIME-RL experiment: orchestrator (1 pod), inference (N pods) and trainers (N pods).

    Every object is named after ``name`` (``<name>-<role>``, ``<name>-<role>-headless``,
    ``<name>-shared-data``) and labelled with ``app.kubernetes.io/instance: <name>``, which every
    selector includes, so experiments side by side in one namespace never touch each other's pods.

    Props (keyword only; defaults by behaviour):

    - ``name``: the experiment (release) name, a DNS-1035 label short enough that
      ``<name>-orchestrator-headless`` fits in 63 characters.
    - ``namespace``: default ``None``: the Chart's namespace if set, otherwise no
      ``metadata.namespace`` and URLs use ``default``. Set it whenever pods run elsewhere.
    - ``example``: default ``"reverse-text"``; a preset from :data:`PRESETS` (reverse-text,
      wordle, alphabet-sort, smoke) supplying commands, GPU counts and resources.
    - ``image_repository``/``image_tag``/``image_pull_policy``: default
      ``primeintellect/prime-rl:main``, ``IfNotPresent``; a ``sha256:`` tag pins by digest.
    - ``storage_enabled``: default ``True``: all pods mount one :class:`SharedDataVolume`; without
      it the orchestrator and trainer cannot exchange data, so that combination is rejected.
    - ``storage_class_name`` (``"nfs"``), ``storage_size`` (``"1Ti"``), ``storage_access_modes``
      (ReadWriteMany), ``storage_mount_path`` (``/data``), ``storage_existing_claim_name`` (none:
      create ``<name>-shared-data``), ``storage_retain_on_delete`` (``False``): see
      :class:`SharedDataVolume`.
    - ``secret_name``: default ``None``; when set, ``WANDB_API_KEY`` and ``HF_TOKEN`` come from keys
      ``wandb-api-key`` and ``hf-token`` of that Secret (optional refs: pods start without them).
    - ``external_inference_urls``: default none; base URLs (``http://host:port/v1``) the
      orchestrator and trainer use instead of this experiment's inference pods.
    - ``run_as_user``: default ``1000`` (the image's uid): every pod runs as that uid with
      ``runAsNonRoot``. ``0`` runs every pod as root and ``None`` leaves the user to the image;
      neither sets ``runAsNonRoot``. See :class:`GpuStatefulSet`.
    - ``orchestrator``/``inference``/``trainer``: :class:`RoleProps` (default ``RoleProps()``).
    - ``labels``: extra labels on every object and pod. ``cluster_domain``: default ``cluster.local``.

    Wiring: orchestrator and trainer get ``INFERENCE_URL`` (inference pod 0 through the headless
    Service: ``http://<name>-inference-0.<name>-inference-headless.<ns>.svc.cluster.local:<port>/v1``),
    ``INFERENCE_URLS`` and ``ADMIN_INFERENCE_URLS`` (every replica, comma-separated) and
    ``TRAINER_WORLD_SIZE`` (trainer pods x GPUs per pod, at least 1 per pod); trainers get
    ``MASTER_ADDR`` (trainer pod 0), ``MASTER_PORT`` (``nccl_port``) and
    ``PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True``; every pod gets
    ``OUTPUT_DIR=<mount path>/outputs``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str,
        namespace: str | None = None,
        example: str = "reverse-text",
        image_repository: str = DEFAULT_IMAGE_REPOSITORY,
        image_tag: str = DEFAULT_IMAGE_TAG,
        image_pull_policy: str = "IfNotPresent",
        storage_enabled: bool = True,
        storage_class_name: str | None = "nfs",
        storage_size: str | int = "1Ti",
        storage_access_modes: Sequence[str] = ("ReadWriteMany",),
        storage_mount_path: str = "/data",
        storage_existing_claim_name: str | None = None,
        storage_retain_on_delete: bool = False,
        secret_name: str | None = None,
        external_inference_urls: Sequence[str] = (),
        run_as_user: int | None = DEFAULT_RUN_AS_USER,
        orchestrator: RoleProps | None = None,
        inference: RoleProps | None = None,
        trainer: RoleProps | None = None,
        labels: Mapping[str, str] | None = None,
        cluster_domain: str = DEFAULT_CLUSTER_DOMAIN,
    ) -> None:
        super().__init__(scope, id)
        self.name = require_dns1035_label(name, "name")
        self.namespace = resolve_namespace(self, namespace)
        self.preset: ExamplePreset = get_preset(example, "config.example")
        self.example = example
        self.cluster_domain = require_dns1123_subdomain(cluster_domain, "cluster_domain")
        image = require_image(image_repository, image_tag, "image")
        require_one_of(image_pull_policy, "image.pullPolicy", PULL_POLICIES)
        require_bool(storage_enabled, "storage.enabled")
        if secret_name is not None:
            require_dns1123_subdomain(secret_name, "config.secrets.name")
        if run_as_user is not None:
            require_user_id(run_as_user, "securityContext.runAsUser")
        self.labels = {**require_labels(labels or {}, "labels"), "example": example}
        props = {
            role: _role_props(value, role)
            for role, value in ((ORCHESTRATOR, orchestrator), (INFERENCE, inference), (TRAINER, trainer))
        }
        enabled = {role: p for role, p in props.items() if p.enabled}
        replicas = {role: self._replicas(role, p) for role, p in enabled.items()}
        gpus = {role: self._gpu_count(role, p) for role, p in enabled.items()}
        self._check_names(enabled, storage_enabled and storage_existing_claim_name is None)

        ports = {role: self._port(role, p) for role, p in enabled.items()}
        container_ports = {role: self._container_ports(role, p, ports[role]) for role, p in enabled.items()}
        external = _urls(external_inference_urls)
        if external:
            self.inference_urls: tuple[str, ...] = external
        elif INFERENCE in enabled and ports[INFERENCE] is not None:
            statefulset = f"{self.name}-{INFERENCE}"
            self.inference_urls = tuple(
                _base_url(pod_fqdn(statefulset, i, self.namespace, self.cluster_domain), ports[INFERENCE])
                for i in range(replicas[INFERENCE])
            )
        else:
            self.inference_urls = ()
        for role in (ORCHESTRATOR, TRAINER):
            if role in enabled and not self.inference_urls:
                reason = (
                    "inference is disabled"
                    if INFERENCE not in enabled
                    else "inference has no replicas or port"
                )
                raise PrimeRLConfigError(
                    f"{role}.enabled is true but {reason} and inference.externalUrls is empty; enable "
                    f"inference with at least 1 replica, give external inference URLs, or disable {role}"
                )
        if not storage_enabled and ORCHESTRATOR in enabled and TRAINER in enabled:
            raise PrimeRLConfigError(
                "storage.enabled must be true while orchestrator and trainer are enabled, got false; they "
                "exchange rollouts and weights through the shared volume"
            )
        self.trainer_world_size: int | None = None
        if TRAINER in enabled and replicas[TRAINER] > 0:
            self.trainer_world_size = replicas[TRAINER] * max(gpus[TRAINER], 1)

        self.volume: SharedDataVolume | None = None
        if storage_enabled:
            self.volume = SharedDataVolume(
                self,
                "shared-data",
                experiment=self.name,
                storage_class_name=storage_class_name,
                size=storage_size,
                access_modes=storage_access_modes,
                existing_claim_name=storage_existing_claim_name,
                mount_path=storage_mount_path,
                retain_on_delete=storage_retain_on_delete,
                namespace=self.namespace,
                labels=self.labels,
            )
            mount_path = self.volume.mount_path
        else:
            mount_path = require_mount_path(storage_mount_path, "storage.mountPath")

        self.roles: dict[str, GpuStatefulSet] = {}
        for role, p in enabled.items():
            env = {
                **self._wiring_env(role, container_ports[role], mount_path),
                **_secret_env(secret_name),
                **p.env,
            }
            self.roles[role] = GpuStatefulSet(
                self,
                role,
                instance=self.name,
                component=role,
                image=image,
                namespace=self.namespace,
                replicas=replicas[role],
                gpu_count=gpus[role],
                command=self._command(role, p, replicas[role], gpus[role]),
                env=env,
                image_pull_policy=image_pull_policy,
                cpu_request=_default(p.cpu_request, self.preset.role_defaults(role).cpu_request),
                memory_request=_default(p.memory_request, self.preset.role_defaults(role).memory_request),
                cpu_limit=_default(p.cpu_limit, self.preset.role_defaults(role).cpu_limit),
                memory_limit=_default(p.memory_limit, self.preset.role_defaults(role).memory_limit),
                runtime_class_name=p.runtime_class_name,
                shm_size_gib=p.shm_size_gib,
                ports=container_ports[role],
                service_enabled=_default(p.service_enabled, ports[role] is not None),
                service_type=p.service_type,
                node_selector=p.node_selector,
                tolerations=p.tolerations,
                pod_anti_affinity=p.pod_anti_affinity,
                anti_affinity_topology_key=p.anti_affinity_topology_key,
                shared_data=self.volume,
                labels=self.labels,
                readiness_path="/health" if role == INFERENCE and p.auto_start else None,
                run_as_user=run_as_user,
                cluster_domain=self.cluster_domain,
                config_path=role,
            )

    @property
    def orchestrator(self) -> GpuStatefulSet | None:
        """The orchestrator's StatefulSet, or None when disabled."""
        return self.roles.get(ORCHESTRATOR)

    @property
    def inference(self) -> GpuStatefulSet | None:
        """The inference StatefulSet, or None when disabled."""
        return self.roles.get(INFERENCE)

    @property
    def trainer(self) -> GpuStatefulSet | None:
        """The trainer StatefulSet, or None when disabled."""
        return self.roles.get(TRAINER)

    @property
    def inference_url(self) -> str | None:
        """The first inference base URL (``INFERENCE_URL``), or None when there is none."""
        return self.inference_urls[0] if self.inference_urls else None

    def _replicas(self, role: str, props: RoleProps) -> int:
        count = require_int(_default(props.replicas, 1), f"{role}.replicas")
        if role == ORCHESTRATOR and count != 1:
            raise fail(f"{role}.replicas", count, "1 while the orchestrator is enabled")
        return count

    def _gpu_count(self, role: str, props: RoleProps) -> int:
        return require_int(
            _default(props.gpu_count, self.preset.role_defaults(role).gpu_count), f"{role}.gpu.count"
        )

    def _port(self, role: str, props: RoleProps) -> int | None:
        port = _default(props.port, None if role == ORCHESTRATOR else DEFAULT_HTTP_PORT)
        return None if port is None else require_port(port, f"{role}.service.port")

    def _container_ports(self, role: str, props: RoleProps, port: int | None) -> dict[str, int]:
        ports = {"http": port} if port is not None else {}
        nccl = _default(props.nccl_port, DEFAULT_NCCL_PORT if role == TRAINER else None)
        if nccl is not None:
            require_port(nccl, f"{role}.service.ncclPort")
            if nccl == port:
                raise fail(f"{role}.service.ncclPort", nccl, f"different from {role}.service.port")
            ports["nccl"] = nccl
        return ports

    def _command(self, role: str, props: RoleProps, replicas: int, gpus: int) -> Sequence[str] | str:
        if not require_bool(props.auto_start, f"{role}.autoStart"):
            return ["sleep", "infinity"]
        if props.command is not None:
            return props.command
        return self.preset.command(role, replicas=replicas, gpu_count=gpus)

    def _wiring_env(self, role: str, ports: Mapping[str, int], mount_path: str) -> dict[str, str]:
        env: dict[str, str] = {}
        if role in (ORCHESTRATOR, TRAINER):
            env["INFERENCE_URL"] = self.inference_urls[0]
            env["INFERENCE_URLS"] = ",".join(self.inference_urls)
            env["ADMIN_INFERENCE_URLS"] = env["INFERENCE_URLS"]
            if self.trainer_world_size is not None:
                env["TRAINER_WORLD_SIZE"] = str(self.trainer_world_size)
        if role == TRAINER and self.trainer_world_size is not None:
            env["MASTER_ADDR"] = pod_fqdn(f"{self.name}-{TRAINER}", 0, self.namespace, self.cluster_domain)
        if role == TRAINER:
            env["MASTER_PORT"] = str(ports["nccl"])
            env["PYTORCH_CUDA_ALLOC_CONF"] = "expandable_segments:True"
        env["OUTPUT_DIR"] = f"{mount_path}/outputs"
        return env

    def _check_names(self, enabled: Mapping[str, RoleProps], creates_claim: bool) -> None:
        """Fail on the first generated name Kubernetes would refuse, naming it and its length."""
        for role in enabled:
            statefulset = f"{self.name}-{role}"
            require_generated_name(statefulset, "StatefulSet", MAX_STATEFULSET_NAME_LENGTH, "name", self.name)
            require_generated_name(
                headless_service_name(statefulset), "headless Service", MAX_NAME_LENGTH, "name", self.name
            )
        if creates_claim:
            require_generated_name(
                f"{self.name}-shared-data", "PersistentVolumeClaim", MAX_NAME_LENGTH, "name", self.name
            )


def _role_props(value: RoleProps | None, role: str) -> RoleProps:
    if value is None:
        return RoleProps()
    if not isinstance(value, RoleProps):
        raise fail(role, value, "a RoleProps or None")
    require_bool(value.enabled, f"{role}.enabled")
    if not isinstance(value.env, Mapping):
        raise fail(f"{role}.env", value.env, "a mapping of variable names to values")
    return value


def _urls(urls: Sequence[str]) -> tuple[str, ...]:
    if isinstance(urls, str) or not isinstance(urls, Sequence):
        raise fail("inference.externalUrls", urls, "a list of http(s) base URLs such as http://vllm:8000/v1")
    for url in urls:
        if not isinstance(url, str) or not HTTP_BASE_URL.match(url):
            raise fail("inference.externalUrls", url, "an http(s) base URL such as http://vllm:8000/v1")
    return tuple(urls)


def _secret_env(secret_name: str | None) -> dict[str, SecretKeyRef]:
    """Optional refs, so pods of runs that log nowhere and pull only public models still start."""
    if secret_name is None:
        return {}
    return {name: SecretKeyRef(secret_name, key, optional=True) for name, key in SECRET_KEYS.items()}


def _base_url(host: str, port: int) -> str:
    """The OpenAI-compatible base URL of one vLLM server."""
    return f"http://{host}:{port}/v1"


def _default(value: Any, default: Any) -> Any:
    return default if value is None else value
