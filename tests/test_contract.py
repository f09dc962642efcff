"""The manifests↔runtime contract, tested across the boundary.

Each committed ``dist/`` container's env and command are fed through the runtime's own config
loading (the TOML the command names, read from this repository instead of ``/app``), and what
the runtime then believes (inference URLs, world size, output dir, async level, its port) is
checked against the objects the manifests create. A rename on either side fails here.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from prime_rl.config import load_config
from prime_rl.inference.config import InferenceConfig
from prime_rl.lifecycle import Heartbeat, Lifecycle
from prime_rl.orchestrator.config import OrchestratorConfig
from prime_rl.trainer.rl.config import RLTrainerConfig

REPO = Path(__file__).resolve().parents[1]
DIST_FILES = sorted((REPO / "dist").glob("*.k8s.yaml"))
#: The runtime's entry point and its arguments inside a container's shell command.
ENTRY = re.compile(r"(?:^|\s)(orchestrator|inference|trainer|-m prime_rl\.trainer\.rl\.train) @ (.*)$")
CONFIGS = {"orchestrator": OrchestratorConfig, "inference": InferenceConfig, "trainer": RLTrainerConfig}
#: Every variable the runtime reads as a default: cleared so only the pod's env counts.
RUNTIME_ENV = (
    "INFERENCE_URL",
    "INFERENCE_URLS",
    "OUTPUT_DIR",
    "TRAINER_WORLD_SIZE",
    "MAX_ASYNC_LEVEL",
    "RUN_ID",
    "WORLD_SIZE",
    "RANK",
    "LOCAL_RANK",
    "INFERENCE_PORT",
    "HEARTBEAT_FILE",
    "IDLE_WHEN_DONE",
    "METRICS_PORT",
)


class Experiment:
    """The objects of one dist file, by role, whichever workload mode created its pods."""

    def __init__(self, path: Path) -> None:
        self.release = path.name.removesuffix(".k8s.yaml")
        self.docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
        self.services = {d["metadata"]["name"]: d for d in self.docs if d["kind"] == "Service"}
        #: role -> (pod template, pod hostnames, headless Service name, namespace)
        self.roles: dict[str, tuple[dict[str, Any], list[str], str, str]] = {}
        for doc in self.docs:
            namespace = doc["metadata"]["namespace"]
            if doc["kind"] == "StatefulSet":
                role = doc["metadata"]["labels"]["app.kubernetes.io/component"]
                name, replicas = doc["metadata"]["name"], doc["spec"]["replicas"]
                headless = self.services[doc["spec"]["serviceName"]]
                assert headless["spec"]["clusterIP"] == "None"
                assert headless["spec"]["publishNotReadyAddresses"] is True
                pods = [f"{name}-{i}" for i in range(replicas)]
                self.roles[role] = (doc["spec"]["template"], pods, headless["metadata"]["name"], namespace)
            elif doc["kind"] == "JobSet":
                network = doc["spec"]["network"]
                # The JobSet controller creates the headless Service `subdomain` for these hostnames.
                assert network["enableDNSHostnames"] is True and network["publishNotReadyAddresses"] is True
                for job in doc["spec"]["replicatedJobs"]:
                    assert job["replicas"] == 1
                    spec = job["template"]["spec"]
                    assert spec["completionMode"] == "Indexed" and spec["completions"] == spec["parallelism"]
                    pods = [
                        f"{doc['metadata']['name']}-{job['name']}-0-{i}" for i in range(spec["parallelism"])
                    ]
                    self.roles[job["name"]] = (spec["template"], pods, network["subdomain"], namespace)

    def container(self, role: str) -> dict[str, Any]:
        return self.roles[role][0]["spec"]["containers"][0]

    def replicas(self, role: str) -> int:
        return len(self.roles[role][1])

    def env(self, role: str, pod: int = 0) -> dict[str, str]:
        """The env a pod of `role` sees, downward-API fields filled in as the kubelet would."""
        _, pods, _, namespace = self.roles[role]
        fields = {
            "metadata.name": pods[pod],
            "metadata.namespace": namespace,
            "status.podIP": "10.0.0.1",
            "metadata.labels['apps.kubernetes.io/pod-index']": str(pod),
            "metadata.labels['batch.kubernetes.io/job-completion-index']": str(pod),
        }
        env: dict[str, str] = {}
        for entry in self.container(role).get("env", []):
            if "value" in entry:
                env[entry["name"]] = entry["value"]
            elif "fieldRef" in entry["valueFrom"]:
                env[entry["name"]] = fields[entry["valueFrom"]["fieldRef"]["fieldPath"]]
        return env

    def runtime_args(self, role: str) -> list[str] | None:
        """The `@ toml ...` arguments of the role's runtime command, or None for an idle pod.

        Variables expand as bash expands them from the pod's env; `/app/...` is this repository and
        a mounted ConfigMap's directory holds that ConfigMap's files, as in the pod.
        """
        command = self.container(role)["command"]
        if command == ["sleep", "infinity"]:
            return None
        assert command[:2] == ["bash", "-c"], command
        match = ENTRY.search(command[2])
        assert match, f"no runtime entry point in {command[2]!r}"
        env = self.env(role)
        expanded = re.sub(r"\$\{?(\w+)\}?", lambda var: env.get(var[1], var[0]), match.group(2))
        args = shlex.split(expanded)
        mounts = self.config_mounts(role)
        for index, arg in enumerate(args):
            if arg.startswith("/app/"):
                args[index] = str(REPO / arg.removeprefix("/app/"))
            for mount_path, local in mounts.items():
                if arg.startswith(mount_path + "/"):
                    args[index] = str(local / arg.removeprefix(mount_path + "/"))
        assert args[0] == "@" or args[0].endswith(".toml"), args
        return args if args[0] == "@" else ["@", *args]

    def config_mounts(self, role: str) -> dict[str, Path]:
        """Mount path -> a local directory holding the files of the ConfigMap mounted there."""
        template = self.roles[role][0]["spec"]
        config_maps = {d["metadata"]["name"]: d for d in self.docs if d["kind"] == "ConfigMap"}
        volumes = {v["name"]: v for v in template.get("volumes", [])}
        mounts: dict[str, Path] = {}
        for mount in self.container(role).get("volumeMounts", []):
            source = volumes[mount["name"]].get("configMap")
            if source is None:
                continue
            local = Path(tempfile.mkdtemp(prefix=f"{role}-config-"))
            for name, text in config_maps[source["name"]]["data"].items():
                (local / name).write_text(text)
            mounts[mount["mountPath"]] = local
        return mounts

    def pod_fqdns(self, role: str) -> list[str]:
        """`<pod>.<headless service>.<ns>.svc.cluster.local` of every pod, from the objects themselves."""
        _, pods, headless, namespace = self.roles[role]
        return [f"{pod}.{headless}.{namespace}.svc.cluster.local" for pod in pods]

    def port(self, role: str, name: str) -> int:
        return next(p["containerPort"] for p in self.container(role)["ports"] if p["name"] == name)


def runtime_config(monkeypatch: pytest.MonkeyPatch, experiment: Experiment, role: str) -> Any:
    args = experiment.runtime_args(role)
    assert args is not None, f"{role} idles in this example"
    for name in RUNTIME_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in experiment.env(role).items():
        monkeypatch.setenv(name, value)
    return load_config(CONFIGS[role], args)


def examples_running(role: str) -> list[Any]:
    """The dist files whose `role` runs its command (idle pods in `sleep infinity` have no config)."""
    params = []
    for path in DIST_FILES:
        experiment = Experiment(path)
        if role in experiment.roles and experiment.runtime_args(role) is not None:
            params.append(pytest.param(experiment, id=path.name.removesuffix(".k8s.yaml")))
    return params


def test_every_runtime_role_is_covered() -> None:
    """At least the three RL examples, smoke and multi-node run every role with its runtime."""
    assert len(examples_running("orchestrator")) >= 5
    assert len(examples_running("trainer")) >= 5
    assert len(examples_running("inference")) >= 6


@pytest.mark.parametrize("experiment", examples_running("orchestrator"))
def test_orchestrator_reaches_every_inference_pod_and_agrees_with_the_trainer(
    monkeypatch: pytest.MonkeyPatch, experiment: Experiment
) -> None:
    config = runtime_config(monkeypatch, experiment, "orchestrator")
    port = experiment.port("inference", "http")
    assert config.client.urls == [f"http://{host}:{port}/v1" for host in experiment.pod_fqdns("inference")]
    gpus = experiment.container("trainer")["resources"].get("limits", {})
    world = experiment.replicas("trainer") * max(int(gpus.get("nvidia.com/gpu", 0)), 1)
    assert config.num_train_workers == world
    assert config.output_dir == experiment.env("trainer")["OUTPUT_DIR"]
    assert config.output_dir.startswith(
        experiment.container("orchestrator")["volumeMounts"][0]["mountPath"] + "/"
    )
    trainer_config = runtime_config(monkeypatch, experiment, "trainer")
    # Both serve the one run the deployment names.
    assert config.run_id == trainer_config.run_id == experiment.env("trainer")["RUN_ID"]
    # Both read the one setting the deployment makes, not each its own default.
    assert experiment.env("orchestrator")["MAX_ASYNC_LEVEL"] == experiment.env("trainer")["MAX_ASYNC_LEVEL"]
    assert (
        config.max_async_level
        == trainer_config.max_async_level
        == int(experiment.env("trainer")["MAX_ASYNC_LEVEL"])
    )


@pytest.mark.parametrize("experiment", examples_running("trainer"))
def test_trainer_world_size_output_dir_and_rendezvous_match_the_objects(
    monkeypatch: pytest.MonkeyPatch, experiment: Experiment
) -> None:
    config = runtime_config(monkeypatch, experiment, "trainer")
    env = experiment.env("trainer")
    assert env["HEADLESS_SERVICE"] == experiment.pod_fqdns("trainer")[0].split(".", 1)[1]
    assert env["MASTER_ADDR"] == experiment.pod_fqdns("trainer")[0]
    assert int(env["MASTER_PORT"]) == experiment.port("trainer", "nccl")
    mount = experiment.container("trainer")["volumeMounts"][0]["mountPath"]
    assert config.output_dir == f"{mount}/outputs/{experiment.release}"
    command = experiment.container("trainer")["command"][2]
    gpus = int(experiment.container("trainer")["resources"].get("limits", {}).get("nvidia.com/gpu", 0))
    if "torchrun" in command:
        per_node = int(re.search(r"--nproc-per-node=(\d+)", command).group(1))
        assert "--nnodes=$STATEFUL_REPLICAS" in command and "--node-rank=$POD_INDEX" in command
        assert per_node == gpus
        assert int(env["STATEFUL_REPLICAS"]) == experiment.replicas("trainer")
        assert config.num_train_workers == per_node * experiment.replicas("trainer")
    else:
        assert config.num_train_workers == 1 == experiment.replicas("trainer") * max(gpus, 1)


@pytest.mark.parametrize("experiment", examples_running("inference"))
def test_inference_listens_where_the_services_send_traffic(
    monkeypatch: pytest.MonkeyPatch, experiment: Experiment
) -> None:
    config = runtime_config(monkeypatch, experiment, "inference")
    port = experiment.port("inference", "http")
    assert config.server.port == port
    assert experiment.container("inference")["readinessProbe"]["httpGet"]["port"] == "http"
    for service in experiment.services.values():
        if service["metadata"]["labels"]["app.kubernetes.io/component"] == "inference":
            assert {"name": "http", "port": port, "protocol": "TCP", "targetPort": "http"} in service["spec"][
                "ports"
            ]


@pytest.mark.parametrize("role", ["orchestrator", "trainer"])
def test_finished_roles_idle_only_where_a_controller_would_restart_them(
    monkeypatch: pytest.MonkeyPatch, role: str
) -> None:
    """StatefulSet pods idle when done (an exit would be restarted); JobSet pods exit 0 (their Job ends)."""
    for experiment in (param.values[0] for param in examples_running(role)):
        for name in RUNTIME_ENV:
            monkeypatch.delenv(name, raising=False)
        for name, value in experiment.env(role).items():
            monkeypatch.setenv(name, value)
        lifecycle = Lifecycle.from_env()
        jobset = any(doc["kind"] == "JobSet" for doc in experiment.docs)
        assert lifecycle.idle_when_done is not jobset, experiment.release
        assert lifecycle.heartbeat_file == Path(experiment.env(role)["HEARTBEAT_FILE"])


@pytest.mark.parametrize("experiment", examples_running("trainer"))
def test_probes_pass_on_the_runtime_heartbeat_and_fail_without_it(
    experiment: Experiment, tmp_path: Path
) -> None:
    """The probe commands of the manifests, run against the file the runtime's Heartbeat writes."""
    container = experiment.container("trainer")
    heartbeat_file = tmp_path / "prime-rl" / "heartbeat"
    env = {**os.environ, "HEARTBEAT_FILE": str(heartbeat_file)}

    def passes(probe: str) -> bool:
        command = container[probe]["exec"]["command"]
        return subprocess.run(command, env=env, capture_output=True, check=False).returncode == 0

    probes = ("startupProbe", "livenessProbe", "readinessProbe")
    assert not any(passes(probe) for probe in probes)
    Heartbeat(heartbeat_file).beat()
    assert all(passes(probe) for probe in probes)


