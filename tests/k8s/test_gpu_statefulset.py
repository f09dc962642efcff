"""GpuStatefulSet: every pod-spec feature asserted on the synthesized manifest, and every rejection."""

from __future__ import annotations

import itertools
from typing import Any

import cdk8s
import pytest
import yaml
from prime_rl_k8s import GpuStatefulSet, PrimeRLConfigError, SecretKeyRef, SharedDataVolume

_ids = itertools.count()


def build(chart: cdk8s.Chart, **props: Any) -> GpuStatefulSet:
    base: dict[str, Any] = {"instance": "exp", "component": "trainer", "image": "img:1", "namespace": "ns"}
    return GpuStatefulSet(chart, f"sts{next(_ids)}", **{**base, **props})


def test_gpu_requests_equal_limits_and_survive_synthesis(chart, synth):
    build(chart, gpu_count=8)
    m = synth(chart)
    resources = m.container("exp-trainer")["resources"]
    assert resources["requests"]["nvidia.com/gpu"] == 8
    assert resources["limits"]["nvidia.com/gpu"] == 8
    text = yaml.safe_dump_all(m.docs)
    assert text.count("nvidia.com/gpu: 8") == 2


def test_cpu_pod_has_no_gpu_runtime_shm_or_toleration(chart, synth):
    build(chart, gpu_count=0)
    spec = synth(chart).pod_spec("exp-trainer")
    assert "runtimeClassName" not in spec
    assert "tolerations" not in spec
    assert "volumes" not in spec
    assert "resources" not in spec["containers"][0] or "nvidia.com/gpu" not in str(spec["containers"][0])


def test_cpu_and_memory_requests_and_limits(chart, synth):
    build(chart, cpu_request="500m", memory_request="16Gi", cpu_limit=4, memory_limit="32Gi", gpu_count=1)
    resources = synth(chart).container("exp-trainer")["resources"]
    assert resources["requests"] == {"cpu": "500m", "memory": "16Gi", "nvidia.com/gpu": 1}
    assert resources["limits"] == {"cpu": "4", "memory": "32Gi", "nvidia.com/gpu": 1}


def test_runtime_class_defaults_to_nvidia_for_gpu_pods(chart, synth):
    build(chart, gpu_count=1)
    assert synth(chart).pod_spec("exp-trainer")["runtimeClassName"] == "nvidia"


def test_runtime_class_override_and_opt_out(chart, synth):
    build(chart, gpu_count=1, runtime_class_name="nvidia-cdi")
    build(chart, component="inference", gpu_count=1, runtime_class_name="")
    m = synth(chart)
    assert m.pod_spec("exp-trainer")["runtimeClassName"] == "nvidia-cdi"
    assert "runtimeClassName" not in m.pod_spec("exp-inference")


def test_runtime_class_on_cpu_pod_when_asked(chart, synth):
    build(chart, runtime_class_name="gvisor")
    assert synth(chart).pod_spec("exp-trainer")["runtimeClassName"] == "gvisor"


