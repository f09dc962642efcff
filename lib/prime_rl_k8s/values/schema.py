"""The values schema: the original chart's keys and defaults, plus the few keys this project adds.

Departures from the chart: `config.example` names one of the presets (it supplies the default
commands, GPU counts, requests and limits, so `resources.*` and `gpu.count` default to null,
"the example's"; the GPU examples' requests are the chart's own defaults); the orchestrator
exposes no port unless `orchestrator.service.port` is set;
`service.ncclPort` defaults to 29501 on the trainer only (the chart's own values file also sets it
on the orchestrator, so it is accepted there and on inference as an extra `nccl` port).

The chart's probe keys (`<role>.probes.enabled`, `<role>.probes.{startup,liveness,readiness}.
{periodSeconds,failureThreshold,timeoutSeconds}`) and `trainer.pytorchCudaAllocConf` are taken
as the chart spells them; `probes.enabled` and each timing default to null, "on while the role
runs its command" and the role's default timing, and the orchestrator has the same keys.

The chart's documented `<role>.podAntiAffinity` block (a full Kubernetes PodAntiAffinity) is
accepted as well as the `required`/`preferred` shorthand. Platform keys: `imagePullSecrets`,
`serviceAccount.*`, `securityContext.readOnlyRootFilesystem`, `monitoring.*`, `networkPolicy.*`,
`config.shared`, and per role `affinity`, `topologySpreadConstraints`, `podAnnotations`,
`podLabels`, `extraResources`, `extraVolumes`, `extraVolumeMounts`, `extraEnvFrom`, `rdma.*` and
`config` (Kubernetes structures are passed to the render core, which checks their shape).

Added keys: `workload`, `jobset.{maxRestarts,ttlSecondsAfterFinished}`, `kueue.queueName`,
`<role>.priorityClassName`, `<role>.podDisruptionBudget.enabled`,
`runId`, `config.maxAsyncLevel`, `<role>.terminationGracePeriodSeconds`,
`storage.existingClaim`, `storage.retain`, `inference.externalUrls`,
`securityContext.runAsUser`, `<role>.shmSizeGiB`, `<role>.podAntiAffinity` and
`<role>.podAntiAffinityTopologyKey`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core.experiment import DEFAULT_IMAGE_REPOSITORY, DEFAULT_PYTORCH_CUDA_ALLOC_CONF, WORKLOADS
from ..core.jobset import DEFAULT_MAX_RESTARTS
from ..core.platform import DEFAULT_METRICS_PORT, DEFAULT_PROMETHEUS_NAMESPACE_LABELS
from ..core.presets import PRESETS
from ..core.probes import PROBE_KINDS
from ..core.statefulset import DEFAULT_RUN_AS_USER
from ..core.validation import (
    ACCESS_MODES,
    ANTI_AFFINITY_MODES,
    MAX_USER_ID,
    PULL_POLICIES,
    SERVICE_TYPES,
    TOLERATION_EFFECTS,
    TOLERATION_OPERATORS,
    fail,
    require_base_url,
    require_bool,
    require_command,
    require_dns1123_label,
    require_dns1123_subdomain,
    require_duration,
    require_env_name,
    require_image_repository,
    require_image_tag,
    require_label_key,
    require_label_value,
    require_labels,
    require_mount_path,
    require_number,
    require_run_id,
)
from .fields import Bool, Enum, Field, Int, ListOf, Obj, Quantity, Text


def _command(value: Any, path: str) -> Any:
    """A shell string or argv list, kept as given; an empty one means the example's command."""
    if value in ("", []):
        return None
    require_command(value, path)
    return value


def _pull_secret(value: Any, path: str) -> str:
    """A Secret name, or the chart's `{name: ...}` item."""
    if isinstance(value, dict) and set(value) == {"name"}:
        value = value["name"]
    return require_dns1123_subdomain(value, path)


def _env_var() -> Obj:
    return Obj(
        {
            "name": Field(None, require_env_name),
            "value": Text("", "a string (quote numbers and booleans, or use --set-string)"),
        }
    )


def _toleration() -> Obj:
    return Obj(
        {
            "key": Field(None, require_label_key, nullable=True),
            "operator": Enum(None, TOLERATION_OPERATORS, nullable=True),
            "value": Field(None, require_label_value, nullable=True, empty=True),
            "effect": Enum(None, TOLERATION_EFFECTS, nullable=True),
            "tolerationSeconds": Int(None, 0, 2**63 - 1, nullable=True),
        }
    )


