"""One experiment as a JobSet: its roles start in order, finish with the trainer and restart as a group.

Each role is a replicated job of one Indexed Job (``parallelism = completions = replicas``) whose
pods come from the same template as the StatefulSet mode. JobSet gives every pod the hostname
``<jobset>-<role>-0-<index>`` in the subdomain ``<jobset>`` (a headless Service it creates and
that publishes not-ready pods), so torchrun and the orchestrator find their peers as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .env import JOB_COMPLETION_INDEX_FIELD
from .manifest import manifest, metadata
from .naming import DEFAULT_CLUSTER_DOMAIN, instance_labels, service_fqdn
from .statefulset import KUEUE_QUEUE_LABEL, GpuStatefulSetModel
from .validation import MAX_NAME_LENGTH, require_generated_name

API_VERSION = "jobset.x-k8s.io/v1alpha2"
#: Group restarts after a failed pod before the JobSet fails for good.
DEFAULT_MAX_RESTARTS = 3


@dataclass(frozen=True)
class JobSetAddress:
    """Where the pods of one replicated job are found (the :class:`PodAddress` of JobSet mode)."""

    jobset: str
    role: str
    namespace: str | None
    replicas: int
    cluster_domain: str = DEFAULT_CLUSTER_DOMAIN
    pod_index_field: str = JOB_COMPLETION_INDEX_FIELD

    @property
    def name(self) -> str:
        """``<jobset>-<role>``: the name of the role's Service and disruption budget."""
        return f"{self.jobset}-{self.role}"

    @property
    def headless_service_name(self) -> str:
        """The JobSet's subdomain, a headless Service the JobSet controller creates."""
        return self.jobset

    @property
    def headless_service_fqdn(self) -> str:
        return service_fqdn(self.jobset, self.namespace, self.cluster_domain)

    def pod_name(self, index: int) -> str:
        """Hostname of pod ``index``: ``<jobset>-<role>-0-<index>`` (job 0 of the replicated job)."""
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < self.replicas:
            raise IndexError(f"pod index {index!r} is outside 0..{self.replicas - 1} of {self.name}")
        return f"{self.jobset}-{self.role}-0-{index}"

    def pod_fqdn(self, index: int) -> str:
        return f"{self.pod_name(index)}.{self.headless_service_fqdn}"


def jobset_address(
    jobset: str, role: str, namespace: str | None, replicas: int, cluster_domain: str, source_field: str
) -> JobSetAddress:
    """The address, once the longest hostname is known to fit in a DNS label."""
    address = JobSetAddress(jobset, role, namespace, replicas, cluster_domain)
    last = f"{jobset}-{role}-0-{max(replicas - 1, 0)}"
    require_generated_name(last, "JobSet pod hostname", MAX_NAME_LENGTH, source_field, jobset)
    return address


class JobSetModel:
    """The JobSet of one experiment, rendered from its roles' validated pod models.

    ``roles`` are in start order (inference first, trainer last); ``success_role`` is the
    replicated job whose success completes the JobSet. None leaves JobSet's default (every job
    must succeed), which inference servers never do: such a JobSet runs until deleted or failed.
    """

    def __init__(
        self,
        name: str,
        namespace: str | None,
        labels: Mapping[str, str],
        roles: Mapping[str, GpuStatefulSetModel],
        *,
        success_role: str | None,
        max_restarts: int,
        ttl_seconds_after_finished: int | None,
        queue_name: str | None,
    ) -> None:
        self.name = name
        self.namespace = namespace
        self.labels = {**instance_labels(name), **labels}
        if queue_name is not None:
            self.labels[KUEUE_QUEUE_LABEL] = queue_name
        self.roles = dict(roles)
        self.success_role = success_role
        self.max_restarts = max_restarts
        self.ttl_seconds_after_finished = ttl_seconds_after_finished

    def manifest(self) -> dict[str, Any]:
        success = (
            None
            if self.success_role is None
            else {"operator": "All", "targetReplicatedJobs": [self.success_role]}
        )
        return manifest(
            API_VERSION,
            "JobSet",
            metadata(self.name, self.namespace, self.labels),
            spec={
                "failurePolicy": {"maxRestarts": self.max_restarts},
                "network": {
                    "enableDNSHostnames": True,
                    "publishNotReadyAddresses": True,
                    "subdomain": self.name,
                },
                "replicatedJobs": [self._replicated_job(role, model) for role, model in self.roles.items()],
                # Each replicated job starts once every pod of the one before is ready: inference
                # (ready when vLLM answers /health), then orchestrator, then trainer.
                "startupPolicy": {"startupPolicyOrder": "InOrder"},
                "successPolicy": success,
                "ttlSecondsAfterFinished": self.ttl_seconds_after_finished,
            },
        )

    @staticmethod
    def _replicated_job(role: str, model: GpuStatefulSetModel) -> dict[str, Any]:
        pods = model.replicas
        return {
            "name": role,
            "replicas": 1,
            "template": {
                "metadata": {"labels": model.labels},
                "spec": {
                    # A failed pod fails its Job at once; the JobSet then restarts every role.
                    "backoffLimit": 0,
                    "completionMode": "Indexed",
                    "completions": pods,
                    "parallelism": pods,
                    "template": model.pod_template(restart_policy="Never"),
                },
            },
        }
