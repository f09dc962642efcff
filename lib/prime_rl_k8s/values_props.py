"""Validated chart values → PrimeRLExperiment props: the only place values keys meet construct props.

    values key                                  construct prop
    namespace                                   Chart namespace (every object, every URL)
    image.{repository,tag,pullPolicy}           image_repository, image_tag, image_pull_policy
    storage.enabled                             storage_enabled
    storage.{storageClassName,size}             storage_class_name, storage_size
    storage.{accessModes,mountPath}             storage_access_modes, storage_mount_path
    storage.existingClaim ("" = create one)     storage_existing_claim_name
    storage.retain                              storage_retain_on_delete
    config.example                              example (preset: default commands and limits)
    config.secrets.{enabled,name}               secret_name (None while disabled)
    inference.externalUrls                      external_inference_urls
    securityContext.runAsUser (null = image's)  run_as_user
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

An unset limit means the preset's limit, raised to the request when the request is higher, so a
values file that only sets requests (as the chart's examples do) never produces request > limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from constructs import Construct

from prime_rl_k8s.experiment import PrimeRLExperiment, RoleProps
from prime_rl_k8s.presets import get_preset
from prime_rl_k8s.validation import parse_quantity
from prime_rl_k8s.values_schema import ROLES


def experiment_props(release: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments for PrimeRLExperiment (everything but scope and id)."""
    storage = values["storage"]
    secrets = values["config"]["secrets"]
    example = values["config"]["example"]
    return {
        "name": release,
        "example": example,
        "image_repository": values["image"]["repository"],
        "image_tag": values["image"]["tag"],
        "image_pull_policy": values["image"]["pullPolicy"],
        "storage_enabled": storage["enabled"],
        "storage_class_name": storage["storageClassName"],
        "storage_size": storage["size"],
        "storage_access_modes": tuple(storage["accessModes"]),
        "storage_mount_path": storage["mountPath"],
        "storage_existing_claim_name": storage["existingClaim"] or None,
        "storage_retain_on_delete": storage["retain"],
        "secret_name": secrets["name"] if secrets["enabled"] else None,
        "external_inference_urls": tuple(values["inference"]["externalUrls"]),
        "run_as_user": values["securityContext"]["runAsUser"],
        **{role: role_props(role, values[role], example) for role in ROLES},
    }


def role_props(role: str, section: Mapping[str, Any], example: str) -> RoleProps:
    """One role's values section as RoleProps."""
    requests = section["resources"]["requests"]
    limits = section["resources"]["limits"]
    defaults = get_preset(example, "config.example").role_defaults(role)
    service = section["service"]
    return RoleProps(
        enabled=section["enabled"],
        replicas=section["replicas"],
        auto_start=section["autoStart"],
        command=section["command"],
        env=_env(section["env"]),
        gpu_count=section["gpu"]["count"] if section["gpu"]["enabled"] else 0,
        cpu_request=requests["cpu"],
        memory_request=requests["memory"],
        cpu_limit=_limit(requests["cpu"], limits["cpu"], defaults.cpu_limit),
        memory_limit=_limit(requests["memory"], limits["memory"], defaults.memory_limit),
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
        pod_anti_affinity=section["podAntiAffinity"],
        anti_affinity_topology_key=section["podAntiAffinityTopologyKey"],
    )


def add_experiment(scope: Construct, release: str, values: Mapping[str, Any]) -> PrimeRLExperiment:
    """The experiment for `release` in `scope` (a Chart whose namespace is `values["namespace"]`)."""
    return PrimeRLExperiment(scope, release, **experiment_props(release, values))


def _env(entries: list[Mapping[str, str]]) -> dict[str, str]:
    return {entry["name"]: entry["value"] for entry in entries}


def _limit(request: str | None, limit: str | None, preset_limit: str) -> str:
    if limit is not None:
        return limit
    if request is not None and parse_quantity(request, "request") > parse_quantity(preset_limit, "limit"):
        return request
    return preset_limit
