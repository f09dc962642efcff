"""PrimeRLExperiment: orchestrator, inference and trainer wired together on one shared volume."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from typing import Any

from cdk8s import Chart
from constructs import Construct

from ..core.experiment import (
    DEFAULT_IMAGE_REPOSITORY,
    DEFAULT_PYTORCH_CUDA_ALLOC_CONF,
    ExperimentPlan,
    PrimeRLExperimentProps,
    RoleProps,
)
from ..core.jobset import DEFAULT_MAX_RESTARTS
from ..core.naming import DEFAULT_CLUSTER_DOMAIN, DEFAULT_NAMESPACE
from ..core.platform import DEFAULT_METRICS_PORT, DEFAULT_PROMETHEUS_NAMESPACE_LABELS, PODMONITOR_API_VERSION
from ..core.presets import INFERENCE, ORCHESTRATOR, TRAINER
from ..core.statefulset import DEFAULT_RUN_AS_USER
from ..core.validation import fail
from .gpu_statefulset import GpuStatefulSet
from .jobset import JobSetRole, jobset_object
from .pods import GpuPods
from .rendered import ChartContext, RenderedApiObject
from .volume import SharedDataVolume


class PrimeRLExperiment(Construct):
    """One PRIME-RL experiment: orchestrator (1 pod), inference (N pods) and trainers (N pods).

    Every object is named after ``name`` (``<name>-<role>``, ``<name>-<role>-headless``,
    ``<name>-shared-data``) and labelled with ``app.kubernetes.io/instance: <name>``, which every
    selector includes, so experiments side by side in one namespace never touch each other's pods.
    Children: ``shared-data`` (a :class:`SharedDataVolume`) and one :class:`GpuStatefulSet` per
    enabled role, with the role as its id; the experiment reads URLs and DNS names from them.

    Props (keyword only, or one :class:`PrimeRLExperimentProps` through :meth:`from_props`):

    - ``name``: the experiment (release) name, a DNS-1035 label short enough that
      ``<name>-orchestrator-headless`` fits in 63 characters.
    - ``namespace``: default ``None``: the Chart's namespace if set, otherwise no
      ``metadata.namespace`` and URLs use ``default``. Set it whenever pods run elsewhere.
    - ``example``: default ``"reverse-text"``; a preset from :data:`PRESETS` (reverse-text,
      wordle, alphabet-sort, smoke) supplying commands, GPU counts and resources.
    - ``image_repository``/``image_tag``/``image_pull_policy``: default this project's image,
      ``ghcr.io/prime-rl-k8s/prime-rl-k8s``, tagged with the package version (``<version>-cpu``,
      the CPU build, for the smoke example), ``IfNotPresent``; a tag given is used as is, and a
      ``sha256:`` tag pins by digest.
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
    - ``run_as_user``: default ``10001`` (the image's uid): every pod runs as that uid with
      ``runAsNonRoot``. ``0`` runs every pod as root and ``None`` leaves the user to the image;
      neither sets ``runAsNonRoot``. See :class:`GpuStatefulSet`.
    - ``max_async_level``: default 1; how many steps the policy that samples may lag the trainer.
      Orchestrator and trainer both read it from ``MAX_ASYNC_LEVEL``, so it is set in one place.
    - ``run_id``: default ``name``; handed to orchestrator and trainer as ``RUN_ID``. Re-applying
      the experiment continues its run on the volume; another id starts a new run (the earlier
      run's rollouts and broadcasts are cleared, its checkpoints kept).
    - ``workload``: default ``"statefulset"``: one StatefulSet per role, the original chart's
      interactive model; a role that finished its run idles (``IDLE_WHEN_DONE=1``) instead of
      being restarted, and trainers change only when their pods are deleted (``OnDelete``).
      ``"jobset"``: one ``jobset.x-k8s.io/v1alpha2`` JobSet (child ``jobset``) with replicated jobs
      inference, orchestrator and trainer, started in that order; it succeeds when the trainer
      succeeds (which stops every pod and frees the GPUs; without a trainer, the orchestrator),
      and a failed pod restarts the whole group, at most ``jobset_max_restarts`` times
      (default 3). ``jobset_ttl_seconds_after_finished``: default none (a finished JobSet stays
      until deleted); else deleted that many seconds after it finishes.
    - ``kueue_queue_name``: default none; the Kueue LocalQueue (label
      ``kueue.x-k8s.io/queue-name`` on the JobSet, or on each StatefulSet, which Kueue then admits
      one by one: only a JobSet is admitted as one unit), so Kueue admits the
      experiment's pods together or not at all.
    - ``trainer_pytorch_cuda_alloc_conf``: default ``expandable_segments:True``
      (``PYTORCH_CUDA_ALLOC_CONF`` of the trainer, against CUDA memory fragmentation).
    - ``shared_config``: default none; settings orchestrator and trainer share (TOML text or a
      mapping), shipped with each role's ``RoleProps.config`` in ConfigMap ``<name>-<role>-config``
      (child ``config-<role>``) and read after the example's TOML; a role's config may not repeat
      a shared setting, and neither may set ``max_async_level`` (use ``max_async_level``).
    - ``image_pull_secrets``: default none; Secret names every pod pulls the image with.
    - ``service_account_create``: default ``False``; ``True`` creates ServiceAccount
      ``service_account_name`` (default ``<name>``, child ``service-account``) with
      ``service_account_annotations`` (e.g. a cloud IAM role). Pods run as it, or as an existing
      ``service_account_name``; its token is never mounted.
    - ``read_only_root_filesystem``: default ``True``: containers cannot write their image; ``/tmp``
      is a writable ``emptyDir`` and ``HOME=/tmp/home``.
    - ``metrics_port``: default 9464: trainer and orchestrator serve Prometheus metrics there
      (``METRICS_PORT``, container port ``metrics``).
    - ``monitoring_pod_monitor_enabled``: default ``False``; ``True`` adds a
      ``monitoring.coreos.com/v1`` PodMonitor ``<name>`` (child ``pod-monitor``) that scrapes the
      metrics ports and vLLM's ``/metrics`` every ``monitoring_pod_monitor_interval`` (``30s``),
      labelled with ``monitoring_pod_monitor_labels`` (what your Prometheus selects).
    - ``network_policy_enabled``: default ``False``; ``True`` adds NetworkPolicy ``<name>`` (child
      ``network-policy``): the pods reach each other, DNS, HTTPS outside the cluster's private
      ranges while ``network_policy_allow_model_hub`` (default ``True``, for the model hub) and
      ``network_policy_extra_egress`` rules, and only the namespaces labelled
      ``network_policy_prometheus_namespace_labels`` (default
      ``kubernetes.io/metadata.name: monitoring``) reach their metrics ports.
      ``network_policy_inference_clients`` (NetworkPolicyPeers) may call the inference API
      (NetworkPolicy ``<name>-inference-clients``).
    - ``orchestrator``/``inference``/``trainer``: :class:`RoleProps` (default ``RoleProps()``).
    - ``labels``: extra labels on every object and pod. ``cluster_domain``: default ``cluster.local``.

    Wiring: orchestrator and trainer get ``INFERENCE_URL`` (inference pod 0 through the headless
    Service: ``http://<name>-inference-0.<name>-inference-headless.<ns>.svc.cluster.local:<port>/v1``),
    ``INFERENCE_URLS`` and ``ADMIN_INFERENCE_URLS`` (every replica, comma-separated) and
    ``TRAINER_WORLD_SIZE`` (trainer pods x GPUs per pod, at least 1 per pod),
    ``MAX_ASYNC_LEVEL``, ``RUN_ID`` and ``HEARTBEAT_FILE``; trainers get
    ``MASTER_ADDR`` (trainer pod 0), ``MASTER_PORT`` (``nccl_port``) and
    ``PYTORCH_CUDA_ALLOC_CONF``; inference gets ``INFERENCE_PORT`` (the port vLLM listens on);
    every pod gets ``OUTPUT_DIR=<mount path>/outputs/<name>``, the experiment's own directory, and
    with the shared volume ``HF_HOME=<mount path>/cache/huggingface`` and
    ``VLLM_CACHE_ROOT=<mount path>/cache/vllm``, so a model is downloaded once per experiment.

    Checked at construction: two experiments of one name in one namespace of a Chart; a command
    whose ``--port``, ``--nproc-per-node`` (torchrun on GPU pods) or ``--output-dir`` disagrees
    with the pods; a mount path that would hide the image's own directories or that does not
    hold the example's paths.
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
        image_tag: str | None = None,
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
        max_async_level: int = 1,
        run_id: str | None = None,
        workload: str = "statefulset",
        jobset_max_restarts: int = DEFAULT_MAX_RESTARTS,
        jobset_ttl_seconds_after_finished: int | None = None,
        kueue_queue_name: str | None = None,
        trainer_pytorch_cuda_alloc_conf: str = DEFAULT_PYTORCH_CUDA_ALLOC_CONF,
        shared_config: str | Mapping[str, Any] | None = None,
        image_pull_secrets: Sequence[str] = (),
        service_account_create: bool = False,
        service_account_name: str | None = None,
        service_account_annotations: Mapping[str, str] | None = None,
        read_only_root_filesystem: bool = True,
        metrics_port: int = DEFAULT_METRICS_PORT,
        monitoring_pod_monitor_enabled: bool = False,
        monitoring_pod_monitor_interval: str = "30s",
        monitoring_pod_monitor_labels: Mapping[str, str] | None = None,
        network_policy_enabled: bool = False,
        network_policy_inference_clients: Sequence[Mapping[str, Any]] = (),
        network_policy_prometheus_namespace_labels: Mapping[str, str] | None = None,
        network_policy_allow_model_hub: bool = True,
        network_policy_extra_egress: Sequence[Mapping[str, Any]] = (),
        orchestrator: RoleProps | None = None,
        inference: RoleProps | None = None,
        trainer: RoleProps | None = None,
        labels: Mapping[str, str] | None = None,
        cluster_domain: str = DEFAULT_CLUSTER_DOMAIN,
    ) -> None:
        super().__init__(scope, id)
        self._context = ChartContext.of(scope, namespace)
        #: The enclosing Chart's namespace and labels, handed to child constructs.
        self.chart_context = ChartContext.of(scope, None)
        self.plan = ExperimentPlan(
            PrimeRLExperimentProps(
                name=name,
                namespace=self._context.namespace,
                example=example,
                image_repository=image_repository,
                image_tag=image_tag,
                image_pull_policy=image_pull_policy,
                storage_enabled=storage_enabled,
                storage_class_name=storage_class_name,
                storage_size=storage_size,
                storage_access_modes=storage_access_modes,
                storage_mount_path=storage_mount_path,
                storage_existing_claim_name=storage_existing_claim_name,
                storage_retain_on_delete=storage_retain_on_delete,
                secret_name=secret_name,
                external_inference_urls=external_inference_urls,
                run_as_user=run_as_user,
                max_async_level=max_async_level,
                run_id=run_id,
                workload=workload,
                jobset_max_restarts=jobset_max_restarts,
                jobset_ttl_seconds_after_finished=jobset_ttl_seconds_after_finished,
                kueue_queue_name=kueue_queue_name,
                trainer_pytorch_cuda_alloc_conf=trainer_pytorch_cuda_alloc_conf,
                shared_config=shared_config,
                image_pull_secrets=image_pull_secrets,
                service_account_create=service_account_create,
                service_account_name=service_account_name,
                service_account_annotations={}
                if service_account_annotations is None
                else service_account_annotations,
                read_only_root_filesystem=read_only_root_filesystem,
                metrics_port=metrics_port,
                monitoring_pod_monitor_enabled=monitoring_pod_monitor_enabled,
                monitoring_pod_monitor_interval=monitoring_pod_monitor_interval,
                monitoring_pod_monitor_labels={}
                if monitoring_pod_monitor_labels is None
                else monitoring_pod_monitor_labels,
                network_policy_enabled=network_policy_enabled,
                network_policy_inference_clients=network_policy_inference_clients,
                network_policy_prometheus_namespace_labels=(
                    dict(DEFAULT_PROMETHEUS_NAMESPACE_LABELS)
                    if network_policy_prometheus_namespace_labels is None
                    else network_policy_prometheus_namespace_labels
                ),
                network_policy_allow_model_hub=network_policy_allow_model_hub,
                network_policy_extra_egress=network_policy_extra_egress,
                orchestrator=orchestrator,
                inference=inference,
                trainer=trainer,
                labels={} if labels is None else labels,
                cluster_domain=cluster_domain,
            )
        )
        _claim_name(scope, self.plan.name, self.plan.namespace)
        plan = self.plan
        self.volume: SharedDataVolume | None = None
        if plan.volume is not None:
            self.volume = SharedDataVolume.from_props(self, "shared-data", plan.volume)
        #: The ServiceAccount this experiment creates, or None.
        self.service_account: RenderedApiObject | None = None
        if plan.service_account is not None:
            self.service_account = self._object(
                "service-account", plan.service_account_manifest, "v1", "ServiceAccount", plan.service_account
            )
        #: role -> the ConfigMap of its runtime config.
        self.config_maps: dict[str, RenderedApiObject] = {
            role: self._object(
                f"config-{role}",
                lambda role=role: plan.config_map_manifest(role),
                "v1",
                "ConfigMap",
                plan.config_map_name(role),
            )
            for role in plan.config_data
        }
        #: The JobSet (``workload="jobset"``), else None.
        self.jobset: RenderedApiObject | None = None
        self.roles: dict[str, GpuPods] = {}
        if self.plan.jobset is None:
            for role, props in self.plan.roles.items():
                self.roles[role] = GpuStatefulSet.from_props(self, role, props)
        else:
            self.jobset = jobset_object(self, "jobset", self.plan.jobset, self._context)
            for role, model in self.plan.models.items():
                self.roles[role] = JobSetRole(self, role, model=model, context=self._context)
        #: The experiment's NetworkPolicies (none unless ``network_policy_enabled``).
        self.network_policies: list[RenderedApiObject] = [
            self._object(
                "network-policy" if index == 0 else "inference-clients-policy",
                lambda index=index: plan.network_policy_manifests()[index],
                "networking.k8s.io/v1",
                "NetworkPolicy",
                doc["metadata"]["name"],
            )
            for index, doc in enumerate(plan.network_policy_manifests())
        ]
        #: The PodMonitor, or None unless ``monitoring_pod_monitor_enabled``.
        self.pod_monitor: RenderedApiObject | None = None
        if plan.pod_monitor_enabled:
            self.pod_monitor = self._object(
                "pod-monitor", plan.pod_monitor_manifest, PODMONITOR_API_VERSION, "PodMonitor", plan.name
            )

    def _object(
        self, id: str, render: Callable[[], dict[str, Any]], api_version: str, kind: str, name: str
    ) -> RenderedApiObject:
        return RenderedApiObject(
            self, id, render, api_version=api_version, kind=kind, name=name, context=self._context
        )

    @classmethod
    def from_props(cls, scope: Construct, id: str, props: PrimeRLExperimentProps) -> PrimeRLExperiment:
        """The same construct from a frozen props object."""
        return cls(scope, id, **{f.name: getattr(props, f.name) for f in fields(props)})

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def namespace(self) -> str | None:
        return self.plan.namespace

    @property
    def example(self) -> str:
        return self.plan.props.example

    @property
    def workload(self) -> str:
        return self.plan.workload

    @property
    def orchestrator(self) -> GpuPods | None:
        """The orchestrator's pods (a :class:`GpuStatefulSet` or :class:`JobSetRole`), or None."""
        return self.roles.get(ORCHESTRATOR)

    @property
    def inference(self) -> GpuPods | None:
        """The inference pods (a :class:`GpuStatefulSet` or :class:`JobSetRole`), or None."""
        return self.roles.get(INFERENCE)

    @property
    def trainer(self) -> GpuPods | None:
        """The trainer pods (a :class:`GpuStatefulSet` or :class:`JobSetRole`), or None."""
        return self.roles.get(TRAINER)

    @property
    def inference_urls(self) -> tuple[str, ...]:
        """Base URLs of every inference server (``INFERENCE_URLS``), external ones when given."""
        return self.plan.inference_urls

    @property
    def inference_url(self) -> str | None:
        """The first inference base URL (``INFERENCE_URL``), or None when there is none."""
        return self.plan.inference_url

    @property
    def trainer_world_size(self) -> int | None:
        """Trainer processes in total (pods x GPUs per pod), or None without trainers."""
        return self.plan.trainer_world_size

    @property
    def output_dir(self) -> str:
        """Where every role writes (``OUTPUT_DIR``): ``<mount path>/outputs/<name>``."""
        return self.plan.output_dir


def _claim_name(scope: Construct, name: str, namespace: str | None) -> None:
    """Refuse a second experiment of the same name and namespace in one Chart (its objects would clash)."""
    chart = Chart.of(scope)
    taken: set[tuple[str, str]] = getattr(chart, "prime_rl_experiments", set())
    key = (name, namespace or DEFAULT_NAMESPACE)
    if key in taken:
        raise fail("name", name, f"unique among this chart's experiments in namespace {key[1]!r}")
    chart.prime_rl_experiments = taken | {key}
