"""PrimeRLExperiment: cross-component wiring, presets, modes, isolation and every rejected input."""

from __future__ import annotations

import itertools
from typing import Any

import cdk8s
import pytest
from prime_rl_k8s import PRESETS, PrimeRLConfigError, PrimeRLExperiment, RoleProps, get_preset

_ids = itertools.count()
URL0 = "http://exp-inference-0.exp-inference-headless.ns.svc.cluster.local:8000/v1"
URL1 = "http://exp-inference-1.exp-inference-headless.ns.svc.cluster.local:8000/v1"


def build(chart: cdk8s.Chart, **props: Any) -> PrimeRLExperiment:
    return PrimeRLExperiment(chart, f"exp{next(_ids)}", **{"name": "exp", "namespace": "ns", **props})


def test_default_experiment_objects(chart, synth):
    experiment = build(chart)
    assert synth(chart).names() == [
        ("PersistentVolumeClaim", "exp-shared-data"),
        ("StatefulSet", "exp-orchestrator"),
        ("Service", "exp-orchestrator-headless"),
        ("StatefulSet", "exp-inference"),
        ("Service", "exp-inference-headless"),
        ("Service", "exp-inference"),
        ("StatefulSet", "exp-trainer"),
        ("Service", "exp-trainer-headless"),
        ("Service", "exp-trainer"),
    ]
    assert set(experiment.roles) == {"orchestrator", "inference", "trainer"}
    assert experiment.orchestrator.name == "exp-orchestrator"
    assert experiment.inference.replicas == 1
    assert experiment.trainer.gpu_count == 1
    assert experiment.volume.claim_name == "exp-shared-data"


def test_namespace_on_every_object(chart, synth):
    build(chart)
    assert {d["metadata"]["namespace"] for d in synth(chart).docs} == {"ns"}


def test_chart_namespace_flows_into_objects_and_urls(make_chart, synth):
    chart = make_chart(namespace="team-b")
    experiment = build(chart, namespace=None)
    m = synth(chart)
    assert {d["metadata"]["namespace"] for d in m.docs} == {"team-b"}
    assert (
        experiment.inference_url
        == "http://exp-inference-0.exp-inference-headless.team-b.svc.cluster.local:8000/v1"
    )
    assert (
        m.env("exp-trainer")["MASTER_ADDR"] == "exp-trainer-0.exp-trainer-headless.team-b.svc.cluster.local"
    )


def test_no_namespace_anywhere_means_default_in_urls(chart, synth):
    experiment = build(chart, namespace=None)
    assert all("namespace" not in d["metadata"] for d in synth(chart).docs)
    assert (
        experiment.inference_url
        == "http://exp-inference-0.exp-inference-headless.default.svc.cluster.local:8000/v1"
    )


def test_inference_urls_on_orchestrator_and_trainer(chart, synth):
    experiment = build(chart, inference=RoleProps(replicas=2))
    m = synth(chart)
    assert experiment.inference_urls == (URL0, URL1)
    assert experiment.inference_url == URL0
    for role in ("exp-orchestrator", "exp-trainer"):
        env = m.env(role)
        assert env["INFERENCE_URL"] == URL0
        assert env["INFERENCE_URLS"] == f"{URL0},{URL1}"
        assert env["ADMIN_INFERENCE_URLS"] == f"{URL0},{URL1}"
    assert "INFERENCE_URL" not in m.env("exp-inference")


def test_inference_port_flows_into_urls_and_services(chart, synth):
    experiment = build(chart, inference=RoleProps(port=9000))
    m = synth(chart)
    assert experiment.inference_url.endswith(":9000/v1")
    assert m.get("Service", "exp-inference")["spec"]["ports"][0]["port"] == 9000
    assert m.container("exp-inference")["ports"] == [
        {"name": "http", "containerPort": 9000, "protocol": "TCP"}
    ]


def test_external_inference_urls_replace_internal_ones(chart, synth):
    urls = ("http://vllm-a.serving:8000/v1", "https://vllm-b.example.com/v1")
    experiment = build(chart, inference=RoleProps(enabled=False), external_inference_urls=urls)
    m = synth(chart)
    assert not m.has("StatefulSet", "exp-inference")
    assert experiment.inference is None
    assert experiment.inference_urls == urls
    assert m.env("exp-orchestrator")["INFERENCE_URLS"] == ",".join(urls)
    assert m.env("exp-trainer")["INFERENCE_URL"] == urls[0]