def test_gpu_pod_gets_memory_backed_dev_shm(chart, synth):
    build(chart, gpu_count=1)
    m = synth(chart)
    volumes = {v["name"]: v for v in m.pod_spec("exp-trainer")["volumes"]}
    assert volumes["dshm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "16Gi"}
    mounts = {v["name"]: v["mountPath"] for v in m.container("exp-trainer")["volumeMounts"]}
    assert mounts["dshm"] == "/dev/shm"


@pytest.mark.parametrize(("gib", "size"), [(64, "64Gi"), (0.5, "512Mi"), (1.25, "1280Mi")])
def test_shm_size_is_configurable(chart, synth, gib, size):
    build(chart, gpu_count=1, shm_size_gib=gib)
    volumes = {v["name"]: v for v in synth(chart).pod_spec("exp-trainer")["volumes"]}
    assert volumes["dshm"]["emptyDir"]["sizeLimit"] == size


def test_shm_can_be_disabled_and_enabled_on_cpu_pods(chart, synth):
    build(chart, gpu_count=1, shm_size_gib=0)
    build(chart, component="inference", gpu_count=0, shm_size_gib=2)
    m = synth(chart)
    assert "volumes" not in m.pod_spec("exp-trainer")
    assert m.pod_spec("exp-inference")["volumes"][0]["emptyDir"]["sizeLimit"] == "2Gi"


def test_gpu_taint_tolerated_by_default_and_user_tolerations_added(chart, synth):
    user = {"key": "dedicated", "operator": "Equal", "value": "rl", "effect": "NoSchedule"}
    build(chart, gpu_count=1, tolerations=[user, {"operator": "Exists", "effect": "NoExecute"}])
    assert synth(chart).pod_spec("exp-trainer")["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        user,
        {"operator": "Exists", "effect": "NoExecute"},
    ]


def test_user_copy_of_gpu_toleration_is_not_duplicated(chart, synth):
    build(
        chart,
        gpu_count=1,
        tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    )
    assert len(synth(chart).pod_spec("exp-trainer")["tolerations"]) == 1


def test_toleration_seconds_with_no_execute(chart, synth):
    toleration = {"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}
    build(chart, tolerations=[toleration])
    assert synth(chart).pod_spec("exp-trainer")["tolerations"] == [toleration]


def test_node_selector(chart, synth):
    build(chart, node_selector={"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"})
    spec = synth(chart).pod_spec("exp-trainer")
    assert spec["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}


def test_required_anti_affinity_selects_same_instance_and_component(chart, synth):
    build(chart, pod_anti_affinity="required")
    anti = synth(chart).pod_spec("exp-trainer")["affinity"]["podAntiAffinity"]
    assert anti == {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {
                "labelSelector": {
                    "matchLabels": {
                        "app.kubernetes.io/name": "prime-rl",
                        "app.kubernetes.io/instance": "exp",
                        "app.kubernetes.io/component": "trainer",
                    }
                },
                "topologyKey": "kubernetes.io/hostname",
            }
        ]
    }


def test_preferred_anti_affinity_on_custom_topology_key(chart, synth):
    build(chart, pod_anti_affinity="preferred", anti_affinity_topology_key="topology.kubernetes.io/zone")
    anti = synth(chart).pod_spec("exp-trainer")["affinity"]["podAntiAffinity"]
    (term,) = anti["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["weight"] == 100
    assert term["podAffinityTerm"]["topologyKey"] == "topology.kubernetes.io/zone"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"]["app.kubernetes.io/instance"] == "exp"
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in anti


def test_no_affinity_by_default(chart, synth):
    build(chart)
    assert "affinity" not in synth(chart).pod_spec("exp-trainer")


def test_downward_api_and_contract_env(chart, synth):
    build(chart, replicas=3)
    env = synth(chart).env("exp-trainer")
    assert env["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["POD_IP"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    assert env["POD_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["POD_INDEX"] == {"fieldRef": {"fieldPath": "metadata.labels['apps.kubernetes.io/pod-index']"}}
    assert env["ROLE"] == "trainer"
    assert env["STATEFUL_REPLICAS"] == "3"
    assert env["HEADLESS_SERVICE"] == "exp-trainer-headless.ns.svc.cluster.local"


def test_extra_env_literals_secrets_and_overrides(chart, synth):
    build(
        chart,
        env={
            "NCCL_DEBUG": "INFO",
            "WORKERS": 4,
            "VERBOSE": True,
            "TOKEN": SecretKeyRef("creds", "token"),
            "MAYBE": SecretKeyRef("creds", "maybe", optional=True),
            "ROLE": "custom",
        },
    )
    env = synth(chart).env("exp-trainer")
    assert env["NCCL_DEBUG"] == "INFO"
    assert env["WORKERS"] == "4"
    assert env["VERBOSE"] == "true"
    assert env["TOKEN"] == {"secretKeyRef": {"name": "creds", "key": "token"}}
    assert env["MAYBE"] == {"secretKeyRef": {"name": "creds", "key": "maybe", "optional": True}}
    assert env["ROLE"] == "custom"
    assert list(env).count("ROLE") == 1
    assert list(env)[:4] == ["POD_NAME", "POD_IP", "POD_NAMESPACE", "POD_INDEX"]


def test_command_argv_list_is_kept(chart, synth):
    build(chart, command=["python", "-m", "x", "--flag=a b"])
    assert synth(chart).container("exp-trainer")["command"] == ["python", "-m", "x", "--flag=a b"]


def test_shell_command_is_passed_verbatim_to_bash(chart, synth):
    script = "trainer @ a.toml --tag 'run #3' --note 'key: value' && echo done # trailing comment"
    build(chart, command=script)
    m = synth(chart)
    assert m.container("exp-trainer")["command"] == ["bash", "-c", script]
    reparsed = yaml.safe_load(yaml.safe_dump(m.get("StatefulSet", "exp-trainer")))
    assert reparsed["spec"]["template"]["spec"]["containers"][0]["command"][2] == script


def test_no_command_uses_image_entrypoint(chart, synth):
    build(chart)
    assert "command" not in synth(chart).container("exp-trainer")


def test_image_and_pull_policy(chart, synth):
    build(chart, image="registry.local:5000/team/prime-rl:v1", image_pull_policy="Always")
    c = synth(chart).container("exp-trainer")
    assert c["image"] == "registry.local:5000/team/prime-rl:v1"
    assert c["imagePullPolicy"] == "Always"
    assert c["name"] == "trainer"


def test_default_pull_policy_is_if_not_present(chart, synth):
    build(chart)
    assert synth(chart).container("exp-trainer")["imagePullPolicy"] == "IfNotPresent"


def test_statefulset_headless_and_service(chart, synth):
    sts = build(chart, replicas=2, ports={"http": 8000, "nccl": 29501}, service_enabled=True)
    m = synth(chart)
    assert m.names() == [
        ("StatefulSet", "exp-trainer"),
        ("Service", "exp-trainer-headless"),
        ("Service", "exp-trainer"),
    ]
    spec = m.get("StatefulSet", "exp-trainer")["spec"]
    assert spec["serviceName"] == "exp-trainer-headless"
    assert spec["podManagementPolicy"] == "Parallel"
    assert spec["replicas"] == 2
    headless = m.get("Service", "exp-trainer-headless")["spec"]
    assert headless["clusterIP"] == "None"
    assert headless["publishNotReadyAddresses"] is True
    service = m.get("Service", "exp-trainer")["spec"]
    assert service["type"] == "ClusterIP"
    assert service["ports"] == [
        {"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"},
        {"name": "nccl", "port": 29501, "targetPort": "nccl", "protocol": "TCP"},
    ]
    assert m.container("exp-trainer")["ports"] == [
        {"name": "http", "containerPort": 8000, "protocol": "TCP"},
        {"name": "nccl", "containerPort": 29501, "protocol": "TCP"},
    ]
    assert sts.service_fqdn == "exp-trainer.ns.svc.cluster.local"


def test_service_type_load_balancer(chart, synth):
    build(chart, ports={"http": 8000}, service_enabled=True, service_type="LoadBalancer")
    assert synth(chart).get("Service", "exp-trainer")["spec"]["type"] == "LoadBalancer"


def test_no_service_by_default(chart, synth):
    sts = build(chart, ports={"http": 8000})
    assert not synth(chart).has("Service", "exp-trainer")
    assert sts.service_fqdn is None


def test_computed_names(chart):
    sts = build(chart, replicas=2)
    assert sts.name == "exp-trainer"
    assert sts.headless_service_name == "exp-trainer-headless"
    assert sts.headless_service_fqdn == "exp-trainer-headless.ns.svc.cluster.local"
    assert sts.pod_name(1) == "exp-trainer-1"
    assert sts.pod_fqdn(0) == "exp-trainer-0.exp-trainer-headless.ns.svc.cluster.local"


def test_pod_index_outside_replicas_is_an_index_error(chart):
    sts = build(chart, replicas=2)
    with pytest.raises(IndexError, match=r"pod index 2 is outside 0..1 of exp-trainer"):
        sts.pod_fqdn(2)


def test_explicit_name_and_cluster_domain(chart, synth):
    sts = build(chart, name="rl-trainers", cluster_domain="corp.internal")
    assert synth(chart).has("StatefulSet", "rl-trainers")
    assert sts.pod_fqdn(0) == "rl-trainers-0.rl-trainers-headless.ns.svc.corp.internal"


def test_namespace_on_every_object(chart, synth):
    build(chart, ports={"http": 8000}, service_enabled=True)
    assert {d["metadata"]["namespace"] for d in synth(chart).docs} == {"ns"}


def test_no_namespace_omits_metadata_and_uses_default_in_fqdns(chart, synth):
    sts = build(chart, namespace=None)
    assert all("namespace" not in d["metadata"] for d in synth(chart).docs)
    assert sts.headless_service_fqdn == "exp-trainer-headless.default.svc.cluster.local"
    assert synth(chart).env("exp-trainer")["HEADLESS_SERVICE"] == sts.headless_service_fqdn


def test_chart_namespace_is_used_when_none_given(make_chart, synth):
    chart = make_chart(namespace="team-a")
    sts = build(chart, namespace=None)
    assert {d["metadata"]["namespace"] for d in synth(chart).docs} == {"team-a"}
    assert sts.pod_fqdn(0) == "exp-trainer-0.exp-trainer-headless.team-a.svc.cluster.local"


def test_labels_and_selectors(chart, synth):
    build(chart, labels={"team": "rl"}, ports={"http": 8000}, service_enabled=True)
    m = synth(chart)
    selector = {
        "app.kubernetes.io/name": "prime-rl",
        "app.kubernetes.io/instance": "exp",
        "app.kubernetes.io/component": "trainer",
    }
    labels = {
        **selector,
        "app.kubernetes.io/managed-by": "cdk8s",
        "app": "prime-rl",
        "role": "trainer",
        "team": "rl",
    }
    sts = m.get("StatefulSet", "exp-trainer")
    assert sts["spec"]["selector"] == {"matchLabels": selector}
    assert sts["spec"]["template"]["metadata"]["labels"] == labels
    assert sts["metadata"]["labels"] == labels
    assert m.get("Service", "exp-trainer")["spec"]["selector"] == selector
    assert m.get("Service", "exp-trainer-headless")["spec"]["selector"] == selector


def test_shared_data_is_mounted(chart, synth):
    volume = SharedDataVolume(chart, "data", experiment="exp", namespace="ns", mount_path="/mnt/shared")
    build(chart, shared_data=volume, gpu_count=1)
    m = synth(chart)
    volumes = {v["name"]: v for v in m.pod_spec("exp-trainer")["volumes"]}
    assert volumes["shared-data"]["persistentVolumeClaim"] == {"claimName": "exp-shared-data"}
    mounts = {v["name"]: v["mountPath"] for v in m.container("exp-trainer")["volumeMounts"]}
    assert mounts == {"shared-data": "/mnt/shared", "dshm": "/dev/shm"}


def test_security_context(chart, synth):
    build(chart, gpu_count=1)
    m = synth(chart)
    spec = m.pod_spec("exp-trainer")
    assert spec["securityContext"] == {
        "runAsUser": 10001,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
        "fsGroup": 10001,
        "fsGroupChangePolicy": "OnRootMismatch",
    }
    assert spec["automountServiceAccountToken"] is False
    assert spec["enableServiceLinks"] is False
    assert m.container("exp-trainer")["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }


def test_run_as_user_none_leaves_the_user_to_the_image(chart, synth):
    build(chart, run_as_user=None)
    context = synth(chart).pod_spec("exp-trainer")["securityContext"]
    assert "runAsUser" not in context
    assert "runAsNonRoot" not in context


def test_run_as_root_drops_run_as_non_root(chart, synth):
    build(chart, run_as_user=0)
    context = synth(chart).pod_spec("exp-trainer")["securityContext"]
    assert context["runAsUser"] == 0
    assert "runAsNonRoot" not in context
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}


def test_custom_run_as_user_keeps_run_as_non_root(chart, synth):
    build(chart, run_as_user=2**31 - 1)
    context = synth(chart).pod_spec("exp-trainer")["securityContext"]
    assert (context["runAsUser"], context["runAsNonRoot"]) == (2**31 - 1, True)


@pytest.mark.parametrize("uid", [-5, 2**31, 1000.0, "1000", True])
def test_fails_bad_run_as_user(chart, uid):
    with pytest.raises(PrimeRLConfigError, match=rf"^run_as_user must be .*got {uid!r}$"):
        build(chart, run_as_user=uid)


def test_probes_are_rendered_as_given(chart, synth):
    startup = {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 10, "failureThreshold": 270}
    liveness = {"exec": {"command": ["true"]}, "periodSeconds": 60}
    readiness = {"tcpSocket": {"port": 8000}}
    build(
        chart, ports={"http": 8000}, startup_probe=startup, liveness_probe=liveness, readiness_probe=readiness
    )
    container = synth(chart).container("exp-trainer")
    assert container["startupProbe"] == startup
    assert container["livenessProbe"] == liveness
    assert container["readinessProbe"] == readiness


def test_update_strategy_priority_class_queue_and_disruption_budget(chart, synth):
    build(
        chart,
        replicas=2,
        update_strategy="OnDelete",
        priority_class_name="training-high",
        queue_name="team-a",
        pod_disruption_budget=True,
    )
    m = synth(chart)
    sts = m.get("StatefulSet", "exp-trainer")
    assert sts["spec"]["updateStrategy"] == {"type": "OnDelete"}
    assert sts["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
    assert "kueue.x-k8s.io/queue-name" not in sts["spec"]["template"]["metadata"]["labels"]
    assert sts["spec"]["template"]["spec"]["priorityClassName"] == "training-high"
    budget = m.get("PodDisruptionBudget", "exp-trainer")
    assert budget["spec"] == {
        "maxUnavailable": 0,
        "selector": {"matchLabels": sts["spec"]["selector"]["matchLabels"]},
    }


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"replicas": -1}, "replicas must be at least 0, got -1"),
        ({"replicas": 1.5}, "replicas must be an integer of at least 0, got 1.5"),
        ({"replicas": True}, "replicas must be an integer of at least 0, got True"),
        ({"replicas": "2"}, "replicas must be an integer of at least 0, got '2'"),
    ],
)
def test_fails_bad_replicas(chart, props, message):
    with pytest.raises(PrimeRLConfigError, match=rf"^{message}$"):
        build(chart, **props)


@pytest.mark.parametrize("count", [-1, 1.0, "2", None])
def test_fails_bad_gpu_count(chart, count):
    with pytest.raises(PrimeRLConfigError, match=rf"^gpu_count must be .*at least 0, got {count!r}$"):
        build(chart, gpu_count=count)


def test_fails_config_path_is_gone_and_errors_name_props(chart):
    with pytest.raises(TypeError, match="config_path"):
        build(chart, gpu_count=1, config_path="trainer")
    with pytest.raises(PrimeRLConfigError, match=r"^gpu_count must be .*at least 0, got -2$"):
        build(chart, gpu_count=-2)
    with pytest.raises(PrimeRLConfigError, match=r"^memory_limit must be .*, got '4GB'$"):
        build(chart, memory_limit="4GB")


@pytest.mark.parametrize(
    ("prop", "value"),
    [
        ("cpu_request", "lots"),
        ("cpu_limit", "-1"),
        ("memory_request", "4GB"),
        ("memory_limit", "16 Gi"),
        ("memory_limit", -5),
        ("cpu_request", True),
        ("cpu_request", "1.5.2"),
    ],
)
def test_fails_malformed_quantities(chart, prop, value):
    with pytest.raises(PrimeRLConfigError) as err:
        build(chart, **{prop: value})
    assert str(err.value) == (
        f"{prop} must be a non-negative Kubernetes quantity such as 500m, 4, 16Gi or 1Ti, got {value!r}"
    )


def test_fails_zero_limit(chart):
    with pytest.raises(
        PrimeRLConfigError, match=r"^memory_limit must be a Kubernetes quantity greater than zero"
    ):
        build(chart, memory_limit="0")


def test_fails_request_above_limit(chart):
    with pytest.raises(
        PrimeRLConfigError, match=r"^cpu_request must not exceed cpu_limit, got '8' > '4000m'$"
    ):
        build(chart, cpu_request="8", cpu_limit="4000m")


def test_fails_bad_pull_policy(chart):
    with pytest.raises(
        PrimeRLConfigError,
        match=r"^image_pull_policy must be one of Always, IfNotPresent, Never, got 'always'$",
    ):
        build(chart, image_pull_policy="always")


@pytest.mark.parametrize("port", [0, 65536, -1, "8000", 80.0])
def test_fails_bad_port(chart, port):
    with pytest.raises(PrimeRLConfigError, match=r"^ports must be an integer port between 1 and 65535, got "):
        build(chart, ports={"http": port})


@pytest.mark.parametrize("name", ["HTTP", "a-very-long-port-name", "123", "with_underscore"])
def test_fails_bad_port_name(chart, name):
    with pytest.raises(PrimeRLConfigError, match=rf"^ports name must be a port name .*, got {name!r}$"):
        build(chart, ports={name: 8000})


def test_fails_duplicate_port_numbers(chart):
    with pytest.raises(PrimeRLConfigError, match=r"^ports must be distinct port numbers"):
        build(chart, ports={"http": 8000, "metrics": 8000})


def test_fails_service_without_port(chart):
    with pytest.raises(PrimeRLConfigError, match=r"^service_enabled is true but no port is set"):
        build(chart, service_enabled=True)


def test_fails_bad_service_type(chart):
    with pytest.raises(
        PrimeRLConfigError, match=r"^service_type must be one of ClusterIP, NodePort, LoadBalancer"
    ):
        build(chart, ports={"http": 1}, service_enabled=True, service_type="ExternalName")


def test_fails_bad_anti_affinity(chart):
    with pytest.raises(
        PrimeRLConfigError,
        match=r"^pod_anti_affinity must be required, preferred or a Kubernetes PodAntiAffinity mapping, "
        r"got 'sometimes'$",
    ):
        build(chart, pod_anti_affinity="sometimes")


def test_fails_bad_topology_key(chart):
    with pytest.raises(PrimeRLConfigError, match=r"^anti_affinity_topology_key must be a label key"):
        build(chart, pod_anti_affinity="required", anti_affinity_topology_key="not a key")


@pytest.mark.parametrize(
    ("toleration", "message"),
    [
        ({"key": "k", "operator": "Maybe"}, r"tolerations\[0\]\.operator must be one of Exists, Equal"),
        ({"key": "k", "effect": "Evict"}, r"tolerations\[0\]\.effect must be one of NoSchedule"),
        ({"key": "k", "colour": "red"}, r"tolerations\[0\]\.colour must be absent; allowed keys are key"),
        ({"key": "k", "operator": "Exists", "value": "v"}, r"tolerations\[0\]\.value must be absent when"),
        ({"key": "k", "tolerationSeconds": 5}, r"tolerations\[0\]\.tolerationSeconds must be set only with"),
        ({"value": "v"}, r"tolerations\[0\]\.operator must be Exists when no key is given"),
        ({"key": "bad key"}, r"tolerations\[0\]\.key must be a label key"),
        ("nvidia.com/gpu", r"tolerations\[0\] must be a mapping"),
    ],
)
def test_fails_bad_toleration(chart, toleration, message):
    with pytest.raises(PrimeRLConfigError, match=rf"^{message}"):
        build(chart, tolerations=[toleration])


def test_fails_tolerations_not_a_list(chart):
    with pytest.raises(PrimeRLConfigError, match=r"^tolerations must be a list of tolerations"):
        build(chart, tolerations={"key": "k"})


@pytest.mark.parametrize("name", ["1BAD", "A=B", "with space", ""])
def test_fails_bad_env_name(chart, name):
    with pytest.raises(PrimeRLConfigError, match=r"must be an environment variable name"):
        build(chart, env={name: "x"})


def test_fails_bad_env_value(chart):
    with pytest.raises(
        PrimeRLConfigError,
        match=r"^env\.LIST must be a string, number, boolean, SecretKeyRef or FieldRef, got \['a'\]$",
    ):
        build(chart, env={"LIST": ["a"]})


def test_fails_bad_secret_ref(chart):
    with pytest.raises(
        PrimeRLConfigError, match=r"^env\.TOKEN\.secretKeyRef\.name must be a DNS-1123 subdomain"
    ):
        build(chart, env={"TOKEN": SecretKeyRef("Bad_Secret", "k")})
    with pytest.raises(
        PrimeRLConfigError, match=r"^env\.TOKEN\.secretKeyRef\.key must be a non-empty Secret key"
    ):
        build(chart, env={"TOKEN": SecretKeyRef("s", "")})


@pytest.mark.parametrize("command", ["", "   ", [], ["python", 3], 42])
def test_fails_bad_command(chart, command):
    with pytest.raises(PrimeRLConfigError, match=r"^command must be a non-empty shell command"):
        build(chart, command=command)


@pytest.mark.parametrize("instance", ["My_Exp", "1exp", "exp-", "", "e" * 64])
def test_fails_instance_not_dns_1035(chart, instance):
    with pytest.raises(
        PrimeRLConfigError, match=rf"^instance must be a DNS-1035 label .*, got {instance!r}$"
    ):
        build(chart, instance=instance)


def test_fails_statefulset_name_over_52(chart):
    instance = "e" * 45
    with pytest.raises(PrimeRLConfigError) as err:
        build(chart, instance=instance)
    assert str(err.value) == (
        f"instance {instance!r} is too long: the generated StatefulSet name '{instance}-trainer' has 53 "
        "characters, at most 52 are allowed (use at most 44 characters)"
    )


def test_fails_explicit_name_over_52(chart):
    with pytest.raises(
        PrimeRLConfigError, match=r"^name 'n{53}' is too long: the generated StatefulSet name"
    ):
        build(chart, name="n" * 53)


@pytest.mark.parametrize("namespace", ["Team_A", "-ns", "n" * 64])
def test_fails_bad_namespace(chart, namespace):
    with pytest.raises(
        PrimeRLConfigError, match=rf"^namespace must be a DNS-1123 label .*, got {namespace!r}$"
    ):
        build(chart, namespace=namespace)


def test_fails_bad_node_selector(chart):
    with pytest.raises(PrimeRLConfigError, match=r"^node_selector\.gpu must be a label value .*, got 'a b'$"):
        build(chart, node_selector={"gpu": "a b"})
    with pytest.raises(PrimeRLConfigError, match=r"^node_selector key must be a label key"):
        build(chart, node_selector={"bad key": "x"})


def test_fails_bad_labels(chart):
    with pytest.raises(
        PrimeRLConfigError, match=r"^labels\.team must be a label value .*, got 'x' \* 64|^labels"
    ):
        build(chart, labels={"team": "x" * 64})


@pytest.mark.parametrize("size", [-1, "16", True, 0.3])
def test_fails_bad_shm_size(chart, size):
    with pytest.raises(PrimeRLConfigError, match=r"^shm_size_gib must be a "):
        build(chart, gpu_count=1, shm_size_gib=size)


def test_default_shm_is_at_most_half_the_memory_limit(chart, synth):
    build(chart, gpu_count=1, memory_limit="8Gi")
    assert {"emptyDir": {"medium": "Memory", "sizeLimit": "4Gi"}, "name": "dshm"} in synth(chart).pod_spec(
        "exp-trainer"
    )["volumes"]


def test_fails_shm_larger_than_memory_limit(chart):
    with pytest.raises(PrimeRLConfigError) as err:
        build(chart, gpu_count=1, memory_limit="8Gi", shm_size_gib=16)
    assert str(err.value) == (
        "shm_size_gib must not exceed memory_limit because /dev/shm counts against the memory limit, "
        "got 16Gi > '8Gi'"
    )


def test_fails_bad_runtime_class(chart):
    with pytest.raises(PrimeRLConfigError, match=r"^runtime_class_name must be a DNS-1123 subdomain"):
        build(chart, gpu_count=1, runtime_class_name="NVIDIA")


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"readiness_probe": {"periodSeconds": 5}}, r"^readiness_probe must be a probe with exactly one of"),
        (
            {"liveness_probe": {"exec": {"command": ["true"]}, "httpGet": {"path": "/", "port": 80}}},
            r"^liveness_probe must be a probe with exactly one of",
        ),
        ({"startup_probe": "/health"}, r"^startup_probe must be a probe with exactly one of"),
        (
            {"ports": {"http": 8000}, "readiness_probe": {"httpGet": {"path": "/health", "port": "metrics"}}},
            r"^readiness_probe\.httpGet\.port must be one of the container's ports: http, got 'metrics'$",
        ),
        (
            {"update_strategy": "Recreate"},
            r"^update_strategy must be one of RollingUpdate, OnDelete, got 'Recreate'$",
        ),
        ({"priority_class_name": "High"}, r"^priority_class_name must be a DNS-1123 subdomain"),
        ({"queue_name": "a b"}, r"^queue_name must be "),
        ({"pod_disruption_budget": "yes"}, r"^pod_disruption_budget must be "),
    ],
)
def test_fails_bad_pod_settings(chart, props, message):
    with pytest.raises(PrimeRLConfigError, match=message):
        build(chart, **props)
