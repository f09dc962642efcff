"""The classes `cdk8s import` generated (imports/: JobSet, PodMonitor) accept what the core writes.

The constructs create these objects from the core's dicts, for speed. Here every field of a dict
is handed to the generated, typed class (struct by struct, quantities through its
``from_number``/``from_string``), and the manifest it renders must be the core's again: a field
the typed class does not know, or would drop, fails.
"""

from __future__ import annotations

import collections.abc
import enum
import re
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from prime_rl_k8s import PrimeRLExperimentProps, RoleProps
from prime_rl_k8s.core.experiment import ExperimentPlan

from imports.jobset.io.x_k8s.jobset import JobSet, JobSetSpec
from imports.monitoring.com.coreos.monitoring import PodMonitor, PodMonitorSpec

REPO = Path(__file__).resolve().parents[2]


def _struct_class(hint: Any) -> type | None:
    """The generated struct or quantity class a type hint allows, if any."""
    for arg in typing.get_args(hint) or (hint,):
        if isinstance(arg, type) and (
            hasattr(arg, "__jsii_name_mapping__") or hasattr(arg, "from_string") or issubclass(arg, enum.Enum)
        ):
            return arg
        nested = _struct_class(arg) if typing.get_args(arg) else None
        if nested is not None:
            return nested
    return None


def _typed(value: Any, hint: Any) -> Any:
    """Kubernetes JSON as the generated classes' typed values, guided by the type hints."""
    origin = typing.get_origin(hint)
    args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    if origin is typing.Union:
        containers = [arg for arg in args if typing.get_origin(arg) is not None]
        if isinstance(value, list | dict) and containers and _struct_class(hint) is None:
            return _typed(value, containers[0])
        if len(args) == 1 or (isinstance(value, list) and containers):
            return _typed(value, containers[0] if isinstance(value, list) else args[0])
    if origin in (collections.abc.Mapping, dict) and isinstance(value, dict):
        return {key: _typed(item, args[1]) for key, item in value.items()}
    if origin in (collections.abc.Sequence, list) and isinstance(value, list):
        return [_typed(entry, args[0]) for entry in value]
    cls = _struct_class(hint)
    if cls is None:
        return value
    if issubclass(cls, enum.Enum):
        # jsii enum members are the API's values in upper snake case (InOrder -> IN_ORDER).
        return cls[re.sub(r"(?<!^)(?=[A-Z])", "_", value).upper()]
    if hasattr(cls, "from_string") and not isinstance(value, dict):
        return cls.from_number(value) if isinstance(value, int | float) else cls.from_string(value)
    if isinstance(value, dict) and hasattr(cls, "__jsii_name_mapping__"):
        # jsii spells acronyms as words (enableDnsHostnames); the rendered JSON spells them as the API does.
        snake = {camel.lower(): name for name, camel in cls.__jsii_name_mapping__.items()}
        hints = typing.get_type_hints(cls.__init__)
        unknown = sorted(key for key in value if key.lower() not in snake)
        assert not unknown, f"{cls.__name__} has no field {unknown}"
        fields = {snake[key.lower()]: key for key in value}
        return cls(**{name: _typed(value[key], hints[name]) for name, key in fields.items()})
    return value


def _core_objects(kind: str) -> list[dict[str, Any]]:
    docs = []
    for path in sorted((REPO / "dist").glob("*.k8s.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d and d["kind"] == kind]
    plan = ExperimentPlan(
        PrimeRLExperimentProps(
            name="typed",
            namespace="rl",
            workload="jobset",
            jobset_ttl_seconds_after_finished=60,
            kueue_queue_name="q",
            monitoring_pod_monitor_enabled=True,
            monitoring_pod_monitor_interval="1m",
            inference=RoleProps(replicas=2, pod_anti_affinity="preferred", priority_class_name="p"),
            trainer=RoleProps(replicas=2, gpu_count=8, memory_limit="1Ti", pod_anti_affinity="required"),
        )
    )
    docs += [d for d in plan.manifests() if d["kind"] == kind]
    return docs


GENERATED = {"JobSet": (JobSet, JobSetSpec), "PodMonitor": (PodMonitor, PodMonitorSpec)}
CASES = [(kind, doc) for kind in GENERATED for doc in _core_objects(kind)]


@pytest.mark.parametrize(("kind", "document"), CASES, ids=[f"{k}-{d['metadata']['name']}" for k, d in CASES])
def test_generated_class_renders_what_the_core_renders(kind: str, document: dict[str, Any]) -> None:
    cls, spec_cls = GENERATED[kind]
    spec = _typed(document["spec"], spec_cls)
    metadata = document["metadata"]
    rendered = cls.manifest(
        metadata={"name": metadata["name"], "namespace": metadata["namespace"], "labels": metadata["labels"]},
        spec=spec,
    )
    assert rendered["apiVersion"] == document["apiVersion"] and rendered["kind"] == kind
    assert rendered["spec"] == document["spec"]


def test_every_generated_kind_is_covered() -> None:
    assert {kind for kind, _ in CASES} == set(GENERATED)


def test_typed_conversion_refuses_a_field_the_class_lacks() -> None:
    jobset = _core_objects("JobSet")[0]
    broken = {**jobset["spec"], "startupPolicy": {"startupPolicyOrder": "InOrder", "gate": "x"}}
    with pytest.raises(AssertionError, match="has no field"):
        _typed(broken, JobSetSpec)