def test_trainer_wiring(chart, synth):
    experiment = build(chart, example="wordle", trainer=RoleProps(replicas=3, nccl_port=29600))
    m = synth(chart)
    env = m.env("exp-trainer")
    assert env["TRAINER_WORLD_SIZE"] == "6"
    assert m.env("exp-orchestrator")["TRAINER_WORLD_SIZE"] == "6"
    assert experiment.trainer_world_size == 6
    assert env["MASTER_ADDR"] == "exp-trainer-0.exp-trainer-headless.ns.svc.cluster.local"
    assert env["MASTER_PORT"] == "29600"
    assert env["PYTORCH_CUDA_ALLOC_CONF"] == "expandable_segments:True"
    assert env["STATEFUL_REPLICAS"] == "3"
    assert "PYTORCH_CUDA_ALLOC_CONF" not in m.env("exp-inference")
    assert "MASTER_ADDR" not in m.env("exp-orchestrator")
    ports = m.container("exp-trainer")["ports"]
    assert ports == [
        {"name": "http", "containerPort": 8000, "protocol": "TCP"},
        {"name": "nccl", "containerPort": 29600, "protocol": "TCP"},
        {"name": "metrics", "containerPort": 9464, "protocol": "TCP"},
    ]


def test_cpu_trainer_counts_one_process_per_pod(chart, synth):
    build(chart, example="smoke", trainer=RoleProps(replicas=2))
    assert synth(chart).env("exp-trainer")["TRAINER_WORLD_SIZE"] == "2"


def test_output_dir_on_every_role_follows_mount_path(chart, synth):
    build(chart, storage_mount_path="/mnt/rl")
    m = synth(chart)
    for role in ("orchestrator", "inference", "trainer"):
        assert m.env(f"exp-{role}")["OUTPUT_DIR"] == "/mnt/rl/outputs/exp"
        mounts = {v["name"]: v["mountPath"] for v in m.container(f"exp-{role}")["volumeMounts"]}
        assert mounts["shared-data"] == "/mnt/rl"
        volumes = {v["name"]: v for v in m.pod_spec(f"exp-{role}")["volumes"]}
        assert volumes["shared-data"]["persistentVolumeClaim"]["claimName"] == "exp-shared-data"


def test_secrets_are_optional_refs(chart, synth):
    build(chart, secret_name="rl-credentials")
    m = synth(chart)
    for role in ("orchestrator", "inference", "trainer"):
        env = m.env(f"exp-{role}")
        assert env["WANDB_API_KEY"] == {
            "secretKeyRef": {"name": "rl-credentials", "key": "wandb-api-key", "optional": True}
        }
        assert env["HF_TOKEN"] == {
            "secretKeyRef": {"name": "rl-credentials", "key": "hf-token", "optional": True}
        }


def test_no_secret_refs_without_secret_name(chart, synth):
    build(chart)
    env = synth(chart).env("exp-trainer")
    assert "WANDB_API_KEY" not in env
    assert "HF_TOKEN" not in env


def test_user_env_comes_last_and_can_override_wiring(chart, synth):
    build(chart, trainer=RoleProps(env={"NCCL_DEBUG": "INFO", "OUTPUT_DIR": "/scratch/out"}))
    env = synth(chart).env("exp-trainer")
    assert env["NCCL_DEBUG"] == "INFO"
    assert env["OUTPUT_DIR"] == "/scratch/out"
    assert list(env)[-1] == "NCCL_DEBUG"


