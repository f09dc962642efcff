"""Package-level checks: public API, import cost, quantity parsing, and schema validity of full synths."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path

import cdk8s
import kubernetes_validate
import prime_rl_k8s
import pytest
from prime_rl_k8s import PrimeRLExperiment, RoleProps, SharedDataVolume
from prime_rl_k8s.core.validation import parse_quantity


def test_every_public_name_resolves_and_is_documented():
    for name in prime_rl_k8s.__all__:
        value = getattr(prime_rl_k8s, name)
        if isinstance(value, type) or callable(value):
            assert (value.__doc__ or "").strip(), f"{name} has no docstring"


def test_package_is_typed():
    assert (Path(prime_rl_k8s.__file__).parent / "py.typed").is_file()


def test_import_does_not_pull_in_torch():
    code = "import sys, prime_rl_k8s; print(sorted({'torch', 'transformers', 'vllm'} & set(sys.modules)))"
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Decimal("0.5")),
        ("4", Decimal(4)),
        (4, Decimal(4)),
        (0.25, Decimal("0.25")),
        ("16Gi", Decimal(16 * 1024**3)),
        ("1Ti", Decimal(1024**4)),
        ("2k", Decimal(2000)),
        ("1e3", Decimal(1000)),
        ("1.5M", Decimal(1_500_000)),
        ("+2", Decimal(2)),
        (".5", Decimal("0.5")),
    ],
)
def test_parse_quantity(text, value):
    assert parse_quantity(text, "q") == value


def _full_experiment(chart: cdk8s.Chart) -> None:
    """Every optional feature at once, so the schema check covers all fields we emit."""
    PrimeRLExperiment(
        chart,
        "full",
        name="full",
        namespace="rl",
        example="wordle",
        secret_name="rl-secrets",
        storage_retain_on_delete=True,
        labels={"team": "post-training"},
        inference=RoleProps(replicas=2, gpu_count=8, service_type="LoadBalancer"),
        trainer=RoleProps(
            replicas=4,
            gpu_count=8,
            pod_anti_affinity="required",
            node_selector={"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
            tolerations=[
                {
                    "key": "dedicated",
                    "operator": "Equal",
                    "value": "rl",
                    "effect": "NoExecute",
                    "tolerationSeconds": 60,
                }
            ],
            env={"NCCL_DEBUG": "INFO"},
            shm_size_gib=0.5,
        ),
        orchestrator=RoleProps(auto_start=False, pod_anti_affinity="preferred"),
    )
    PrimeRLExperiment(
        chart,
        "smoke",
        name="smoke",
        namespace="rl",
        example="smoke",
        storage_existing_claim_name="shared",
        inference=RoleProps(service_enabled=False),
    )
    SharedDataVolume(chart, "extra", experiment="extra", storage_class_name=None, namespace="rl")


@pytest.mark.parametrize("version", ["1.28.0", "1.31.0"])
def test_full_synth_passes_strict_schema_validation(chart, synth, version):
    _full_experiment(chart)
    docs = synth(chart).docs
    assert len(docs) > 10
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


def test_schema_validation_catches_a_bad_field():
    bad = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "x"},
        "spec": {"ports": [{"port": 1}], "publishNotReadyAdresses": True},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, "1.28.0", strict=True)


def _build_sts(chart: cdk8s.Chart, **props: object) -> None:
    from prime_rl_k8s import GpuStatefulSet

    GpuStatefulSet(chart, "sts", **{"instance": "exp", "component": "trainer", "image": "img:1", **props})


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"component": "Trainer"}, r"^component must be a DNS-1035 label"),
        ({"image": 5}, r"^image must be a string, got 5$"),
        ({"ports": [8000]}, r"^ports must be a mapping of port names to port numbers, got \[8000\]$"),
        ({"env": ["A=1"]}, r"^env must be a mapping of variable names to values, got \['A=1'\]$"),
        ({"labels": ["team"]}, r"^labels must be a mapping of label keys to label values"),
        (
            {"labels": {"app.kubernetes.io/instance": "other"}},
            r"^labels\.app\.kubernetes\.io/instance must be absent",
        ),
        ({"labels": {"role": "x"}}, r"^labels\.role must be absent; it is always 'trainer', got 'x'$"),
        ({"cluster_domain": "Cluster.Local"}, r"^cluster_domain must be a DNS-1123 subdomain"),
        ({"service_enabled": "yes"}, r"^service_enabled must be true or false, got 'yes'$"),
    ],
)
def test_fails_misc_gpu_statefulset_props(chart, props, message):
    with pytest.raises(prime_rl_k8s.PrimeRLConfigError, match=message):
        _build_sts(chart, **props)


def test_fails_secret_ref_optional_not_bool(chart):
    from prime_rl_k8s import SecretKeyRef

    with pytest.raises(
        prime_rl_k8s.PrimeRLConfigError, match=r"^env\.T\.secretKeyRef\.optional must be true or"
    ):
        _build_sts(chart, env={"T": SecretKeyRef("s", "k", optional="no")})


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"storage_enabled": "yes"}, r"^storage_enabled must be true or false, got 'yes'$"),
        ({"trainer": RoleProps(enabled="no")}, r"^trainer\.enabled must be true or false, got 'no'$"),
        ({"cluster_domain": "bad domain"}, r"^cluster_domain must be a DNS-1123 subdomain"),
        ({"storage_access_modes": ("RWX",)}, r"^storage_access_modes must be one of ReadWriteOnce"),
        ({"storage_class_name": "Fast"}, r"^storage_class_name must be a DNS-1123 subdomain"),
        ({"storage_existing_claim_name": "A"}, r"^storage_existing_claim_name must be a DNS-1123 subdomain"),
        ({"labels": {"bad key!": "x"}}, r"^labels key must be a label key"),
    ],
)
def test_fails_misc_experiment_props(chart, props, message):
    with pytest.raises(prime_rl_k8s.PrimeRLConfigError, match=message):
        PrimeRLExperiment(chart, "exp", name="exp", namespace="ns", **props)


def test_fails_unknown_preset_and_role():
    with pytest.raises(prime_rl_k8s.PrimeRLConfigError, match=r"^example must be one of alphabet-sort, "):
        prime_rl_k8s.get_preset("Reverse-Text")
    with pytest.raises(
        prime_rl_k8s.PrimeRLConfigError, match=r"^role must be one of orchestrator, inference"
    ):
        prime_rl_k8s.get_preset("wordle").command("critic")


def test_version_is_the_distributions() -> None:
    """The constant the default image tag uses is pyproject's version, as installed."""
    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert prime_rl_k8s.__version__ == pyproject["project"]["version"] == version("prime-rl-k8s")
