"""Validated chart values → experiment props, and core errors back into values keys.

The only module where values keys meet construct props:

    values key                                  construct prop
    (release name)                              name
    namespace                                   namespace
    image.{repository,tag,pullPolicy}           image_repository, image_tag, image_pull_policy
    storage.enabled                             storage_enabled
    storage.{storageClassName,size}             storage_class_name, storage_size
    storage.{accessModes,mountPath}             storage_access_modes, storage_mount_path
    storage.existingClaim ("" = create one)     storage_existing_claim_name
    storage.retain                              storage_retain_on_delete
    config.example                              example (preset: default commands, GPUs, resources)
    config.secrets.{enabled,name}               secret_name (None while disabled)
    inference.externalUrls                      external_inference_urls
    securityContext.runAsUser (null = image's)  run_as_user
    config.maxAsyncLevel                        max_async_level
    runId (null = the release name)             run_id
    <role>.enabled / replicas / autoStart       RoleProps.enabled / replicas / auto_start
    <role>.command ("" = the preset's)          RoleProps.command
    <role>.env[{name,value}]                    RoleProps.env {name: value}
    <role>.gpu.{enabled,count}                  RoleProps.gpu_count (0 while disabled)
    <role>.resources.requests.{cpu,memory}      RoleProps.cpu_request / memory_request
    <role>.resources.limits.{cpu,memory}        RoleProps.cpu_limit / memory_limit
    <role>.service.{enabled,type,port}          RoleProps.service_enabled / service_type / port
    <role>.service.ncclPort                     RoleProps.nccl_port
    <role>.runtimeClassName / shmSizeGiB        RoleProps.runtime_class_name / shm_size_gib
    <role>.nodeSelector / tolerations           RoleProps.node_selector / tolerations
    <role>.podAntiAffinity[TopologyKey]         RoleProps.pod_anti_affinity / anti_affinity_topology_key
    <role>.terminationGracePeriodSeconds        RoleProps.termination_grace_period_seconds
    <role>.probes.enabled                       RoleProps.probes_enabled
    <role>.probes.<kind>.{periodSeconds,...}    RoleProps.<kind>_probe (a ProbeTiming)
    <role>.priorityClassName                    RoleProps.priority_class_name
    <role>.podDisruptionBudget.enabled          RoleProps.pod_disruption_budget
    trainer.pytorchCudaAllocConf                trainer_pytorch_cuda_alloc_conf
    workload                                    workload
    jobset.{maxRestarts,ttlSecondsAfterFinished} jobset_max_restarts, jobset_ttl_seconds_after_finished
    kueue.queueName                             kueue_queue_name
    config.shared                               shared_config
    imagePullSecrets                            image_pull_secrets
    serviceAccount.{create,name,annotations}    service_account_create / _name / _annotations
    securityContext.readOnlyRootFilesystem      read_only_root_filesystem
    monitoring.metricsPort                      metrics_port
    monitoring.podMonitor.*                     monitoring_pod_monitor_enabled / _interval / _labels
    networkPolicy.enabled                       network_policy_enabled
    networkPolicy.allowModelHub                 network_policy_allow_model_hub
    networkPolicy.prometheusNamespaceLabels     network_policy_prometheus_namespace_labels
    networkPolicy.inferenceClients / extraEgress  network_policy_inference_clients / _extra_egress
    <role>.affinity / topologySpreadConstraints RoleProps.affinity / topology_spread_constraints
    <role>.podAnnotations / podLabels           RoleProps.pod_annotations / pod_labels
    <role>.extraResources / extraEnvFrom        RoleProps.extra_resources / extra_env_from
    <role>.extraVolumes / extraVolumeMounts     RoleProps.extra_volumes / extra_volume_mounts
    <role>.rdma.{enabled,resourceName}          RoleProps.rdma_enabled / rdma_resource_name
    <role>.config                               RoleProps.config
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..core.experiment import ExperimentPlan, PrimeRLExperimentProps, RoleProps
from ..core.presets import ROLES
from ..core.probes import DEFAULT_PROBES, PROBE_KINDS, ProbeTiming
from ..errors import PrimeRLConfigError

#: Experiment prop -> values key.
EXPERIMENT_KEYS = {
    "name": "release",
    "example": "config.example",
    "image_repository": "image.repository",
    "image_tag": "image.tag",
    "image_pull_policy": "image.pullPolicy",
    "storage_enabled": "storage.enabled",
    "storage_class_name": "storage.storageClassName",
    "storage_size": "storage.size",
    "storage_access_modes": "storage.accessModes",
    "storage_mount_path": "storage.mountPath",
    "storage_existing_claim_name": "storage.existingClaim",
    "storage_retain_on_delete": "storage.retain",
    "secret_name": "config.secrets.name",
    "external_inference_urls": "inference.externalUrls",
    "run_as_user": "securityContext.runAsUser",
    "max_async_level": "config.maxAsyncLevel",
    "run_id": "runId",
    "workload": "workload",
    "jobset_max_restarts": "jobset.maxRestarts",
    "jobset_ttl_seconds_after_finished": "jobset.ttlSecondsAfterFinished",
    "kueue_queue_name": "kueue.queueName",
    "trainer_pytorch_cuda_alloc_conf": "trainer.pytorchCudaAllocConf",
    "shared_config": "config.shared",
    "image_pull_secrets": "imagePullSecrets",
    "service_account_create": "serviceAccount.create",
    "service_account_name": "serviceAccount.name",
    "service_account_annotations": "serviceAccount.annotations",
    "read_only_root_filesystem": "securityContext.readOnlyRootFilesystem",
    "metrics_port": "monitoring.metricsPort",
    "monitoring_pod_monitor_enabled": "monitoring.podMonitor.enabled",
    "monitoring_pod_monitor_interval": "monitoring.podMonitor.interval",
    "monitoring_pod_monitor_labels": "monitoring.podMonitor.labels",
    "network_policy_enabled": "networkPolicy.enabled",
    "network_policy_allow_model_hub": "networkPolicy.allowModelHub",
    "network_policy_prometheus_namespace_labels": "networkPolicy.prometheusNamespaceLabels",
    "network_policy_inference_clients": "networkPolicy.inferenceClients",
    "network_policy_extra_egress": "networkPolicy.extraEgress",
}
#: Role prop (RoleProps, or the StatefulSet prop it becomes) -> values key under the role.
ROLE_KEYS = {
    "auto_start": "autoStart",
    "gpu_count": "gpu.count",
    "cpu_request": "resources.requests.cpu",
    "memory_request": "resources.requests.memory",
    "cpu_limit": "resources.limits.cpu",
    "memory_limit": "resources.limits.memory",
    "runtime_class_name": "runtimeClassName",
    "shm_size_gib": "shmSizeGiB",
    "service_enabled": "service.enabled",
    "service_type": "service.type",
    "port": "service.port",
    "ports": "service.port",
    "nccl_port": "service.ncclPort",
    "node_selector": "nodeSelector",
    "pod_anti_affinity": "podAntiAffinity",
    "anti_affinity_topology_key": "podAntiAffinityTopologyKey",
    "termination_grace_period_seconds": "terminationGracePeriodSeconds",
    "probes_enabled": "probes.enabled",
    "startup_probe": "probes.startup",
    "liveness_probe": "probes.liveness",
    "readiness_probe": "probes.readiness",
    "priority_class_name": "priorityClassName",
    "pod_disruption_budget": "podDisruptionBudget.enabled",
    "topology_spread_constraints": "topologySpreadConstraints",
    "pod_labels": "podLabels",
    "pod_annotations": "podAnnotations",
    "extra_resources": "extraResources",
    "extra_volumes": "extraVolumes",
    "extra_volume_mounts": "extraVolumeMounts",
    "extra_env_from": "extraEnvFrom",
    "env_from": "extraEnvFrom",
    "rdma_enabled": "rdma.enabled",
    "rdma_resource_name": "rdma.resourceName",
}
#: ProbeTiming field -> values key under `<role>.probes.<kind>`.
_TIMING_KEYS = {
    "period_seconds": "periodSeconds",
    "failure_threshold": "failureThreshold",
    "timeout_seconds": "timeoutSeconds",
}
_SUB_PROP = re.compile(r"\.([a-z_]+)")
_PROP = re.compile(r"^(?P<prop>[a-z_]+)(?P<rest>.*)$", re.DOTALL)


def values_key(field: str) -> str:
    """The values key a prop path such as ``trainer.cpu_limit`` or ``storage_size`` is set by."""
    role, dot, rest = field.partition(".")
    if dot and role in ROLES:
        match = _PROP.match(rest)
        if match is None:
            return field
        rest = match["rest"]
        if match["prop"].endswith("_probe"):
            # A ProbeTiming field: `trainer.liveness_probe.period_seconds` -> `...periodSeconds`.
            rest = _SUB_PROP.sub(lambda sub: "." + _TIMING_KEYS.get(sub[1], sub[1]), rest)
        return f"{role}.{ROLE_KEYS.get(match['prop'], match['prop'])}{rest}"
    match = _PROP.match(field)
    if match is None:
        return field
    return f"{EXPERIMENT_KEYS.get(match['prop'], match['prop'])}{match['rest']}"


def experiment_props(release: str, values: Mapping[str, Any]) -> PrimeRLExperimentProps:
    """The props that render `release` from validated values."""
    storage = values["storage"]
    secrets = values["config"]["secrets"]
    roles = {role: role_props(values[role], role) for role in ROLES}
    return PrimeRLExperimentProps(
        name=release,
        namespace=values["namespace"],
        example=values["config"]["example"],
        image_repository=values["image"]["repository"],
        image_tag=values["image"]["tag"] or None,
        image_pull_policy=values["image"]["pullPolicy"],
        storage_enabled=storage["enabled"],
        storage_class_name=storage["storageClassName"],
        storage_size=storage["size"],
        storage_access_modes=tuple(storage["accessModes"]),
        storage_mount_path=storage["mountPath"],
        storage_existing_claim_name=storage["existingClaim"] or None,
        storage_retain_on_delete=storage["retain"],
        secret_name=secrets["name"] if secrets["enabled"] else None,
        external_inference_urls=tuple(values["inference"]["externalUrls"]),
        run_as_user=values["securityContext"]["runAsUser"],
        max_async_level=values["config"]["maxAsyncLevel"],
        run_id=values["runId"],
        workload=values["workload"],
        jobset_max_restarts=values["jobset"]["maxRestarts"],
        jobset_ttl_seconds_after_finished=values["jobset"]["ttlSecondsAfterFinished"],
        kueue_queue_name=values["kueue"]["queueName"] or None,
        trainer_pytorch_cuda_alloc_conf=values["trainer"]["pytorchCudaAllocConf"],
        shared_config=values["config"]["shared"] or None,
        image_pull_secrets=tuple(values["imagePullSecrets"]),
        service_account_create=values["serviceAccount"]["create"],
        service_account_name=values["serviceAccount"]["name"] or None,
        service_account_annotations=values["serviceAccount"]["annotations"],
        read_only_root_filesystem=values["securityContext"]["readOnlyRootFilesystem"],
        metrics_port=values["monitoring"]["metricsPort"],
        monitoring_pod_monitor_enabled=values["monitoring"]["podMonitor"]["enabled"],
        monitoring_pod_monitor_interval=values["monitoring"]["podMonitor"]["interval"],
        monitoring_pod_monitor_labels=values["monitoring"]["podMonitor"]["labels"],
        network_policy_enabled=values["networkPolicy"]["enabled"],
        network_policy_allow_model_hub=values["networkPolicy"]["allowModelHub"],
        network_policy_prometheus_namespace_labels=values["networkPolicy"]["prometheusNamespaceLabels"],
        network_policy_inference_clients=tuple(values["networkPolicy"]["inferenceClients"]),
        network_policy_extra_egress=tuple(values["networkPolicy"]["extraEgress"]),
        **roles,
    )


def role_props(section: Mapping[str, Any], role: str) -> RoleProps:
    """One role's values section as RoleProps (nulls stay None: the preset's default)."""
    requests = section["resources"]["requests"]
    limits = section["resources"]["limits"]
    service = section["service"]
    return RoleProps(
        enabled=section["enabled"],
        replicas=section["replicas"],
        auto_start=section["autoStart"],
        command=section["command"],
        env={entry["name"]: entry["value"] for entry in section["env"]},
        gpu_count=section["gpu"]["count"] if section["gpu"]["enabled"] else 0,
        cpu_request=requests["cpu"],
        memory_request=requests["memory"],
        cpu_limit=limits["cpu"],
        memory_limit=limits["memory"],
        runtime_class_name=section["runtimeClassName"],
        shm_size_gib=section["shmSizeGiB"],
        service_enabled=service["enabled"],
        service_type=service["type"],
        port=service["port"],
        nccl_port=service["ncclPort"],
        node_selector=dict(section["nodeSelector"]),
        tolerations=tuple(
            {key: value for key, value in toleration.items() if value is not None}
            for toleration in section["tolerations"]
        ),
        pod_anti_affinity=section["podAntiAffinity"] or None,
        anti_affinity_topology_key=section["podAntiAffinityTopologyKey"],
        termination_grace_period_seconds=section["terminationGracePeriodSeconds"],
        probes_enabled=section["probes"]["enabled"],
        **{
            f"{kind}_probe": _probe_timing(section["probes"][kind], DEFAULT_PROBES[role][kind])
            for kind in PROBE_KINDS
        },
        priority_class_name=section["priorityClassName"] or None,
        pod_disruption_budget=section["podDisruptionBudget"]["enabled"],
        affinity=section["affinity"],
        topology_spread_constraints=tuple(section["topologySpreadConstraints"]),
        pod_labels=section["podLabels"],
        pod_annotations=section["podAnnotations"],
        extra_resources=section["extraResources"],
        extra_volumes=tuple(section["extraVolumes"]),
        extra_volume_mounts=tuple(section["extraVolumeMounts"]),
        extra_env_from=tuple(section["extraEnvFrom"]),
        rdma_enabled=section["rdma"]["enabled"],
        rdma_resource_name=section["rdma"]["resourceName"],
        config=section["config"] or None,
    )


def _probe_timing(values: Mapping[str, Any], default: ProbeTiming) -> ProbeTiming | None:
    """A timing from the keys that are set, the role's default for the others (None: all default)."""
    if all(value is None for value in values.values()):
        return None
    return ProbeTiming(
        period_seconds=_or(values["periodSeconds"], default.period_seconds),
        failure_threshold=_or(values["failureThreshold"], default.failure_threshold),
        timeout_seconds=_or(values["timeoutSeconds"], default.timeout_seconds),
    )


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def plan(release: str, values: Mapping[str, Any]) -> ExperimentPlan:
    """The experiment's plan; a rule the core enforces fails in values keys."""
    try:
        return ExperimentPlan(experiment_props(release, values))
    except PrimeRLConfigError as error:
        raise error.renamed(values_key) from None