@pytest.mark.parametrize(
    ("example", "directory", "gpus"),
    [("reverse-text", "reverse_text", 1), ("wordle", "wordle", 2), ("alphabet-sort", "alphabet_sort", 1)],
)
def test_gpu_presets_commands_and_gpus(chart, synth, example, directory, gpus):
    build(chart, example=example)
    m = synth(chart)
    assert m.container("exp-orchestrator")["command"] == [
        "bash",
        "-c",
        f"orchestrator @ /app/examples/{directory}/configs/orch.toml",
    ]
    assert (
        m.container("exp-inference")["command"][2]
        == f"inference @ /app/examples/{directory}/configs/infer.toml"
    )
    trainer_command = m.container("exp-trainer")["command"][2]
    if gpus == 1:
        assert trainer_command == f"trainer @ /app/examples/{directory}/configs/train.toml"
    else:
        assert trainer_command == (
            "torchrun --nnodes=$STATEFUL_REPLICAS --node-rank=$POD_INDEX --nproc-per-node=2 "
            "--master-addr=$MASTER_ADDR --master-port=$MASTER_PORT -m prime_rl.trainer.rl.train "
            f"@ /app/examples/{directory}/configs/train.toml"
        )
    for role in ("inference", "trainer"):
        resources = m.container(f"exp-{role}")["resources"]
        assert resources["requests"]["nvidia.com/gpu"] == gpus
        assert resources["limits"]["nvidia.com/gpu"] == gpus
        assert m.pod_spec(f"exp-{role}")["runtimeClassName"] == "nvidia"
    orchestrator = m.container("exp-orchestrator")["resources"]
    assert "nvidia.com/gpu" not in orchestrator["requests"]
    assert "runtimeClassName" not in m.pod_spec("exp-orchestrator")
    assert m.get("StatefulSet", "exp-trainer")["spec"]["template"]["metadata"]["labels"]["example"] == example


def test_preset_models_and_lora():
    assert PRESETS["reverse-text"].model == "Qwen/Qwen3-0.6B"
    assert PRESETS["wordle"].model == "Qwen/Qwen3-1.7B"
    assert PRESETS["alphabet-sort"].model == "Qwen/Qwen3-4B-Instruct-2507"
    assert PRESETS["alphabet-sort"].lora is True
    assert not PRESETS["reverse-text"].lora
    assert get_preset("wordle").gpus == {"inference": 2, "trainer": 2}


def test_multi_node_trainer_uses_torchrun_even_with_one_gpu(chart, synth):
    build(chart, trainer=RoleProps(replicas=4))
    command = synth(chart).container("exp-trainer")["command"][2]
    assert command.startswith(
        "torchrun --nnodes=$STATEFUL_REPLICAS --node-rank=$POD_INDEX --nproc-per-node=1 "
    )


def test_smoke_preset_is_cpu_only_and_builds_the_tiny_model(chart, synth):
    build(chart, example="smoke")
    m = synth(chart)
    for role, stem in (("orchestrator", "orch"), ("inference", "infer"), ("trainer", "train")):
        assert m.container(f"exp-{role}")["command"] == [
            "bash",
            "-c",
            f"prime-rl-tiny-model /data/models/tiny && exec {role} @ /app/examples/smoke/{stem}.toml",
        ]
        spec = m.pod_spec(f"exp-{role}")
        assert "runtimeClassName" not in spec
        assert "tolerations" not in spec
        assert "nvidia.com/gpu" not in str(spec)
        assert all(v["name"] != "dshm" for v in spec["volumes"])


def test_interactive_mode_sleeps_and_skips_readiness(chart, synth):
    build(
        chart, inference=RoleProps(auto_start=False), trainer=RoleProps(auto_start=False, command="ignored")
    )
    m = synth(chart)
    assert m.container("exp-inference")["command"] == ["sleep", "infinity"]
    assert m.container("exp-trainer")["command"] == ["sleep", "infinity"]
    assert "readinessProbe" not in m.container("exp-inference")


def test_auto_start_never_appends_sleep(chart, synth):
    build(chart)
    m = synth(chart)
    for role in ("orchestrator", "inference", "trainer"):
        assert "sleep" not in " ".join(m.container(f"exp-{role}")["command"])
    assert m.container("exp-inference")["readinessProbe"]["httpGet"] == {"path": "/health", "port": "http"}


def test_custom_command_is_verbatim(chart, synth):
    script = "trainer @ /cfg/train.toml --wandb.name 'run #7' --note 'lr: 1e-5'  # tuned"
    build(
        chart,
        trainer=RoleProps(command=script),
        orchestrator=RoleProps(command=["orchestrator", "--x", "a: b"]),
    )
    m = synth(chart)
    assert m.container("exp-trainer")["command"] == ["bash", "-c", script]
    assert m.container("exp-orchestrator")["command"] == ["orchestrator", "--x", "a: b"]


