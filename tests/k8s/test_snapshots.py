"""One snapshot per construct scenario, plus what cdk8s users do after construction.

The snapshots cover the constructs on their own (the apps' output is pinned by ``dist/`` and its
drift test, so it is not repeated here).
"""

from __future__ import annotations

from collections.abc import Callable

import cdk8s
import pytest
from cdk8s_plus_28 import k8s
from prime_rl_k8s import (
    FieldRef,
    GpuStatefulSet,
    GpuStatefulSetProps,
    PrimeRLConfigError,
    PrimeRLExperiment,
    RoleProps,
    SecretKeyRef,
    SharedDataVolume,
)
from prime_rl_k8s.core.experiment import ExperimentPlan, PrimeRLExperimentProps
from prime_rl_k8s.output import manifests_yaml
from syrupy.assertion import SnapshotAssertion

SCENARIOS: dict[str, Callable[[cdk8s.Chart], object]] = {
    "volume-default": lambda c: SharedDataVolume(c, "v", experiment="exp"),
    "volume-retained-default-class": lambda c: SharedDataVolume(
        c, "v", experiment="exp", storage_class_name=None, size="50Gi", retain_on_delete=True
    ),
    "volume-existing-claim": lambda c: SharedDataVolume(
        c, "v", experiment="exp", existing_claim_name="team-data"
    ),
    "statefulset-cpu": lambda c: GpuStatefulSet(c, "s", instance="exp", component="worker", image="img:1"),
    "statefulset-gpu-service": lambda c: GpuStatefulSet(
        c,
        "s",
        instance="exp",
        component="trainer",
        image="img:1",
        replicas=2,
        gpu_count=8,
        ports={"http": 8000, "nccl": 29501},
        service_enabled=True,
        cpu_request="32",
        memory_limit="512Gi",
        pod_anti_affinity="required",
        node_selector={"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
        env={"TOKEN": SecretKeyRef("s", "k", optional=True), "NODE": FieldRef("spec.nodeName")},
        readiness_probe={"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 10},
        update_strategy="OnDelete",
        pod_disruption_budget=True,
    ),
    "experiment-default": lambda c: PrimeRLExperiment(c, "e", name="exp"),
    "experiment-jobset-kueue": lambda c: PrimeRLExperiment(
        c,
        "e",
        name="exp",
        namespace="rl",
        workload="jobset",
        kueue_queue_name="team-a",
        jobset_max_restarts=5,
        jobset_ttl_seconds_after_finished=3600,
        inference=RoleProps(replicas=2, priority_class_name="serving"),
        trainer=RoleProps(replicas=2, gpu_count=8, priority_class_name="training"),
    ),
    "experiment-multi-node-secrets": lambda c: PrimeRLExperiment(
        c,
        "e",
        name="exp",
        namespace="rl",
        example="wordle",
        secret_name="rl-secrets",
        max_async_level=2,
        inference=RoleProps(replicas=2),
        trainer=RoleProps(replicas=4, gpu_count=8, pod_anti_affinity="required"),
    ),
    "experiment-external-inference": lambda c: PrimeRLExperiment(
        c,
        "e",
        name="exp",
        example="smoke",
        inference=RoleProps(enabled=False),
        external_inference_urls=("http://vllm.shared:8000/v1",),
        storage_existing_claim_name="shared",
    ),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_construct_scenario_matches_snapshot(
    scenario: str, chart: cdk8s.Chart, snapshot: SnapshotAssertion
) -> None:
    SCENARIOS[scenario](chart)
    assert cdk8s.Testing.synth(chart) == snapshot


def test_core_renders_what_the_constructs_synthesize(chart: cdk8s.Chart) -> None:
    props = PrimeRLExperimentProps(
        name="exp", namespace="rl", example="wordle", trainer=RoleProps(replicas=2)
    )
    PrimeRLExperiment.from_props(chart, "exp", props)
    assert cdk8s.Testing.synth(chart) == ExperimentPlan(props).manifests()


def test_main_child_is_default_so_api_object_of_finds_it(chart: cdk8s.Chart) -> None:
    sts = GpuStatefulSet(chart, "s", instance="exp", component="trainer", image="img:1")
    volume = SharedDataVolume(chart, "v", experiment="exp")
    assert cdk8s.ApiObject.of(sts).kind == "StatefulSet"
    assert cdk8s.ApiObject.of(sts).name == "exp-trainer"
    assert cdk8s.ApiObject.of(volume).kind == "PersistentVolumeClaim"


def test_add_methods_work_after_construction_and_return_what_they_add(chart, synth) -> None:
    experiment = PrimeRLExperiment(chart, "e", name="exp")
    trainer = experiment.trainer
    assert trainer.add_env("NCCL_DEBUG", "INFO") == {"name": "NCCL_DEBUG", "value": "INFO"}
    volume, mount = trainer.add_volume({"name": "cache", "emptyDir": {}}, "/cache", read_only=True)
    assert volume == {"name": "cache", "emptyDir": {}}
    assert mount == {"mountPath": "/cache", "name": "cache", "readOnly": True}
    typed, _ = trainer.add_volume(
        k8s.Volume(
            name="models", persistent_volume_claim=k8s.PersistentVolumeClaimVolumeSource(claim_name="m")
        ),
        "/models",
    )
    assert typed == {"name": "models", "persistentVolumeClaim": {"claimName": "m"}}
    assert trainer.add_toleration(k8s.Toleration(key="team", operator="Exists", effect="NoSchedule")) == {
        "effect": "NoSchedule",
        "key": "team",
        "operator": "Exists",
    }
    trainer.add_pod_annotation("example.com/owner", "rl-team")
    manifests = synth(chart)
    spec = manifests.pod_spec("exp-trainer")
    assert manifests.env("exp-trainer")["NCCL_DEBUG"] == "INFO"
    assert list(manifests.env("exp-trainer"))[-1] == "NCCL_DEBUG"
    assert [v["name"] for v in spec["volumes"]] == ["shared-data", "dshm", "tmp", "cache", "models"]
    assert {"mountPath": "/models", "name": "models"} in manifests.container("exp-trainer")["volumeMounts"]
    assert {"effect": "NoSchedule", "key": "team", "operator": "Exists"} in spec["tolerations"]
    template = manifests.get("StatefulSet", "exp-trainer")["spec"]["template"]["metadata"]
    assert template["annotations"] == {"example.com/owner": "rl-team"}


@pytest.mark.parametrize(
    ("add", "message"),
    [
        (lambda s: s.add_env("ROLE", "x"), r"^env\.ROLE must be a variable name not set already"),
        (lambda s: s.add_env("1X", "x"), r"^env\.1X must be an environment variable name"),
        (
            lambda s: s.add_volume({"name": "dshm", "emptyDir": {}}),
            r"^volumes\.name must be a volume name not used",
        ),
        (
            lambda s: s.add_volume({"emptyDir": {}}),
            r"^volumes must be a mapping with a name and one volume source",
        ),
        (
            lambda s: s.add_volume({"name": "x", "emptyDir": {}}, "/dev/shm"),
            r"^volume_mounts\.mountPath must be an absolute path",
        ),
        (
            lambda s: s.add_toleration(
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
            ),
            r"^tolerations must be a toleration not present already",
        ),
        (
            lambda s: s.add_toleration({"key": "a", "color": "red"}),
            r"^tolerations\[1\]\.color must be absent",
        ),
        (lambda s: s.add_pod_annotation("bad key!", "x"), r"^pod_annotations key must be a label key"),
    ],
)
def test_fails_add_methods_refuse_duplicates_and_bad_input(chart, add, message) -> None:
    sts = GpuStatefulSet(chart, "s", instance="exp", component="trainer", image="img:1", gpu_count=1)
    with pytest.raises(PrimeRLConfigError, match=message):
        add(sts)


def test_json_patch_keeps_raw_quantities_and_ports(chart, synth) -> None:
    """Patches apply to Kubernetes JSON, so an RDMA quantity and a probe port keep their values."""
    sts = GpuStatefulSet(chart, "s", instance="exp", component="trainer", image="img:1", ports={"http": 8000})
    api = cdk8s.ApiObject.of(sts)
    api.add_json_patch(
        cdk8s.JsonPatch.add("/spec/template/spec/containers/0/resources/limits", {"rdma/ib": 1})
    )
    api.add_json_patch(
        cdk8s.JsonPatch.add(
            "/spec/template/spec/containers/0/livenessProbe",
            {"tcpSocket": {"port": 8000}, "periodSeconds": 30},
        )
    )
    api.metadata.add_annotation("team", "rl")
    sts.headless_service.add_json_patch(cdk8s.JsonPatch.replace("/spec/clusterIP", "None"))
    manifests = synth(chart)
    container = manifests.container("exp-trainer")
    assert container["resources"]["limits"] == {"rdma/ib": 1}
    assert container["livenessProbe"]["tcpSocket"]["port"] == 8000
    assert manifests.get("StatefulSet", "exp-trainer")["metadata"]["annotations"] == {"team": "rl"}
    assert manifests.get("Service", "exp-trainer-headless")["spec"]["clusterIP"] == "None"


def test_experiment_asks_its_statefulsets_for_names(chart) -> None:
    experiment = PrimeRLExperiment(chart, "e", name="exp", namespace="rl", inference=RoleProps(replicas=2))
    assert experiment.inference_urls == tuple(
        f"http://{experiment.inference.pod_fqdn(i)}:8000/v1" for i in range(2)
    )
    assert experiment.inference.pod_fqdn(1) == "exp-inference-1.exp-inference-headless.rl.svc.cluster.local"
    assert experiment.trainer_world_size == 1
    assert experiment.output_dir == "/data/outputs/exp"


def test_from_props_equals_keyword_props(chart, make_chart) -> None:
    props = GpuStatefulSetProps(instance="exp", component="trainer", image="img:1", gpu_count=2)
    GpuStatefulSet.from_props(chart, "s", props)
    other = make_chart()
    GpuStatefulSet(other, "s", instance="exp", component="trainer", image="img:1", gpu_count=2)
    assert cdk8s.Testing.synth(chart) == cdk8s.Testing.synth(other)


def test_cli_yaml_writer_keeps_order_and_types() -> None:
    text = manifests_yaml([{"apiVersion": "v1", "kind": "ConfigMap", "data": {"b": "1", "a": "true"}}])
    assert text == "apiVersion: v1\nkind: ConfigMap\ndata:\n  b: '1'\n  a: 'true'\n"


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"volumes": {"name": "x"}}, r"^volumes must be a list, got"),
        ({"volumes": [{"name": "x"}]}, r"^volumes\[0\] must be a mapping with a name and one volume source"),
        ({"volumes": [{"name": "Bad", "emptyDir": {}}]}, r"^volumes\[0\]\.name must be a DNS-1123 label"),
        (
            {"volumes": [{"name": "x", "emptyDir": {}}, {"name": "x", "emptyDir": {}}]},
            r"^volumes\[1\]\.name must be a volume name not used already",
        ),
        (
            {"volume_mounts": [{"name": "x"}]},
            r"^volume_mounts\[0\] must be a mapping with name and mountPath",
        ),
        (
            {"volume_mounts": [{"name": "nope", "mountPath": "/x"}]},
            r"^volume_mounts\[0\]\.name must be the name of one of the pod's volumes",
        ),
        (
            {
                "volumes": [{"name": "x", "emptyDir": {}}],
                "volume_mounts": [{"name": "x", "mountPath": "/dev/shm"}],
            },
            r"^volume_mounts\[0\]\.mountPath must be an absolute path",
        ),
    ],
)
def test_fails_bad_volumes_and_mounts(chart, props, message) -> None:
    with pytest.raises(PrimeRLConfigError, match=message):
        GpuStatefulSet(chart, "s", instance="exp", component="trainer", image="img:1", **props)


