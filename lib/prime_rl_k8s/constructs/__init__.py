"""cdk8s constructs over the render core: one API object per manifest, rendered at synthesis."""

import os

# jsii prints a Node end-of-life banner on every import unless this is set before cdk8s loads.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from .experiment import PrimeRLExperiment
from .gpu_statefulset import GpuStatefulSet
from .jobset import JobSetRole
from .pods import GpuPods
from .volume import SharedDataVolume

__all__ = ["GpuPods", "GpuStatefulSet", "JobSetRole", "PrimeRLExperiment", "SharedDataVolume"]