def test_disabled_roles_render_nothing(chart, synth):
    experiment = build(chart, orchestrator=RoleProps(enabled=False), trainer=RoleProps(enabled=False))
    m = synth(chart)
    assert [name for kind, name in m.names() if kind == "StatefulSet"] == ["exp-inference"]
    assert experiment.orchestrator is None
    assert experiment.trainer is None
    assert experiment.trainer_world_size is None


def test_inference_only_with_eight_gpus(chart, synth):
    build(
        chart,
        orchestrator=RoleProps(enabled=False),
        trainer=RoleProps(enabled=False),
        inference=RoleProps(gpu_count=8, replicas=2),
    )
    m = synth(chart)
    assert m.container("exp-inference")["resources"]["limits"]["nvidia.com/gpu"] == 8
    assert m.get("StatefulSet", "exp-inference")["spec"]["replicas"] == 2


def test_role_overrides(chart, synth):
    build(
        chart,
        trainer=RoleProps(
            cpu_request="32",
            memory_request="256Gi",
            cpu_limit="64",
            memory_limit="512Gi",
            gpu_count=8,
            runtime_class_name="nvidia-cdi",
            shm_size_gib=64,
            node_selector={"node.kubernetes.io/instance-type": "p5.48xlarge"},
            tolerations=[{"key": "dedicated", "operator": "Equal", "value": "rl", "effect": "NoSchedule"}],
            pod_anti_affinity="required",
            service_type="NodePort",
        ),
    )
    m = synth(chart)
    c = m.container("exp-trainer")
    assert c["resources"]["requests"] == {"cpu": "32", "memory": "256Gi", "nvidia.com/gpu": 8}
    assert c["resources"]["limits"] == {"cpu": "64", "memory": "512Gi", "nvidia.com/gpu": 8}
    spec = m.pod_spec("exp-trainer")
    assert spec["runtimeClassName"] == "nvidia-cdi"
    assert {v["name"]: v for v in spec["volumes"]}["dshm"]["emptyDir"]["sizeLimit"] == "64Gi"
    assert spec["nodeSelector"] == {"node.kubernetes.io/instance-type": "p5.48xlarge"}
    assert [t["key"] for t in spec["tolerations"]] == ["nvidia.com/gpu", "dedicated"]
    required = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert required[0]["topologyKey"] == "kubernetes.io/hostname"
    assert m.get("Service", "exp-trainer")["spec"]["type"] == "NodePort"


def test_service_can_be_disabled(chart, synth):
    build(chart, inference=RoleProps(service_enabled=False))
    m = synth(chart)
    assert not m.has("Service", "exp-inference")
    assert m.has("Service", "exp-inference-headless")


def test_labels_and_selectors_follow_the_contract(chart, synth):
    build(chart, example="wordle", labels={"team": "post-training"})
    m = synth(chart)
    sts = m.get("StatefulSet", "exp-inference")
    assert sts["spec"]["template"]["metadata"]["labels"] == {
        "app.kubernetes.io/name": "prime-rl",
        "app.kubernetes.io/instance": "exp",
        "app.kubernetes.io/component": "inference",
        "app.kubernetes.io/managed-by": "cdk8s",
        "app": "prime-rl",
        "role": "inference",
        "example": "wordle",
        "team": "post-training",
    }
    assert sts["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "prime-rl",
        "app.kubernetes.io/instance": "exp",
        "app.kubernetes.io/component": "inference",
    }
    assert m.get("PersistentVolumeClaim", "exp-shared-data")["metadata"]["labels"]["example"] == "wordle"


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def test_two_experiments_in_one_namespace_select_none_of_each_others_pods(chart, synth):
    build(chart, name="exp-a")
    build(chart, name="exp-b", example="wordle")
    m = synth(chart)
    pods = {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"]
        for d in m.docs
        if d["kind"] == "StatefulSet"
    }
    selectors = [
        (
            d["metadata"]["name"],
            d["spec"]["selector"]["matchLabels"] if d["kind"] == "StatefulSet" else d["spec"]["selector"],
        )
        for d in m.docs
        if d["kind"] in ("StatefulSet", "Service")
    ]
    anti = [
        (d["metadata"]["name"], d["spec"]["template"]["spec"].get("affinity"))
        for d in m.docs
        if d["kind"] == "StatefulSet"
    ]
    assert len(pods) == 6 and len(selectors) == 16
    for owner, selector in selectors:
        experiment = owner[:5]
        selected = {pod for pod, labels in pods.items() if _selects(selector, labels)}
        assert selected, owner
        assert all(pod.startswith(experiment + "-") for pod in selected), (owner, selected)
        assert len(selected) == 1, (owner, selected)
    assert all(affinity is None for _, affinity in anti)