def test_volumes_and_mounts_props_come_before_dev_shm(chart, synth) -> None:
    GpuStatefulSet(
        chart,
        "s",
        instance="exp",
        component="trainer",
        image="img:1",
        gpu_count=1,
        volumes=[
            k8s.Volume(
                name="cache", empty_dir=k8s.EmptyDirVolumeSource(size_limit=k8s.Quantity.from_string("1Gi"))
            )
        ],
        volume_mounts=[{"name": "cache", "mountPath": "/cache"}],
    )
    manifests = synth(chart)
    assert manifests.pod_spec("exp-trainer")["volumes"][0] == {
        "emptyDir": {"sizeLimit": "1Gi"},
        "name": "cache",
    }
    assert [m["mountPath"] for m in manifests.container("exp-trainer")["volumeMounts"]] == [
        "/cache",
        "/dev/shm",
    ]


def test_run_id_defaults_to_the_name_and_reaches_orchestrator_and_trainer(chart, synth) -> None:
    PrimeRLExperiment(chart, "a", name="exp-a")
    PrimeRLExperiment(chart, "b", name="exp-b", run_id="exp-b-2")
    manifests = synth(chart)
    assert (
        manifests.env("exp-a-orchestrator")["RUN_ID"] == manifests.env("exp-a-trainer")["RUN_ID"] == "exp-a"
    )
    assert manifests.env("exp-b-trainer")["RUN_ID"] == "exp-b-2"
    assert "RUN_ID" not in manifests.env("exp-a-inference")


def test_trainer_and_orchestrator_get_time_to_checkpoint_on_sigterm(chart, synth) -> None:
    PrimeRLExperiment(chart, "e", name="exp", inference=RoleProps(termination_grace_period_seconds=60))
    manifests = synth(chart)
    assert manifests.pod_spec("exp-trainer")["terminationGracePeriodSeconds"] == 900
    assert manifests.pod_spec("exp-orchestrator")["terminationGracePeriodSeconds"] == 120
    assert manifests.pod_spec("exp-inference")["terminationGracePeriodSeconds"] == 60


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"run_id": "a b"}, r"^run_id must be 1 to 63 letters, digits"),
        ({"run_id": ""}, r"^run_id must be 1 to 63 letters"),
        (
            {"trainer": RoleProps(termination_grace_period_seconds=-1)},
            r"^trainer\.termination_grace_period_seconds must",
        ),
    ],
)
def test_fails_bad_run_id_or_grace_period(chart, props, message) -> None:
    with pytest.raises(PrimeRLConfigError, match=message):
        PrimeRLExperiment(chart, "e", name="exp", **props)
