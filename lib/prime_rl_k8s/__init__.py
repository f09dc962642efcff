"""Typed cdk8s constructs that deploy PRIME-RL experiments to Kubernetes GPU clusters.

- :class:`SharedDataVolume`: the ReadWriteMany claim all pods share (``/data``).
- :class:`GpuStatefulSet`: GPU pods with stable DNS names, GPU requests = limits, ``/dev/shm``,
  the ``nvidia`` runtime class, GPU-taint tolerations and the pod-identity env the runtime reads.
- :class:`PrimeRLExperiment`: orchestrator + inference + trainer with all cross-wiring computed,
  as StatefulSets or as one JobSet (each role then a :class:`JobSetRole`).

Three layers: ``prime_rl_k8s.core`` renders typed props into plain manifest dicts (no cdk8s),
``prime_rl_k8s.constructs`` wraps it in cdk8s constructs, and ``prime_rl_k8s.values`` maps the
original Helm chart's values onto the props for the ``prime-rl-k8s`` CLI. Names are loaded on
first use, so the CLI and the values layer never start Node.js. Bad input raises
:class:`PrimeRLConfigError` (one line naming field, value and what is allowed).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import PrimeRLConfigError

#: This distribution's version (pyproject.toml's, which a test holds equal): the tag its release images
#: carry. A constant, because asking the installed metadata costs the CLI tens of milliseconds.
__version__ = "0.1.0"

if TYPE_CHECKING:
    from .constructs import GpuPods, GpuStatefulSet, JobSetRole, PrimeRLExperiment, SharedDataVolume
    from .core.env import POD_INDEX_FIELD, EnvValue, FieldRef, SecretKeyRef
    from .core.experiment import (
        DEFAULT_HTTP_PORT,
        DEFAULT_IMAGE_REPOSITORY,
        DEFAULT_NCCL_PORT,
        SECRET_KEYS,
        WORKLOADS,
        ExperimentPlan,
        PrimeRLExperimentProps,
        RoleProps,
    )
    from .core.naming import pod_fqdn, selector_labels, service_fqdn, standard_labels
    from .core.presets import (
        INFERENCE,
        ORCHESTRATOR,
        PRESETS,
        ROLES,
        TRAINER,
        ExamplePreset,
        RoleDefaults,
        get_preset,
    )
    from .core.probes import DEFAULT_PROBES, HEARTBEAT_FILE, ProbeTiming
    from .core.statefulset import (
        DEFAULT_GPU_RUNTIME_CLASS,
        DEFAULT_GPU_SHM_SIZE_GIB,
        DEFAULT_TOPOLOGY_KEY,
        GPU_RESOURCE,
        KUEUE_QUEUE_LABEL,
        GpuStatefulSetProps,
    )
    from .core.volume import RETAIN_ANNOTATIONS, SharedDataVolumeProps

__all__ = [
    "DEFAULT_GPU_RUNTIME_CLASS",
    "DEFAULT_GPU_SHM_SIZE_GIB",
    "DEFAULT_HTTP_PORT",
    "DEFAULT_IMAGE_REPOSITORY",
    "DEFAULT_NCCL_PORT",
    "DEFAULT_PROBES",
    "DEFAULT_TOPOLOGY_KEY",
    "GPU_RESOURCE",
    "HEARTBEAT_FILE",
    "INFERENCE",
    "KUEUE_QUEUE_LABEL",
    "ORCHESTRATOR",
    "POD_INDEX_FIELD",
    "PRESETS",
    "RETAIN_ANNOTATIONS",
    "ROLES",
    "SECRET_KEYS",
    "TRAINER",
    "WORKLOADS",
    "EnvValue",
    "ExamplePreset",
    "ExperimentPlan",
    "FieldRef",
    "GpuPods",
    "GpuStatefulSet",
    "GpuStatefulSetProps",
    "JobSetRole",
    "PrimeRLConfigError",
    "PrimeRLExperiment",
    "PrimeRLExperimentProps",
    "ProbeTiming",
    "RoleDefaults",
    "RoleProps",
    "SecretKeyRef",
    "SharedDataVolume",
    "SharedDataVolumeProps",
    "get_preset",
    "pod_fqdn",
    "selector_labels",
    "service_fqdn",
    "standard_labels",
]

#: Module (under this package) -> the public names it defines, loaded on first use.
_MODULES = {
    "constructs": ("GpuPods", "GpuStatefulSet", "JobSetRole", "PrimeRLExperiment", "SharedDataVolume"),
    "core.env": ("POD_INDEX_FIELD", "EnvValue", "FieldRef", "SecretKeyRef"),
    "core.experiment": (
        "DEFAULT_HTTP_PORT",
        "DEFAULT_IMAGE_REPOSITORY",
        "DEFAULT_NCCL_PORT",
        "SECRET_KEYS",
        "WORKLOADS",
        "ExperimentPlan",
        "PrimeRLExperimentProps",
        "RoleProps",
    ),
    "core.probes": ("DEFAULT_PROBES", "HEARTBEAT_FILE", "ProbeTiming"),
    "core.naming": ("pod_fqdn", "selector_labels", "service_fqdn", "standard_labels"),
    "core.presets": (
        "INFERENCE",
        "ORCHESTRATOR",
        "PRESETS",
        "ROLES",
        "TRAINER",
        "ExamplePreset",
        "RoleDefaults",
        "get_preset",
    ),
    "core.statefulset": (
        "DEFAULT_GPU_RUNTIME_CLASS",
        "DEFAULT_GPU_SHM_SIZE_GIB",
        "DEFAULT_TOPOLOGY_KEY",
        "GPU_RESOURCE",
        "KUEUE_QUEUE_LABEL",
        "GpuStatefulSetProps",
    ),
    "core.volume": ("RETAIN_ANNOTATIONS", "SharedDataVolumeProps"),
}
_HOMES = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