def test_storage_disabled_mounts_nothing(chart, synth):
    experiment = build(
        chart, storage_enabled=False, orchestrator=RoleProps(enabled=False), trainer=RoleProps(enabled=False)
    )
    m = synth(chart)
    assert not any(kind == "PersistentVolumeClaim" for kind, _ in m.names())
    assert experiment.volume is None
    mounts = [v["name"] for v in m.container("exp-inference")["volumeMounts"]]
    assert mounts == ["dshm", "tmp"]
    assert m.env("exp-inference")["OUTPUT_DIR"] == "/data/outputs/exp"


def test_existing_claim_and_retain(chart, synth):
    build(chart, storage_existing_claim_name="shared-rwx")
    m = synth(chart)
    assert not any(kind == "PersistentVolumeClaim" for kind, _ in m.names())
    volumes = {v["name"]: v for v in m.pod_spec("exp-trainer")["volumes"]}
    assert volumes["shared-data"]["persistentVolumeClaim"]["claimName"] == "shared-rwx"


def test_storage_props_reach_the_claim(chart, synth):
    build(
        chart,
        storage_class_name="cephfs",
        storage_size="200Gi",
        storage_access_modes=("ReadWriteOnce",),
        storage_retain_on_delete=True,
    )
    claim = synth(chart).get("PersistentVolumeClaim", "exp-shared-data")
    assert claim["spec"]["storageClassName"] == "cephfs"
    assert claim["spec"]["resources"]["requests"]["storage"] == "200Gi"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_image_props(chart, synth):
    build(chart, image_repository="ghcr.io/team/prime-rl", image_tag="v0.3.1", image_pull_policy="Always")
    digest = "sha256:" + "a" * 64
    build(chart, name="pinned", image_tag=digest)
    m = synth(chart)
    assert m.container("exp-trainer")["image"] == "ghcr.io/team/prime-rl:v0.3.1"
    assert m.container("exp-trainer")["imagePullPolicy"] == "Always"
    assert m.container("pinned-trainer")["image"] == f"ghcr.io/prime-rl-k8s/prime-rl-k8s@{digest}"


def _pod_security(m: Any, statefulset: str) -> tuple[Any, Any]:
    context = m.pod_spec(statefulset)["securityContext"]
    return context.get("runAsUser"), context.get("runAsNonRoot")


def test_run_as_user_reaches_every_role(chart, synth):
    build(chart)
    build(chart, name="uid", run_as_user=4242)
    build(chart, name="root", run_as_user=0)
    build(chart, name="image", run_as_user=None)
    m = synth(chart)
    for role in ("orchestrator", "inference", "trainer"):
        assert _pod_security(m, f"exp-{role}") == (10001, True)
        assert _pod_security(m, f"uid-{role}") == (4242, True)
        assert _pod_security(m, f"root-{role}") == (0, None)
        assert _pod_security(m, f"image-{role}") == (None, None)


def test_longest_allowed_name(chart, synth):
    name = "e" * 39
    build(chart, name=name)
    names = synth(chart).names()
    assert max(len(n) for kind, n in names if kind == "StatefulSet") == 52
    assert max(len(n) for _, n in names) == 61


# ---- rejected input -------------------------------------------------------------------------------


def _fails(chart: cdk8s.Chart, message: str, **props: Any) -> None:
    with pytest.raises(PrimeRLConfigError) as err:
        build(chart, **props)
    assert str(err.value) == message


def test_fails_negative_replicas(chart):
    _fails(chart, "trainer.replicas must be at least 0, got -1", trainer=RoleProps(replicas=-1))


def test_fails_non_integer_replicas(chart):
    _fails(
        chart,
        "inference.replicas must be an integer of at least 0, got 1.5",
        inference=RoleProps(replicas=1.5),
    )


