"""The values schema: the original chart's keys and defaults, plus the few keys this project adds.

Departures from the chart: `config.example` names one of the presets (it supplies the default
commands, GPU counts, requests and limits, so `resources.*` and `gpu.count` default to null,
"the example's"; the GPU examples' requests are the chart's own defaults); the orchestrator
exposes no port unless `orchestrator.service.port` is set;
`service.ncclPort` defaults to 29501 on the trainer only (the chart's own values file also sets it
on the orchestrator, so it is accepted there and on inference as an extra `nccl` port).

Added keys: `config.maxAsyncLevel`, `storage.existingClaim`, `storage.retain`, `inference.externalUrls`,
`securityContext.runAsUser`, `<role>.shmSizeGiB`, `<role>.podAntiAffinity` and
`<role>.podAntiAffinityTopologyKey`.
"""

from __future__ import annotations

from ..core.presets import PRESETS
from ..core.statefulset import DEFAULT_RUN_AS_USER
from ..core.validation import HTTP_BASE_URL, MAX_USER_ID, is_dns1123_subdomain, is_label_key
from .fields import (
    Bool,
    Command,
    Enum,
    Field,
    Int,
    LabelMap,
    ListOf,
    Number,
    Obj,
    Quantity,
    Str,
    dns_label,
    env_name,
    image_repository,
    image_tag,
    label_value,
)

_SUBDOMAIN = "a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', at most 253 characters)"
_HOSTNAME_KEY = "a label key such as kubernetes.io/hostname"
_DNS_LABEL = "a DNS-1123 label (lowercase letters, digits and '-', at most 63 characters)"
_URL = "an http(s) base URL such as http://vllm.example:8000/v1"
_LABEL_VALUE = "at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"


def _env_var() -> Obj:
    return Obj(
        {
            "name": Str(None, "an environment variable name such as MY_VAR", env_name),
            "value": Str("", "a string (quote numbers and booleans, or use --set-string)", allow_empty=True),
        }
    )


def _toleration() -> Obj:
    return Obj(
        {
            "key": Str(None, "a label key such as nvidia.com/gpu", is_label_key, nullable=True),
            "operator": Enum(None, ("Equal", "Exists"), nullable=True),
            "value": Str(None, _LABEL_VALUE, label_value, allow_empty=True, nullable=True),
            "effect": Enum(None, ("NoSchedule", "PreferNoSchedule", "NoExecute"), nullable=True),
            "tolerationSeconds": Int(None, 0, 2**63 - 1, nullable=True),
        }
    )


def _quantities() -> Obj:
    """CPU and memory; null means the example preset's value (the same default the Python props use)."""
    return Obj({"cpu": Quantity(None, "500m or 4"), "memory": Quantity(None, "512Mi or 16Gi")}, nullable=True)


def _service(*, enabled: bool, port: int | None, nccl_port: int | None) -> Obj:
    """`service.*`: the ClusterIP Service and container ports (`null` means no such port)."""
    return Obj(
        {
            "enabled": Bool(enabled),
            "type": Enum("ClusterIP", ("ClusterIP", "NodePort", "LoadBalancer")),
            "port": Int(port, 1, 65535, nullable=port is None),
            "ncclPort": Int(nccl_port, 1, 65535, nullable=nccl_port is None),
        }
    )


def _role(*, gpu: bool, service: Obj, extra: dict[str, Field] | None = None) -> Obj:
    fields: dict[str, Field] = {
        "enabled": Bool(True),
        "replicas": Int(1, 0),
        "autoStart": Bool(False),
        "command": Command("", nullable=True),
        "env": ListOf(_env_var()),
        "resources": Obj({"requests": _quantities(), "limits": _quantities()}),
        # A null count means the example preset's GPUs per pod.
        "gpu": Obj({"enabled": Bool(gpu), "count": Int(None, 0, nullable=True)}),
        "service": service,
        "runtimeClassName": Str(
            None, "a RuntimeClass name: " + _SUBDOMAIN, is_dns1123_subdomain, allow_empty=True, nullable=True
        ),
        "nodeSelector": LabelMap(),
        "tolerations": ListOf(_toleration()),
        "podAntiAffinity": Enum(None, ("required", "preferred"), nullable=True),
        "podAntiAffinityTopologyKey": Str("kubernetes.io/hostname", _HOSTNAME_KEY, is_label_key),
        "shmSizeGiB": Number(None, 0, nullable=True),
    }
    fields.update(extra or {})
    return Obj(fields)


SCHEMA = Obj(
    {
        "namespace": Str("default", _DNS_LABEL, dns_label),
        "image": Obj(
            {
                "repository": Str(
                    "primeintellect/prime-rl",
                    "an image repository such as primeintellect/prime-rl or registry:5000/team/prime-rl",
                    image_repository,
                ),
                "tag": Str(
                    "main",
                    "an image tag (at most 128 letters, digits, '_', '.' or '-') or sha256:<digest>",
                    image_tag,
                ),
                "pullPolicy": Enum("IfNotPresent", ("Always", "IfNotPresent", "Never")),
            }
        ),
        "storage": Obj(
            {
                "enabled": Bool(True),
                "storageClassName": Str(
                    "nfs",
                    "a StorageClass name: " + _SUBDOMAIN,
                    is_dns1123_subdomain,
                    allow_empty=True,
                    nullable=True,
                ),
                "accessModes": ListOf(
                    Enum(None, ("ReadWriteMany", "ReadWriteOnce", "ReadOnlyMany", "ReadWriteOncePod")),
                    default=["ReadWriteMany"],
                    min_items=1,
                ),
                "size": Quantity("1Ti", "1Ti or 500Gi", nullable=False),
                "mountPath": Str(
                    "/data",
                    "an absolute path such as /data",
                    lambda v: v.startswith("/") and ":" not in v and "\n" not in v,
                ),
                "existingClaim": Str(
                    "", "a PersistentVolumeClaim name: " + _SUBDOMAIN, is_dns1123_subdomain, allow_empty=True
                ),
                "retain": Bool(False),
            }
        ),
        # Pod uid of every role: null leaves it to the image; runAsNonRoot only for a uid other than 0.
        "securityContext": Obj({"runAsUser": Int(DEFAULT_RUN_AS_USER, 0, MAX_USER_ID, nullable=True)}),
        "orchestrator": _role(gpu=False, service=_service(enabled=False, port=None, nccl_port=None)),
        "inference": _role(
            gpu=True,
            service=_service(enabled=True, port=8000, nccl_port=None),
            extra={"externalUrls": ListOf(Str(None, _URL, lambda v: HTTP_BASE_URL.match(v) is not None))},
        ),
        "trainer": _role(gpu=True, service=_service(enabled=True, port=8000, nccl_port=29501)),
        "config": Obj(
            {
                "example": Enum("reverse-text", sorted(PRESETS)),
                # Read by orchestrator and trainer alike (MAX_ASYNC_LEVEL), so they always agree.
                "maxAsyncLevel": Int(1, 0),
                "secrets": Obj(
                    {
                        "enabled": Bool(False),
                        "name": Str("prime-rl-secrets", "a Secret name: " + _SUBDOMAIN, is_dns1123_subdomain),
                    }
                ),
            }
        ),
    }
)
