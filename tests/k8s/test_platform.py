"""A platform team's settings: affinity blocks, pass-throughs, QoS, RDMA, ConfigMaps, caches,
metrics, NetworkPolicy and the hardened security context, through the CLI (values keys) and the
constructs (props)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import cdk8s
import kubernetes_validate
import pytest
import yaml
from cli_run import refused, synth
from crd_schemas import validate_custom_resource
from prime_rl_k8s import PrimeRLConfigError, PrimeRLExperiment, RoleProps

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "k8s"
TRAINER_BLOCK = {
    "requiredDuringSchedulingIgnoredDuringExecution": [
        {
            "labelSelector": {"matchExpressions": [{"key": "role", "operator": "In", "values": ["trainer"]}]},
            "topologyKey": "kubernetes.io/hostname",
        }
    ]
}


def values_file(tmp_path: Path, values: dict[str, Any]) -> str:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return str(path)


def get(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def pod(docs: list[dict[str, Any]], role: str) -> dict[str, Any]:
    return get(docs, "StatefulSet", f"exp-{role}")["spec"]["template"]


def container(docs: list[dict[str, Any]], role: str) -> dict[str, Any]:
    return pod(docs, role)["spec"]["containers"][0]


def env(docs: list[dict[str, Any]], role: str) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(docs, role)["env"]}


# -- affinity -------------------------------------------------------------------------------------------
def test_the_charts_documented_pod_anti_affinity_block_keeps_trainers_apart(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = values_file(tmp_path, {"trainer": {"replicas": 2, "podAntiAffinity": TRAINER_BLOCK}})
    docs = synth(capsys, "-f", path)
    assert pod(docs, "trainer")["spec"]["affinity"] == {"podAntiAffinity": TRAINER_BLOCK}
    kubernetes_validate.validate(get(docs, "StatefulSet", "exp-trainer"), "1.31.0", strict=True)


def test_affinity_and_the_shorthand_combine(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    node = {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["gpu"]}]}
            ]
        }
    }
    path = values_file(
        tmp_path, {"trainer": {"affinity": {"nodeAffinity": node}, "podAntiAffinity": "preferred"}}
    )
    affinity = pod(synth(capsys, "-f", path), "trainer")["spec"]["affinity"]
    assert affinity["nodeAffinity"] == node
    assert affinity["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["weight"] == 100


@pytest.mark.parametrize(
    ("role_values", "needle"),
    [
        (
            {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {}}]}},
            "requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey must be set",
        ),
        (
            {
                "podAntiAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "topologyKey": "kubernetes.io/hostname",
                            "labelSelector": {"matchExpressions": [{"key": "role", "operator": "Is"}]},
                        }
                    ]
                }
            },
            "matchExpressions[0].operator must be one of In, NotIn, Exists, DoesNotExist, got 'Is'",
        ),
        ({"podAntiAffinity": {"required": []}}, "trainer.podAntiAffinity.required must be absent"),
        (
            {
                "podAntiAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {"weight": 0, "podAffinityTerm": {"topologyKey": "zone"}}
                    ]
                }
            },
            "preferredDuringSchedulingIgnoredDuringExecution[0].weight must be at least 1, got 0",
        ),
        (
            {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {}}}},
            "nodeSelectorTerms must be set",
        ),
        (
            {"affinity": {"podAntiAffinity": TRAINER_BLOCK}, "podAntiAffinity": "required"},
            "trainer.podAntiAffinity and trainer.affinity.podAntiAffinity are both set",
        ),
        ({"affinity": "zone-a"}, "trainer.affinity must be a Kubernetes Affinity mapping"),
        (
            {"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone"}]},
            "trainer.topologySpreadConstraints[0].whenUnsatisfiable must be set",
        ),
    ],
)
def test_fails_bad_kubernetes_structures(
    role_values: dict[str, Any], needle: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert needle in refused(capsys, "-f", values_file(tmp_path, {"trainer": role_values}))


# -- pass-throughs -------------------------------------------------------------------------------------
def test_pass_throughs_reach_the_pods(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    values = {
        "imagePullSecrets": [{"name": "registry"}, "mirror"],
        "serviceAccount": {
            "create": True,
            "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/rl"},
        },
        "trainer": {
            "podAnnotations": {"example.com/team": "rl"},
            "podLabels": {"team": "rl"},
            "topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": "topology.kubernetes.io/zone",
                    "whenUnsatisfiable": "DoNotSchedule",
                }
            ],
            "extraVolumes": [{"name": "datasets", "persistentVolumeClaim": {"claimName": "datasets"}}],
            "extraVolumeMounts": [{"name": "datasets", "mountPath": "/datasets", "readOnly": True}],
            "extraEnvFrom": [{"configMapRef": {"name": "cluster-nccl"}, "prefix": "X_"}],
        },
    }
    docs = synth(capsys, "-f", values_file(tmp_path, values))
    template = pod(docs, "trainer")
    spec = template["spec"]
    assert spec["imagePullSecrets"] == [{"name": "registry"}, {"name": "mirror"}]
    assert spec["serviceAccountName"] == "exp"
    account = get(docs, "ServiceAccount", "exp")
    assert account["automountServiceAccountToken"] is False
    assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/rl"}
    assert template["metadata"]["annotations"] == {"example.com/team": "rl"}
    assert template["metadata"]["labels"]["team"] == "rl"
    assert "team" not in get(docs, "StatefulSet", "exp-trainer")["spec"]["selector"]["matchLabels"]
    assert spec["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"
    assert {"name": "datasets", "persistentVolumeClaim": {"claimName": "datasets"}} in spec["volumes"]
    assert {"mountPath": "/datasets", "name": "datasets", "readOnly": True} in container(docs, "trainer")[
        "volumeMounts"
    ]
    assert container(docs, "trainer")["envFrom"] == [
        {"configMapRef": {"name": "cluster-nccl"}, "prefix": "X_"}
    ]
    for doc in docs:
        kubernetes_validate.validate(doc, "1.31.0", strict=True)
    # An existing account is used, not created.
    docs = synth(capsys, "--set", "serviceAccount.name=shared-runner")
    assert not [d for d in docs if d["kind"] == "ServiceAccount"]
    assert pod(docs, "inference")["spec"]["serviceAccountName"] == "shared-runner"


@pytest.mark.parametrize(
    ("role_values", "needle"),
    [
        (
            {"podLabels": {"app.kubernetes.io/instance": "other"}},
            "trainer.podLabels.app.kubernetes.io/instance",
        ),
        ({"extraResources": {"fpga": 1}}, "trainer.extraResources key must be an extended resource name"),
        ({"extraResources": {"nvidia.com/gpu": 2}}, "trainer.extraResources.nvidia.com/gpu must be absent"),
        ({"extraResources": {"rdma/ib": "lots"}}, "trainer.extraResources.rdma/ib must be"),
        (
            {"extraVolumeMounts": [{"name": "nowhere", "mountPath": "/x"}]},
            "trainer.extraVolumeMounts[0].name must be the name of one of the pod's volumes",
        ),
        (
            {"extraVolumes": [{"name": "x"}]},
            "trainer.extraVolumes[0] must be a mapping with a name and one volume source",
        ),
        (
            {"extraEnvFrom": [{"configMapRef": {"name": "a"}, "secretRef": {"name": "b"}}]},
            "trainer.extraEnvFrom[0] must be exactly one of configMapRef and secretRef",
        ),
    ],
)
def test_fails_bad_pass_throughs(
    role_values: dict[str, Any], needle: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert needle in refused(capsys, "-f", values_file(tmp_path, {"trainer": role_values}))


def test_fails_bad_platform_values(capsys: pytest.CaptureFixture[str]) -> None:
    assert "imagePullSecrets[0] must be a DNS-1123 subdomain" in refused(
        capsys, "--set", "imagePullSecrets[0]=Bad_Name"
    )
    assert "monitoring.podMonitor.interval must be a Prometheus duration" in refused(
        capsys, "--set", "monitoring.podMonitor.interval=soon"
    )
    assert "networkPolicy.inferenceClients[0].podSelector.matchLabel must be absent" in refused(
        capsys, "--set", "networkPolicy.inferenceClients[0].podSelector.matchLabel.app=client"
    )


# -- resources and RDMA ----------------------------------------------------------------------------------
def test_gpu_pods_are_guaranteed(capsys: pytest.CaptureFixture[str]) -> None:
    docs = synth(
        capsys,
        "--set",
        "trainer.resources.requests.memory=200Gi",
        "--set",
        "inference.resources.limits.cpu=12",
    )
    trainer = container(docs, "trainer")["resources"]
    assert trainer["requests"]["memory"] == trainer["limits"]["memory"] == "200Gi"
    assert trainer["requests"]["cpu"] == trainer["limits"]["cpu"] == "16"
    inference = container(docs, "inference")["resources"]
    assert inference["requests"]["cpu"] == inference["limits"]["cpu"] == "12"
    # Both sides given: kept as given (Burstable by choice); CPU-only pods keep request < limit.
    docs = synth(
        capsys, "--set", "trainer.resources.requests.cpu=8", "--set", "trainer.resources.limits.cpu=32"
    )
    assert container(docs, "trainer")["resources"]["requests"]["cpu"] == "8"
    orchestrator = container(docs, "orchestrator")["resources"]
    assert (orchestrator["requests"]["cpu"], orchestrator["limits"]["cpu"]) == ("1", "4")


def test_rdma_profile(capsys: pytest.CaptureFixture[str]) -> None:
    docs = synth(
        capsys, "--set", "trainer.rdma.enabled=true", "--set", "inference.extraResources.example\\.com/fpga=2"
    )
    trainer = container(docs, "trainer")
    assert trainer["resources"]["requests"]["rdma/ib"] == trainer["resources"]["limits"]["rdma/ib"] == 1
    assert trainer["securityContext"]["capabilities"] == {"add": ["IPC_LOCK"], "drop": ["ALL"]}
    assert env(docs, "trainer")["NCCL_IB_DISABLE"] == "0"
    assert container(docs, "inference")["resources"]["limits"]["example.com/fpga"] == 2
    assert "add" not in container(docs, "inference")["securityContext"]["capabilities"]
    docs = synth(
        capsys, "--set", "trainer.rdma.enabled=true", "--set", "trainer.rdma.resourceName=nvidia.com/hostdev"
    )
    assert container(docs, "trainer")["resources"]["limits"]["nvidia.com/hostdev"] == 1


# -- configs -------------------------------------------------------------------------------------------------
def test_configs_ship_in_config_maps(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    toml = tmp_path / "train.toml"
    toml.write_text('[optim]\nlr = 2e-6\n\n[model]\nname = "org/model"\n')
    args = ("-f", str(EXAMPLES / "reverse-text.yaml"), "--set-file", f"trainer.config={toml}")
    docs = synth(capsys, *args)
    config_map = get(docs, "ConfigMap", "exp-trainer-config")
    assert config_map["data"]["config.toml"] == toml.read_text()
    assert tomllib.loads(config_map["data"]["shared.toml"]) == {"max_steps": 20, "seq_len": 2048}
    assert set(get(docs, "ConfigMap", "exp-orchestrator-config")["data"]) == {"shared.toml", "config.toml"}
    assert env(docs, "trainer")["CONFIG_FILES"] == "@ /etc/prime-rl/shared.toml @ /etc/prime-rl/config.toml"
    assert {"mountPath": "/etc/prime-rl", "name": "config", "readOnly": True} in container(docs, "trainer")[
        "volumeMounts"
    ]
    assert {"configMap": {"name": "exp-trainer-config"}, "name": "config"} in pod(docs, "trainer")["spec"][
        "volumes"
    ]
    checksum = pod(docs, "trainer")["metadata"]["annotations"]["prime-rl.io/config-sha256"]
    toml.write_text("[optim]\nlr = 3e-6\n")
    changed = synth(capsys, *args)
    assert pod(changed, "trainer")["metadata"]["annotations"]["prime-rl.io/config-sha256"] != checksum
    assert (
        pod(changed, "orchestrator")["metadata"]["annotations"]
        == pod(docs, "orchestrator")["metadata"]["annotations"]
    )
    # Inference has no config: no ConfigMap, no mount, no CONFIG_FILES.
    assert "CONFIG_FILES" not in env(docs, "inference")
    assert not [d for d in docs if d["metadata"]["name"] == "exp-inference-config"]


def test_config_map_from_a_mapping_is_toml(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    values = {
        "trainer": {
            "autoStart": True,
            "config": {
                "max_norm_note": 'say "hi"',
                "optim": {"lr": 1.5e-6, "betas": [0.9, 0.95]},
                "ckpt": {"keep": 3},
            },
        }
    }
    docs = synth(capsys, "-f", values_file(tmp_path, values))
    text = get(docs, "ConfigMap", "exp-trainer-config")["data"]["config.toml"]
    assert tomllib.loads(text) == values["trainer"]["config"]
    assert container(docs, "trainer")["command"][2].endswith(" $CONFIG_FILES")


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"trainer": {"config": {"max_async_level": 2}}}, "trainer.config sets max_async_level"),
        ({"config": {"shared": "max-async-level = 2"}}, "config.shared sets max-async-level"),
        (
            {"config": {"shared": {"max_steps": 5}}, "trainer": {"config": {"max_steps": 6}}},
            "trainer.config sets max_steps, which config.shared already sets",
        ),
        ({"trainer": {"config": "lr = = 1"}}, "trainer.config must be valid TOML"),
        (
            {"trainer": {"config": {"optim": {"lr": float("nan")}}}},
            "trainer.config.optim.lr must be a finite number",
        ),
        (
            {"trainer": {"autoStart": True, "command": "trainer @ my.toml", "config": {"max_steps": 3}}},
            "trainer.config is set but trainer.command never reads it; add $CONFIG_FILES",
        ),
    ],
)
def test_fails_bad_configs(
    values: dict[str, Any], needle: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert needle in refused(capsys, "-f", values_file(tmp_path, values))


def test_fails_set_file_that_cannot_be_read(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert "--set-file trainer.config: no such file" in refused(
        capsys, "--set-file", f"trainer.config={tmp_path / 'no.toml'}"
    )
    assert "--set-file must be KEY=PATH" in refused(capsys, "--set-file", "trainer.config")
    binary = tmp_path / "bin"
    binary.write_bytes(b"\xff\xfe\x00")
    assert "not UTF-8 text" in refused(capsys, "--set-file", f"trainer.config={binary}")


# -- caches, metrics, policy, hardening ----------------------------------------------------------------
def test_model_cache_and_metrics_env(capsys: pytest.CaptureFixture[str]) -> None:
    docs = synth(capsys, "--set", "storage.mountPath=/mnt/rl")
    for role in ("orchestrator", "inference", "trainer"):
        assert env(docs, role)["HF_HOME"] == "/mnt/rl/cache/huggingface"
        assert env(docs, role)["VLLM_CACHE_ROOT"] == "/mnt/rl/cache/vllm"
    for role in ("orchestrator", "trainer"):
        assert env(docs, role)["METRICS_PORT"] == "9464"
        assert {"containerPort": 9464, "name": "metrics", "protocol": "TCP"} in container(docs, role)["ports"]
    assert "METRICS_PORT" not in env(docs, "inference")
    docs = synth(capsys, "--set", "storage.enabled=false", "--set", "orchestrator.enabled=false")
    assert "HF_HOME" not in env(docs, "inference")


def test_pod_monitor_and_network_policies(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    values = {
        "monitoring": {"podMonitor": {"enabled": True, "interval": "15s", "labels": {"release": "prom"}}},
        "networkPolicy": {
            "enabled": True,
            "allowModelHub": False,
            "inferenceClients": [{"namespaceSelector": {"matchLabels": {"team": "eval"}}}],
        },
    }
    docs = synth(capsys, "-f", values_file(tmp_path, values), "-n", "research")
    monitor = get(docs, "PodMonitor", "exp")
    validate_custom_resource(monitor)
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert [(e["port"], e["interval"]) for e in monitor["spec"]["podMetricsEndpoints"]] == [
        ("metrics", "15s"),
        ("http", "15s"),
    ]
    policy = get(docs, "NetworkPolicy", "exp")
    kubernetes_validate.validate(policy, "1.31.0", strict=True)
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == "exp"
    egress_ports = [rule.get("ports") for rule in policy["spec"]["egress"]]
    assert [{"port": 443, "protocol": "TCP"}] not in egress_ports  # no model hub
    scrape = policy["spec"]["ingress"][1]
    assert {p["port"] for p in scrape["ports"]} == {9464, 8000}
    clients = get(docs, "NetworkPolicy", "exp-inference-clients")
    kubernetes_validate.validate(clients, "1.31.0", strict=True)
    assert clients["spec"]["ingress"][0]["from"] == [{"namespaceSelector": {"matchLabels": {"team": "eval"}}}]
    assert clients["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "inference"
    docs = synth(capsys, "--set", "networkPolicy.enabled=true")
    hub = get(docs, "NetworkPolicy", "exp")["spec"]["egress"][2]
    assert hub["to"][0]["ipBlock"]["except"] == ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]


def test_hardened_security_context(capsys: pytest.CaptureFixture[str]) -> None:
    docs = synth(capsys)
    for role in ("orchestrator", "inference", "trainer"):
        assert container(docs, role)["securityContext"]["readOnlyRootFilesystem"] is True
        assert {"mountPath": "/tmp", "name": "tmp"} in container(docs, role)["volumeMounts"]
        assert env(docs, role)["HOME"] == "/tmp/home"
        assert pod(docs, role)["spec"]["securityContext"]["runAsUser"] == 10001
    docs = synth(capsys, "--set", "securityContext.readOnlyRootFilesystem=false")
    assert "readOnlyRootFilesystem" not in container(docs, "trainer")["securityContext"]
    assert "HOME" not in env(docs, "trainer")


def test_platform_props_on_the_construct(chart: cdk8s.Chart) -> None:
    experiment = PrimeRLExperiment(
        chart,
        "e",
        name="exp",
        shared_config={"max_steps": 3},
        service_account_create=True,
        network_policy_enabled=True,
        monitoring_pod_monitor_enabled=True,
        trainer=RoleProps(config="[optim]\nlr = 1e-6\n", pod_anti_affinity=TRAINER_BLOCK, rdma_enabled=True),
    )
    docs = list(cdk8s.Testing.synth(chart))
    kinds = [doc["kind"] for doc in docs]
    assert kinds[:4] == ["PersistentVolumeClaim", "ServiceAccount", "ConfigMap", "ConfigMap"]
    assert kinds[-2:] == ["NetworkPolicy", "PodMonitor"]
    assert experiment.service_account is not None and experiment.pod_monitor is not None
    assert set(experiment.config_maps) == {"orchestrator", "trainer"}
    assert len(experiment.network_policies) == 1
    assert docs == experiment.plan.manifests()


def test_fails_bad_platform_props(chart: cdk8s.Chart) -> None:
    with pytest.raises(
        PrimeRLConfigError, match=r"^trainer\.config must be TOML text or a mapping of runtime settings"
    ):
        PrimeRLExperiment(chart, "a", name="exp", trainer=RoleProps(config=3))  # type: ignore[arg-type]
    with pytest.raises(PrimeRLConfigError, match=r"^metrics_port must be"):
        PrimeRLExperiment(chart, "b", name="exp", metrics_port=0)
    with pytest.raises(PrimeRLConfigError, match=r"^service_account_name must be a DNS-1123 subdomain"):
        PrimeRLExperiment(chart, "c", name="exp", service_account_name="Runner")


@pytest.mark.parametrize(
    ("sets", "needle"),
    [
        (
            ["trainer.extraVolumes[0].name=dshm", "trainer.extraVolumes[0].emptyDir.medium=Memory"],
            "trainer.extraVolumes[0].name must be a name not used already: dshm, shared-data, tmp",
        ),
        (
            [
                "trainer.extraVolumes[0].name=c",
                "trainer.extraVolumes[0].emptyDir.medium=Memory",
                "trainer.extraVolumeMounts[0].name=c",
                "trainer.extraVolumeMounts[0].mountPath=/tmp",
            ],
            "extraVolumeMounts[0].mountPath must be a path not mounted already: /data, /dev/shm, /tmp",
        ),
        (
            ["networkPolicy.extraEgress[0].ports[0].port=70000"],
            "networkPolicy.extraEgress[0].ports[0].port must be",
        ),
        (["networkPolicy.extraEgress[0].to[0].ipBlock.cidr=notacidr"], "must be a CIDR such as 10.0.0.0/8"),
        (
            [
                "networkPolicy.extraEgress[0].ports[0].port=90",
                "networkPolicy.extraEgress[0].ports[0].endPort=80",
            ],
            "networkPolicy.extraEgress[0].ports[0].endPort must be at least port",
        ),
        (
            [
                "networkPolicy.inferenceClients[0].podSelector.matchExpressions[0].key=app",
                "networkPolicy.inferenceClients[0].podSelector.matchExpressions[0].operator=In",
            ],
            "matchExpressions[0].values must be a non-empty list with operator In",
        ),
        (
            [
                "networkPolicy.inferenceClients[0].ipBlock.cidr=10.0.0.0/8",
                "networkPolicy.inferenceClients[0].podSelector.matchLabels.app=x",
            ],
            "networkPolicy.inferenceClients[0] must be an ipBlock alone",
        ),
        (
            ["trainer.topologySpreadConstraints[0].maxSkew=1"],
            "trainer.topologySpreadConstraints[0].topologyKey must be set, got None",
        ),
        (
            ["trainer.rdma.enabled=true", "trainer.rdma.resourceName=rdma"],
            "trainer.rdma.resourceName must be an extended resource name",
        ),
        (
            ["trainer.autoStart=true", "trainer.probes.liveness.periodSeconds=5"],
            "trainer.probes.liveness.periodSeconds must be at least 10",
        ),
    ],
)
def test_fails_bad_platform_settings(
    sets: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [arg for expression in sets for arg in ("--set", expression)]
    assert needle in refused(capsys, *args)


def test_fails_configs_that_move_the_output_dir_or_the_checksum(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    values = {"trainer": {"config": {"output_dir": "/tmp/x"}}}
    assert "trainer.config sets output_dir" in refused(capsys, "-f", values_file(tmp_path, values))
    values = {"trainer": {"config": {"max_steps": 1}, "podAnnotations": {"prime-rl.io/config-sha256": "x"}}}
    assert "trainer.podAnnotations.prime-rl.io/config-sha256 must be absent" in refused(
        capsys, "-f", values_file(tmp_path, values)
    )
    assert "--set-file must be KEY=PATH with a values key" in refused(capsys, "--set-file", "a..b=/dev/null")


def test_experiment_wide_objects_carry_the_standard_labels(capsys: pytest.CaptureFixture[str]) -> None:
    docs = synth(
        capsys,
        "-f",
        str(EXAMPLES / "reverse-text.yaml"),
        "--set",
        "networkPolicy.enabled=true",
        "--set",
        "serviceAccount.create=true",
    )
    for kind in ("ConfigMap", "NetworkPolicy", "ServiceAccount"):
        for doc in (d for d in docs if d["kind"] == kind):
            labels = doc["metadata"]["labels"]
            assert labels["app.kubernetes.io/managed-by"] == "cdk8s" and labels["app"] == "prime-rl", kind
    scrape = get(docs, "NetworkPolicy", "exp")["spec"]["ingress"][1]
    # Without a PodMonitor only the metrics port opens to the scraper, not the inference API.
    assert scrape["ports"] == [{"port": 9464, "protocol": "TCP"}]
    assert get(docs, "NetworkPolicy", "exp")["spec"]["egress"][1] == {
        "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
    }


def test_fails_metrics_port_taken_by_another_port(capsys: pytest.CaptureFixture[str]) -> None:
    assert "monitoring.metricsPort must differ from trainer.service.port, got 8000 for both" in refused(
        capsys, "--set", "monitoring.metricsPort=8000"
    )
    assert "monitoring.metricsPort must differ from trainer.service.ncclPort" in refused(
        capsys, "--set", "monitoring.metricsPort=29501"
    )