def test_fails_orchestrator_replicas_other_than_one(chart):
    _fails(
        chart,
        "orchestrator.replicas must be 1 while the orchestrator is enabled, got 2",
        orchestrator=RoleProps(replicas=2),
    )


def test_fails_bad_gpu_count(chart):
    _fails(chart, "inference.gpu_count must be at least 0, got -1", inference=RoleProps(gpu_count=-1))
    _fails(
        chart, "trainer.gpu_count must be an integer of at least 0, got '2'", trainer=RoleProps(gpu_count="2")
    )


def test_fails_bad_quantity_names_role_prop(chart):
    _fails(
        chart,
        "trainer.cpu_request must be a non-negative Kubernetes quantity such as 500m, 4, "
        "16Gi or 1Ti, got 'lots'",
        trainer=RoleProps(cpu_request="lots"),
    )
    _fails(
        chart,
        "inference.memory_limit must be a non-negative Kubernetes quantity such as 500m, 4, "
        "16Gi or 1Ti, got '4GB'",
        inference=RoleProps(memory_limit="4GB"),
    )


@pytest.mark.parametrize("port", [0, 65536, "80"])
def test_fails_bad_port(chart, port):
    _fails(
        chart,
        f"inference.port must be an integer port between 1 and 65535, got {port!r}",
        inference=RoleProps(port=port),
    )


def test_fails_bad_nccl_port(chart):
    _fails(
        chart,
        "trainer.nccl_port must be an integer port between 1 and 65535, got 70000",
        trainer=RoleProps(nccl_port=70000),
    )
    _fails(
        chart,
        "trainer.nccl_port must be different from trainer.port, got 8000",
        trainer=RoleProps(nccl_port=8000),
    )
    _fails(
        chart,
        "orchestrator.nccl_port must be different from orchestrator.port, got 8000",
        orchestrator=RoleProps(port=8000, nccl_port=8000),
    )


def test_nccl_port_on_other_roles_is_an_extra_port(chart, synth):
    build(chart, orchestrator=RoleProps(port=8000, nccl_port=29501))
    m = synth(chart)
    ports = m.container("exp-orchestrator")["ports"]
    assert [(p["name"], p["containerPort"]) for p in ports] == [
        ("http", 8000),
        ("nccl", 29501),
        ("metrics", 9464),
    ]
    assert [p["name"] for p in m.get("Service", "exp-orchestrator")["spec"]["ports"]] == [
        "http",
        "nccl",
        "metrics",
    ]
    assert "MASTER_PORT" not in m.env("exp-orchestrator")
    assert [p["name"] for p in m.container("exp-inference")["ports"]] == ["http"]


@pytest.mark.parametrize("role", ["orchestrator", "trainer"])
def test_fails_role_needing_inference_when_inference_disabled(chart, role):
    other = "trainer" if role == "orchestrator" else "orchestrator"
    _fails(
        chart,
        f"{role}.enabled is true but inference is disabled and external_inference_urls is empty; "
        f"enable inference with at least 1 replica, give external inference URLs, or disable {role}",
        inference=RoleProps(enabled=False),
        **{other: RoleProps(enabled=False)},
    )


def test_fails_inference_with_zero_replicas(chart):
    with pytest.raises(
        PrimeRLConfigError, match=r"^orchestrator\.enabled is true but inference has no replicas"
    ):
        build(chart, inference=RoleProps(replicas=0))


def test_fails_storage_disabled_with_orchestrator_and_trainer(chart):
    _fails(
        chart,
        "storage_enabled must be true while orchestrator and trainer are enabled, got False; they exchange "
        "rollouts and weights through the shared volume",
        storage_enabled=False,
    )


@pytest.mark.parametrize("name", ["My_Exp", "1exp", "exp-", "", "exp.one"])
def test_fails_name_not_a_dns_label(chart, name):
    _fails(
        chart,
        "name must be a DNS-1035 label (at most 63 lowercase letters, digits or '-', starting with a "
        f"letter and ending with a letter or digit), got {name!r}",
        name=name,
    )


def test_fails_name_making_generated_name_too_long(chart):
    name = "e" * 40
    _fails(
        chart,
        f"name {name!r} is too long: the generated StatefulSet name '{name}-orchestrator' has 53 characters, "
        "at most 52 are allowed (use at most 39 characters)",
        name=name,
    )