def test_inference_port_key_reaches_the_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`inference.service.port` moves the Service, the probes and vLLM's own port together."""
    out = tmp_path / "out"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "prime_rl_k8s.cli",
            "synth",
            "exp",
            "-f",
            str(REPO / "examples" / "k8s" / "reverse-text.yaml"),
            "--set",
            "inference.service.port=9000",
            "-o",
            str(out),
        ],
        check=True,
    )
    experiment = Experiment(out / "exp.k8s.yaml")
    config = runtime_config(monkeypatch, experiment, "inference")
    assert config.server.port == experiment.port("inference", "http") == 9000
    assert experiment.container("inference")["startupProbe"]["httpGet"]["port"] == "http"
    orchestrator = runtime_config(monkeypatch, experiment, "orchestrator")
    assert all(url.endswith(":9000/v1") for url in orchestrator.client.urls)


def _config_map_examples() -> list[Any]:
    return [
        param
        for param in examples_running("trainer")
        if any(doc["kind"] == "ConfigMap" for doc in param.values[0].docs)
    ]


def _leaves(table: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    leaves: list[tuple[tuple[str, ...], Any]] = []
    for key, value in table.items():
        path = (*prefix, key)
        leaves += _leaves(value, path) if isinstance(value, dict) else [(path, value)]
    return leaves


def _setting(config: Any, path: tuple[str, ...]) -> Any:
    for name in path:
        config = getattr(config, name)
    return config


@pytest.mark.parametrize("experiment", _config_map_examples())
def test_configs_in_config_maps_reach_the_runtime(
    monkeypatch: pytest.MonkeyPatch, experiment: Experiment
) -> None:
    """Every setting of a role's ConfigMap is what the runtime runs with; shared ones in both roles."""
    assert len(_config_map_examples()) >= 3
    config_maps = {d["metadata"]["name"]: d["data"] for d in experiment.docs if d["kind"] == "ConfigMap"}
    runtime = {role: runtime_config(monkeypatch, experiment, role) for role in ("orchestrator", "trainer")}
    for role, config in runtime.items():
        data = config_maps[f"{experiment.release}-{role}-config"]
        for file_name, text in data.items():
            for path, value in _leaves(tomllib.loads(text)):
                assert _setting(config, path) == value, (role, file_name, path)
        if "shared.toml" in data:
            for path, _ in _leaves(tomllib.loads(data["shared.toml"])):
                assert _setting(runtime["orchestrator"], path) == _setting(runtime["trainer"], path)