def _quantities(*, positive: bool) -> Obj:
    """CPU and memory; null means the example preset's value (the same default the Python props use)."""
    return Obj(
        {"cpu": Quantity(None, positive=positive), "memory": Quantity(None, positive=positive)}, nullable=True
    )


def _service(*, enabled: bool, port: int | None, nccl_port: int | None) -> Obj:
    """`service.*`: the ClusterIP Service and container ports (`null` means no such port)."""
    return Obj(
        {
            "enabled": Bool(enabled),
            "type": Enum("ClusterIP", SERVICE_TYPES),
            "port": Int(port, 1, 65535, nullable=port is None),
            "ncclPort": Int(nccl_port, 1, 65535, nullable=nccl_port is None),
        }
    )


def _raw(kind: type, allowed: str) -> Callable[[Any, str], Any]:
    """A Kubernetes structure kept as given; the render core checks its shape and names the key."""

    def check(value: Any, path: str) -> Any:
        if not isinstance(value, kind):
            raise fail(path, value, allowed)
        return value

    return check


def _config(value: Any, path: str) -> Any:
    """A runtime config: TOML text (e.g. from --set-file) or a mapping of settings."""
    if not isinstance(value, str | dict):
        raise fail(path, value, "TOML text or a mapping of runtime settings")
    return value


def _anti_affinity(value: Any, path: str) -> Any:
    """The chart's full PodAntiAffinity block, or our shorthand; `""` means none."""
    if isinstance(value, dict):
        return value
    if value == "":
        return None
    if value not in ANTI_AFFINITY_MODES:
        raise fail(path, value, "required, preferred or a Kubernetes PodAntiAffinity mapping")
    return value


def _probes() -> Obj:
    """`probes.*`: null means on while the role runs its command, and the role's default timing."""
    timing = Obj(
        {
            "periodSeconds": Int(None, 1, nullable=True),
            "failureThreshold": Int(None, 1, nullable=True),
            "timeoutSeconds": Int(None, 1, nullable=True),
        }
    )
    return Obj(
        {"enabled": Field(None, require_bool, nullable=True), **{kind: timing for kind in PROBE_KINDS}}
    )


def _role(*, gpu: bool, service: Obj, extra: dict[str, Field] | None = None) -> Obj:
    fields: dict[str, Field] = {
        "enabled": Bool(True),
        "replicas": Int(1, 0),
        "autoStart": Bool(False),
        "command": Field("", _command, nullable=True),
        "env": ListOf(_env_var()),
        "resources": Obj({"requests": _quantities(positive=False), "limits": _quantities(positive=True)}),
        # A null count means the example preset's GPUs per pod.
        "gpu": Obj({"enabled": Bool(gpu), "count": Int(None, 0, nullable=True)}),
        "service": service,
        "runtimeClassName": Field(None, require_dns1123_subdomain, nullable=True, empty=True),
        "nodeSelector": Field({}, lambda v, p: require_labels({} if v is None else v, p)),
        "tolerations": ListOf(_toleration()),
        "podAntiAffinity": Field(None, _anti_affinity, nullable=True),
        "affinity": Field(None, _raw(dict, "a Kubernetes Affinity mapping"), nullable=True),
        "topologySpreadConstraints": Field([], _raw(list, "a list of Kubernetes TopologySpreadConstraints")),
        "podAnnotations": Field({}, _raw(dict, "a mapping of annotation keys to strings")),
        "podLabels": Field({}, _raw(dict, "a mapping of label keys to values")),
        "extraResources": Field({}, _raw(dict, "a mapping such as {rdma/ib: 1}")),
        "extraVolumes": Field([], _raw(list, "a list of Kubernetes Volumes")),
        "extraVolumeMounts": Field([], _raw(list, "a list of Kubernetes VolumeMounts")),
        "extraEnvFrom": Field([], _raw(list, "a list of Kubernetes EnvFromSources")),
        "rdma": Obj({"enabled": Bool(False), "resourceName": Field("rdma/ib", require_label_key)}),
        # The role's runtime config (TOML text or a map), shipped in a ConfigMap.
        "config": Field(None, _config, nullable=True, empty=True),
        "podAntiAffinityTopologyKey": Field("kubernetes.io/hostname", require_label_key),
        "shmSizeGiB": Field(None, require_number, nullable=True),
        # null: the role's default (trainer 900 s, orchestrator 120 s: time to checkpoint on SIGTERM).
        "terminationGracePeriodSeconds": Int(None, 0, nullable=True),
        "probes": _probes(),
        "priorityClassName": Field(None, require_dns1123_subdomain, nullable=True, empty=True),
        # null: on for a trainer of more than one pod.
        "podDisruptionBudget": Obj({"enabled": Field(None, require_bool, nullable=True)}),
    }
    fields.update(extra or {})
    return Obj(fields)


