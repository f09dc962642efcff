"""Typed cdk8s constructs that deploy PRIME-RL experiments to Kubernetes GPU clusters.

- :class:`SharedDataVolume`: the ReadWriteMany claim all pods share (``/data``).
- :class:`GpuStatefulSet`: GPU pods with stable DNS names, GPU requests = limits, ``/dev/shm``,
  the ``nvidia`` runtime class, GPU-taint tolerations and the pod-identity env the runtime reads.
- :class:`PrimeRLExperiment`: orchestrator + inference + trainer with all cross-wiring computed.

Builds the pod spec from the typed Kubernetes L1 classes, imports no torch, and raises
:class:`PrimeRLConfigError` (one line naming field, value and what is allowed) for bad input.
Constructs given ``namespace=None`` use the enclosing Chart's namespace, else write no
``metadata.namespace`` and use ``default`` in every FQDN.
"""

import os

# jsii prints a Node end-of-life banner on every import unless this is set before cdk8s loads.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from .env import POD_INDEX_FIELD, EnvValue, SecretKeyRef
from .errors import PrimeRLConfigError
from .experiment import (
    DEFAULT_HTTP_PORT,
    DEFAULT_IMAGE_REPOSITORY,
    DEFAULT_IMAGE_TAG,
    DEFAULT_NCCL_PORT,
    SECRET_KEYS,
    PrimeRLExperiment,
    RoleProps,
)
from .gpu_statefulset import (
    DEFAULT_GPU_RUNTIME_CLASS,
    DEFAULT_GPU_SHM_SIZE_GIB,
    DEFAULT_TOPOLOGY_KEY,
    GPU_RESOURCE,
    VALUES_KEYS,
    GpuStatefulSet,
)
from .naming import pod_fqdn, selector_labels, service_fqdn, standard_labels
from .presets import INFERENCE, ORCHESTRATOR, PRESETS, ROLES, TRAINER, ExamplePreset, RoleDefaults, get_preset
from .volume import RETAIN_ANNOTATIONS, SharedDataVolume

__all__ = [
    "DEFAULT_GPU_RUNTIME_CLASS",
    "DEFAULT_GPU_SHM_SIZE_GIB",
    "DEFAULT_HTTP_PORT",
    "DEFAULT_IMAGE_REPOSITORY",
    "DEFAULT_IMAGE_TAG",
    "DEFAULT_NCCL_PORT",
    "DEFAULT_TOPOLOGY_KEY",
    "GPU_RESOURCE",
    "INFERENCE",
    "ORCHESTRATOR",
    "POD_INDEX_FIELD",
    "PRESETS",
    "RETAIN_ANNOTATIONS",
    "ROLES",
    "SECRET_KEYS",
    "TRAINER",
    "VALUES_KEYS",
    "EnvValue",
    "ExamplePreset",
    "GpuStatefulSet",
    "PrimeRLConfigError",
    "PrimeRLExperiment",
    "RoleDefaults",
    "RoleProps",
    "SecretKeyRef",
    "SharedDataVolume",
    "get_preset",
    "pod_fqdn",
    "selector_labels",
    "service_fqdn",
    "standard_labels",
]