@pytest.mark.parametrize("namespace", ["Team_A", "ns.with.dots", "-x"])
def test_fails_bad_namespace(chart, namespace):
    with pytest.raises(
        PrimeRLConfigError, match=rf"^namespace must be a DNS-1123 label .*, got {namespace!r}$"
    ):
        build(chart, namespace=namespace)


def test_fails_bad_secret_name(chart):
    with pytest.raises(PrimeRLConfigError, match=r"^secret_name must be a DNS-1123 subdomain .*'My Secret'$"):
        build(chart, secret_name="My Secret")


def test_fails_unknown_example(chart):
    _fails(
        chart,
        "example must be one of alphabet-sort, reverse-text, smoke, wordle, got 'chess'",
        example="chess",
    )


def test_fails_bad_label_value(chart):
    with pytest.raises(PrimeRLConfigError, match=r"^labels\.team must be a label value .*, got 'a/b'$"):
        build(chart, labels={"team": "a/b"})


def test_fails_bad_env_name(chart):
    with pytest.raises(PrimeRLConfigError, match=r"^trainer\.env\.1BAD must be an environment variable name"):
        build(chart, trainer=RoleProps(env={"1BAD": "x"}))


@pytest.mark.parametrize(
    "urls", [("vllm:8000/v1",), ("ftp://host/v1",), "http://one-string/v1", ("http://a b/v1",)]
)
def test_fails_bad_external_urls(chart, urls):
    with pytest.raises(PrimeRLConfigError, match=r"^external_inference_urls must be a.* http\(s\) base URL"):
        build(chart, external_inference_urls=urls)


def test_fails_bad_image(chart):
    with pytest.raises(
        PrimeRLConfigError, match=r"^image_repository must be an image repository .*'Team/Img'$"
    ):
        build(chart, image_repository="Team/Img")
    with pytest.raises(PrimeRLConfigError, match=r"^image_tag must be an image tag .*, got 'v1 beta'$"):
        build(chart, image_tag="v1 beta")
    with pytest.raises(
        PrimeRLConfigError, match=r"^image_pull_policy must be one of Always, IfNotPresent, Never"
    ):
        build(chart, image_pull_policy="sometimes")


def test_fails_role_props_of_wrong_type(chart):
    with pytest.raises(
        PrimeRLConfigError, match=r"^trainer must be a RoleProps or None, got \{'replicas': 2\}$"
    ):
        build(chart, trainer={"replicas": 2})


def test_fails_auto_start_not_bool(chart):
    _fails(chart, "trainer.auto_start must be true or false, got 'yes'", trainer=RoleProps(auto_start="yes"))


@pytest.mark.parametrize("uid", [-1, 2**31, 1.5, "0", False])
def test_fails_bad_run_as_user_names_prop(chart, uid):
    allowed = "an integer user id from 0 to 2147483647, or None for the image's user"
    _fails(chart, f"run_as_user must be {allowed}, got {uid!r}", run_as_user=uid)


def test_fails_bad_anti_affinity_names_role_prop(chart):
    _fails(
        chart,
        "trainer.pod_anti_affinity must be required, preferred or a Kubernetes PodAntiAffinity mapping, "
        "got 'always'",
        trainer=RoleProps(pod_anti_affinity="always"),
    )


def test_fails_storage_values(chart):
    with pytest.raises(PrimeRLConfigError, match=r"^storage_size must be .*, got '4GB'$"):
        build(chart, storage_size="4GB")
    with pytest.raises(PrimeRLConfigError, match=r"^storage_mount_path must be an absolute path"):
        build(chart, storage_mount_path="data")


def test_fails_env_not_a_mapping(chart):
    _fails(
        chart,
        "trainer.env must be a mapping of variable names to values, got ['A=1']",
        trainer=RoleProps(env=["A=1"]),
    )


def test_fails_bad_mount_path_without_storage(chart):
    with pytest.raises(PrimeRLConfigError, match=r"^storage_mount_path must be an absolute path .*'out'$"):
        build(
            chart,
            storage_enabled=False,
            storage_mount_path="out",
            orchestrator=RoleProps(enabled=False),
            trainer=RoleProps(enabled=False),
        )