SCHEMA = Obj(
    {
        "namespace": Field("default", require_dns1123_label),
        # null: the release name, so re-applying a release continues its run; a new id, a new run.
        "runId": Field(None, require_run_id, nullable=True),
        "image": Obj(
            {
                "repository": Field(DEFAULT_IMAGE_REPOSITORY, require_image_repository),
                # null: this package's version (`<version>-cpu` for the smoke example).
                "tag": Field(None, require_image_tag, nullable=True, empty=True),
                "pullPolicy": Enum("IfNotPresent", PULL_POLICIES),
            }
        ),
        "storage": Obj(
            {
                "enabled": Bool(True),
                "storageClassName": Field("nfs", require_dns1123_subdomain, nullable=True, empty=True),
                "accessModes": ListOf(Enum(None, ACCESS_MODES), default=["ReadWriteMany"], min_items=1),
                "size": Quantity("1Ti", positive=True, nullable=False),
                "mountPath": Field("/data", require_mount_path),
                "existingClaim": Field("", require_dns1123_subdomain, empty=True),
                "retain": Bool(False),
            }
        ),
        # Pod uid of every role: null leaves it to the image; runAsNonRoot only for a uid other than 0.
        "securityContext": Obj(
            {
                "runAsUser": Int(DEFAULT_RUN_AS_USER, 0, MAX_USER_ID, nullable=True),
                "readOnlyRootFilesystem": Bool(True),
            }
        ),
        "imagePullSecrets": ListOf(Field(None, _pull_secret)),
        "serviceAccount": Obj(
            {
                "create": Bool(False),
                "name": Field(None, require_dns1123_subdomain, nullable=True, empty=True),
                "annotations": Field({}, _raw(dict, "a mapping of annotation keys to strings")),
            }
        ),
        "monitoring": Obj(
            {
                "metricsPort": Int(DEFAULT_METRICS_PORT, 1, 65535),
                "podMonitor": Obj(
                    {
                        "enabled": Bool(False),
                        "interval": Field("30s", require_duration),
                        "labels": Field({}, lambda v, p: require_labels({} if v is None else v, p)),
                    }
                ),
            }
        ),
        "networkPolicy": Obj(
            {
                "enabled": Bool(False),
                "allowModelHub": Bool(True),
                "prometheusNamespaceLabels": Field(
                    dict(DEFAULT_PROMETHEUS_NAMESPACE_LABELS), lambda v, p: require_labels(v, p)
                ),
                "inferenceClients": Field([], _raw(list, "a list of Kubernetes NetworkPolicyPeers")),
                "extraEgress": Field([], _raw(list, "a list of Kubernetes NetworkPolicyEgressRules")),
            }
        ),
        "orchestrator": _role(gpu=False, service=_service(enabled=False, port=None, nccl_port=None)),
        "inference": _role(
            gpu=True,
            service=_service(enabled=True, port=8000, nccl_port=None),
            extra={"externalUrls": ListOf(Field(None, require_base_url))},
        ),
        "trainer": _role(
            gpu=True,
            service=_service(enabled=True, port=8000, nccl_port=29501),
            extra={"pytorchCudaAllocConf": Text(DEFAULT_PYTORCH_CUDA_ALLOC_CONF, "a string")},
        ),
        # statefulset: the chart's interactive pods; jobset: one JobSet that completes with the trainer.
        "workload": Enum("statefulset", WORKLOADS),
        "jobset": Obj(
            {
                "maxRestarts": Int(DEFAULT_MAX_RESTARTS, 0),
                "ttlSecondsAfterFinished": Int(None, 0, nullable=True),
            }
        ),
        "kueue": Obj({"queueName": Field(None, require_label_value, nullable=True, empty=True)}),
        "config": Obj(
            {
                "example": Enum("reverse-text", sorted(PRESETS)),
                # Read by orchestrator and trainer alike (MAX_ASYNC_LEVEL), so they always agree.
                "maxAsyncLevel": Int(1, 0),
                # Settings orchestrator and trainer share (TOML text or a map), in both ConfigMaps.
                "shared": Field(None, _config, nullable=True, empty=True),
                "secrets": Obj(
                    {
                        "enabled": Bool(False),
                        "name": Field("prime-rl-secrets", require_dns1123_subdomain),
                    }
                ),
            }
        ),
    }
)
