"""Workload modes, completion, probes, gang safety and the settings that must agree.

The CLI is driven in process (no Node.js); construct-only behaviour (JobSetRole additions,
duplicate experiments in one Chart) goes through cdk8s.
"""

from __future__ import annotations

import os
import subprocess
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import cdk8s
import kubernetes_validate
import pytest
import yaml
from cli_run import refused, synth
from crd_schemas import is_custom_resource, validate_custom_resource
from prime_rl_k8s import PrimeRLConfigError, PrimeRLExperiment, RoleProps

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "k8s"
VERSION = version("prime-rl-k8s")


def kind(docs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == name]


def statefulset(docs: list[dict[str, Any]], role: str) -> dict[str, Any]:
    return next(d for d in kind(docs, "StatefulSet") if d["metadata"]["name"] == f"exp-{role}")


def pod_spec(docs: list[dict[str, Any]], role: str) -> dict[str, Any]:
    jobsets = kind(docs, "JobSet")
    if jobsets:
        job = next(j for j in jobsets[0]["spec"]["replicatedJobs"] if j["name"] == role)
        return job["template"]["spec"]["template"]["spec"]
    return statefulset(docs, role)["spec"]["template"]["spec"]


def env(docs: list[dict[str, Any]], role: str) -> dict[str, Any]:
    container = pod_spec(docs, role)["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


AUTOSTART = ("--set", "orchestrator.autoStart=true", "--set", "inference.autoStart=true")
TRAINER_AUTOSTART = ("--set", "trainer.autoStart=true")


# -- JobSet mode --------------------------------------------------------------------------------
def test_jobset_completes_with_the_trainer_and_restarts_as_a_group(
    capsys: pytest.CaptureFixture[str],
) -> None:
    docs = synth(capsys, "-f", str(EXAMPLES / "kueue.yaml"))
    assert [d["kind"] for d in docs] == [
        "PersistentVolumeClaim",
        "JobSet",
        "Service",
        "Service",
        "PodDisruptionBudget",
    ]
    jobset = kind(docs, "JobSet")[0]
    validate_custom_resource(jobset)
    spec = jobset["spec"]
    assert [job["name"] for job in spec["replicatedJobs"]] == ["inference", "orchestrator", "trainer"]
    assert spec["startupPolicy"] == {"startupPolicyOrder": "InOrder"}
    assert spec["successPolicy"] == {"operator": "All", "targetReplicatedJobs": ["trainer"]}
    assert spec["failurePolicy"] == {"maxRestarts": 3}
    assert "ttlSecondsAfterFinished" not in spec
    assert spec["network"] == {
        "enableDNSHostnames": True,
        "publishNotReadyAddresses": True,
        "subdomain": "exp",
    }
    assert jobset["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "prime-rl"
    trainer = next(job for job in spec["replicatedJobs"] if job["name"] == "trainer")
    assert trainer["replicas"] == 1
    job = trainer["template"]["spec"]
    assert (job["completionMode"], job["completions"], job["parallelism"], job["backoffLimit"]) == (
        "Indexed",
        2,
        2,
        0,
    )
    assert job["template"]["spec"]["restartPolicy"] == "Never"
    # No StatefulSet, no per-role headless Service: the JobSet's subdomain replaces them.
    assert not kind(docs, "StatefulSet")
    assert {s["metadata"]["name"] for s in kind(docs, "Service")} == {"exp-inference", "exp-trainer"}


def test_jobset_keeps_the_env_contract(capsys: pytest.CaptureFixture[str]) -> None:
    docs = synth(capsys, "-f", str(EXAMPLES / "kueue.yaml"), "-n", "rl")
    trainer = env(docs, "trainer")
    assert trainer["MASTER_ADDR"] == "exp-trainer-0-0.exp.rl.svc.cluster.local"
    assert trainer["HEADLESS_SERVICE"] == "exp.rl.svc.cluster.local"
    assert trainer["STATEFUL_REPLICAS"] == "2"
    assert trainer["POD_INDEX"] == {
        "fieldRef": {"fieldPath": "metadata.labels['batch.kubernetes.io/job-completion-index']"}
    }
    assert trainer["INFERENCE_URLS"] == ",".join(
        f"http://exp-inference-0-{i}.exp.rl.svc.cluster.local:8000/v1" for i in range(2)
    )
    assert env(docs, "orchestrator")["INFERENCE_URLS"] == trainer["INFERENCE_URLS"]
    # JobSet pods exit 0 when done: the Job completes, so nothing idles.
    assert "IDLE_WHEN_DONE" not in trainer
    assert trainer["HEARTBEAT_FILE"] == "/tmp/prime-rl/heartbeat"


def test_jobset_settings_from_values(capsys: pytest.CaptureFixture[str]) -> None:
    docs = synth(
        capsys,
        "--set",
        "workload=jobset",
        "--set",
        "jobset.maxRestarts=0",
        "--set",
        "jobset.ttlSecondsAfterFinished=600",
        *AUTOSTART,
        *TRAINER_AUTOSTART,
    )
    spec = kind(docs, "JobSet")[0]["spec"]
    assert spec["failurePolicy"] == {"maxRestarts": 0}
    assert spec["ttlSecondsAfterFinished"] == 600
    validate_custom_resource(kind(docs, "JobSet")[0])


def test_jobset_without_trainer_succeeds_with_the_orchestrator_or_runs_until_deleted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    docs = synth(capsys, "--set", "workload=jobset", "--set", "trainer.enabled=false")
    assert kind(docs, "JobSet")[0]["spec"]["successPolicy"]["targetReplicatedJobs"] == ["orchestrator"]
    docs = synth(capsys, "-f", str(EXAMPLES / "inference-only.yaml"), "--set", "workload=jobset")
    assert "successPolicy" not in kind(docs, "JobSet")[0]["spec"]


def test_jobset_role_additions_change_the_jobset(chart: cdk8s.Chart) -> None:
    experiment = PrimeRLExperiment(chart, "e", name="exp", workload="jobset")
    assert experiment.trainer is not None and experiment.jobset is not None
    experiment.trainer.add_env("NCCL_DEBUG", "INFO")
    experiment.trainer.add_pod_annotation("example.com/owner", "rl")
    assert experiment.trainer.pod_fqdn(0) == "exp-trainer-0-0.exp.default.svc.cluster.local"
    docs = list(cdk8s.Testing.synth(chart))
    job = next(j for j in kind(docs, "JobSet")[0]["spec"]["replicatedJobs"] if j["name"] == "trainer")
    template = job["template"]["spec"]["template"]
    assert {"name": "NCCL_DEBUG", "value": "INFO"} in template["spec"]["containers"][0]["env"]
    assert template["metadata"]["annotations"] == {"example.com/owner": "rl"}
    assert cdk8s.ApiObject.of(experiment.jobset).kind == "JobSet"


# -- StatefulSet mode: completion, updates, disruption --------------------------------------------
def test_statefulset_roles_idle_when_done_and_trainers_never_roll(capsys: pytest.CaptureFixture[str]) -> None:
    docs = synth(capsys, "-f", str(EXAMPLES / "multi-node.yaml"))
    for role in ("orchestrator", "trainer"):
        assert env(docs, role)["IDLE_WHEN_DONE"] == "1"
        assert env(docs, role)["HEARTBEAT_FILE"] == "/tmp/prime-rl/heartbeat"
    assert "IDLE_WHEN_DONE" not in env(docs, "inference")
    assert statefulset(docs, "trainer")["spec"]["updateStrategy"] == {"type": "OnDelete"}
    assert statefulset(docs, "inference")["spec"]["updateStrategy"] == {"type": "RollingUpdate"}
    budgets = kind(docs, "PodDisruptionBudget")
    assert [b["metadata"]["name"] for b in budgets] == ["exp-trainer"]
    assert budgets[0]["spec"]["maxUnavailable"] == 0


def test_changing_inference_replicas_changes_no_running_trainer(capsys: pytest.CaptureFixture[str]) -> None:
    """The trainer template changes (INFERENCE_URLS), but OnDelete leaves its pods alone."""
    one = statefulset(synth(capsys, "-f", str(EXAMPLES / "multi-node.yaml")), "trainer")
    two = statefulset(
        synth(capsys, "-f", str(EXAMPLES / "multi-node.yaml"), "--set", "inference.replicas=3"), "trainer"
    )
    assert one["spec"]["template"] != two["spec"]["template"]
    assert one["spec"]["updateStrategy"] == two["spec"]["updateStrategy"] == {"type": "OnDelete"}


def test_disruption_budgets_follow_their_keys(capsys: pytest.CaptureFixture[str]) -> None:
    docs = synth(capsys, "--set", "trainer.replicas=1")
    assert not kind(docs, "PodDisruptionBudget")
    docs = synth(
        capsys,
        "--set",
        "trainer.replicas=2",
        "--set",
        "trainer.podDisruptionBudget.enabled=false",
        "--set",
        "inference.podDisruptionBudget.enabled=true",
    )
    assert [b["metadata"]["name"] for b in kind(docs, "PodDisruptionBudget")] == ["exp-inference"]


def test_kueue_label_on_statefulsets_and_priority_class(capsys: pytest.CaptureFixture[str]) -> None:
    docs = synth(
        capsys, "--set", "kueue.queueName=team-a", "--set", "trainer.priorityClassName=training-high"
    )
    for sts in kind(docs, "StatefulSet"):
        assert sts["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
    assert pod_spec(docs, "trainer")["priorityClassName"] == "training-high"
    assert "priorityClassName" not in pod_spec(docs, "inference")


# -- probes ------------------------------------------------------------------------------------------
def test_probes_on_running_roles_and_off_for_idle_pods(capsys: pytest.CaptureFixture[str]) -> None:
    docs = synth(capsys, *AUTOSTART)
    inference = pod_spec(docs, "inference")["containers"][0]
    assert inference["startupProbe"] == {
        "failureThreshold": 270,
        "httpGet": {"path": "/health", "port": "http"},
        "periodSeconds": 10,
        "timeoutSeconds": 5,
    }
    assert inference["livenessProbe"]["httpGet"] == inference["readinessProbe"]["httpGet"]
    orchestrator = pod_spec(docs, "orchestrator")["containers"][0]
    assert orchestrator["livenessProbe"]["exec"]["command"][0] == "sh"
    assert (
        orchestrator["livenessProbe"]["periodSeconds"],
        orchestrator["livenessProbe"]["failureThreshold"],
    ) == (
        60,
        20,
    )
    # The trainer idles in `sleep infinity` (autoStart false): nothing there would answer a probe.
    trainer = pod_spec(docs, "trainer")["containers"][0]
    assert not {"startupProbe", "livenessProbe", "readinessProbe"} & set(trainer)


def test_probe_keys_of_the_chart(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The original chart's probe keys and pytorchCudaAllocConf, as its values file writes them."""
    values = {
        "inference": {
            "probes": {
                "enabled": True,
                "startup": {"periodSeconds": 10, "failureThreshold": 270, "timeoutSeconds": 5},
                "liveness": {"periodSeconds": 10, "failureThreshold": 3, "timeoutSeconds": 10},
                "readiness": {"periodSeconds": 5, "failureThreshold": 2, "timeoutSeconds": 5},
            }
        },
        "trainer": {
            "pytorchCudaAllocConf": "expandable_segments:False",
            "probes": {
                "enabled": False,
                "startup": {"periodSeconds": 10, "failureThreshold": 60, "timeoutSeconds": 30},
                "liveness": {"periodSeconds": 30, "failureThreshold": 6, "timeoutSeconds": 30},
                "readiness": {"periodSeconds": 10, "failureThreshold": 3, "timeoutSeconds": 30},
            },
        },
    }
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    docs = synth(
        capsys, "-f", str(path), *TRAINER_AUTOSTART, "--set", "trainer.probes.liveness.periodSeconds=45"
    )
    inference = pod_spec(docs, "inference")["containers"][0]
    assert inference["readinessProbe"]["periodSeconds"] == 5
    trainer = pod_spec(docs, "trainer")["containers"][0]
    assert "livenessProbe" not in trainer
    assert env(docs, "trainer")["PYTORCH_CUDA_ALLOC_CONF"] == "expandable_segments:False"
    docs = synth(capsys, *TRAINER_AUTOSTART, "--set", "trainer.probes.liveness.failureThreshold=5")
    liveness = pod_spec(docs, "trainer")["containers"][0]["livenessProbe"]
    # A timing key left null keeps the role's default.
    assert (liveness["periodSeconds"], liveness["failureThreshold"], liveness["timeoutSeconds"]) == (
        60,
        5,
        30,
    )


@pytest.mark.parametrize(
    ("sets", "needle"),
    [
        (
            ["trainer.probes.liveness.periodSeconds=0"],
            "trainer.probes.liveness.periodSeconds must be at least 1, got 0",
        ),
        (["trainer.probes.enabled=maybe"], "trainer.probes.enabled must be "),
        (["trainer.probes.liveness.periodSecond=5"], "unknown key under trainer.probes.liveness"),
        (["workload=deployment"], "workload must be one of statefulset, jobset, got 'deployment'"),
        (["jobset.maxRestarts=-1"], "jobset.maxRestarts must be at least 0, got -1"),
        (["kueue.queueName=a b"], "kueue.queueName must be "),
        (["trainer.priorityClassName=High"], "trainer.priorityClassName must be a DNS-1123 subdomain"),
        (["trainer.podDisruptionBudget.enabled=2"], "trainer.podDisruptionBudget.enabled must be "),
    ],
)
def test_fails_bad_workload_values(sets: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = [arg for expression in sets for arg in ("--set", expression)]
    assert needle in refused(capsys, *args)


def _heartbeat_probe(capsys: pytest.CaptureFixture[str]) -> list[str]:
    docs = synth(capsys, *AUTOSTART)
    return pod_spec(docs, "orchestrator")["containers"][0]["livenessProbe"]["exec"]["command"]


def test_heartbeat_liveness_command_passes_only_while_the_heartbeat_is_fresh(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    command = _heartbeat_probe(capsys)
    heartbeat = tmp_path / "heartbeat"
    probe_env = {**os.environ, "HEARTBEAT_FILE": str(heartbeat)}

    def probe() -> int:
        return subprocess.run(command, env=probe_env, capture_output=True, check=False).returncode

    assert probe() != 0  # no heartbeat yet
    heartbeat.touch()
    assert probe() == 0
    stale = time.time() - 61
    os.utime(heartbeat, (stale, stale))
    assert probe() != 0


# -- image ---------------------------------------------------------------------------------------------
def test_default_image_is_this_projects_at_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    image = pod_spec(synth(capsys), "trainer")["containers"][0]["image"]
    assert image == f"ghcr.io/prime-rl-k8s/prime-rl-k8s:{VERSION}"
    smoke = pod_spec(synth(capsys, "-f", str(EXAMPLES / "smoke.yaml")), "trainer")["containers"][0]["image"]
    assert smoke == f"ghcr.io/prime-rl-k8s/prime-rl-k8s:{VERSION}-cpu"
    given = synth(capsys, "--set", "image.repository=registry.example.com/rl", "--set", "image.tag=main")
    assert pod_spec(given, "trainer")["containers"][0]["image"] == "registry.example.com/rl:main"


# -- settings that must agree ---------------------------------------------------------------------
def test_inference_port_reaches_vllm(capsys: pytest.CaptureFixture[str]) -> None:
    docs = synth(capsys, "-f", str(EXAMPLES / "reverse-text.yaml"), "--set", "inference.service.port=9000")
    assert env(docs, "inference")["INFERENCE_PORT"] == "9000"
    assert pod_spec(docs, "inference")["containers"][0]["ports"][0]["containerPort"] == 9000
    assert env(docs, "trainer")["INFERENCE_URL"].endswith(":9000/v1")


def test_fails_inference_command_on_another_port(capsys: pytest.CaptureFixture[str]) -> None:
    err = refused(
        capsys,
        "-f",
        str(EXAMPLES / "reverse-text.yaml"),
        "--set",
        "inference.service.port=9000",
        "--set",
        "inference.command=inference @ /app/examples/reverse_text/configs/infer.toml --port 8000",
    )
    assert "inference.command passes --port 8000 but inference.service.port is 9000" in err


def test_fails_torchrun_with_another_process_count(capsys: pytest.CaptureFixture[str]) -> None:
    err = refused(capsys, "-f", str(EXAMPLES / "multi-node.yaml"), "--set", "trainer.gpu.count=4")
    assert "trainer.command passes --nproc-per-node=8 but trainer.gpu.count is 4" in err


def test_fails_torchrun_without_process_count(capsys: pytest.CaptureFixture[str]) -> None:
    err = refused(
        capsys,
        *TRAINER_AUTOSTART,
        "--set",
        "trainer.gpu.count=2",
        "--set",
        "trainer.command=torchrun -m prime_rl.trainer.rl.train @ train.toml",
    )
    assert "trainer.command runs torchrun without --nproc-per-node" in err and "trainer.gpu.count" in err


def test_torchrun_counts_that_agree_are_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    for count in ("2", "gpu"):
        synth(
            capsys,
            *TRAINER_AUTOSTART,
            "--set",
            "trainer.gpu.count=2",
            "--set-string",
            f"trainer.command=torchrun --nproc_per_node {count} -m prime_rl.trainer.rl.train @ t.toml",
        )


def test_each_release_writes_under_its_own_directory(capsys: pytest.CaptureFixture[str]) -> None:
    docs = synth(capsys, "--set", "storage.mountPath=/mnt/rl")
    assert {env(docs, role)["OUTPUT_DIR"] for role in ("orchestrator", "inference", "trainer")} == {
        "/mnt/rl/outputs/exp"
    }
    err = refused(
        capsys, *TRAINER_AUTOSTART, "--set", "trainer.command=trainer @ t.toml --output-dir /data/outputs"
    )
    assert "trainer.command must be no --output-dir" in err and "/data/outputs/exp" in err
    synth(
        capsys,
        *TRAINER_AUTOSTART,
        "--set",
        "trainer.command=trainer @ t.toml --output-dir /data/outputs/exp/t",
    )


@pytest.mark.parametrize(
    "path", ["/app", "/app/data", "/usr/local/data", "/home", "/opt", "/etc/rl", "/var/lib/rl"]
)
def test_fails_mount_path_that_hides_the_image(path: str, capsys: pytest.CaptureFixture[str]) -> None:
    err = refused(capsys, "--set", f"storage.mountPath={path}")
    assert "storage.mountPath must be a path outside the image's own directories" in err and repr(path) in err


def test_fails_mount_path_without_the_smoke_model(capsys: pytest.CaptureFixture[str]) -> None:
    err = refused(capsys, "-f", str(EXAMPLES / "smoke.yaml"), "--set", "storage.mountPath=/mnt")
    assert "storage.mountPath must be a directory that holds /data/models/tiny" in err


def test_fails_two_experiments_of_one_name_and_namespace(chart: cdk8s.Chart) -> None:
    PrimeRLExperiment(chart, "a", name="exp", namespace="rl")
    PrimeRLExperiment(chart, "b", name="exp", namespace="other")
    with pytest.raises(
        PrimeRLConfigError,
        match=r"^name must be unique among this chart's experiments in namespace 'rl', got 'exp'$",
    ):
        PrimeRLExperiment(chart, "c", name="exp", namespace="rl")


def test_fails_bad_workload_props(chart: cdk8s.Chart) -> None:
    with pytest.raises(PrimeRLConfigError, match=r"^workload must be one of statefulset, jobset, got 'job'$"):
        PrimeRLExperiment(chart, "a", name="exp", workload="job")
    with pytest.raises(PrimeRLConfigError, match=r"^trainer\.startup_probe must be a ProbeTiming"):
        PrimeRLExperiment(chart, "b", name="exp", trainer=RoleProps(startup_probe=(10, 60, 30)))  # type: ignore[arg-type]
    with pytest.raises(
        PrimeRLConfigError, match=r"^jobset_ttl_seconds_after_finished must be at least 0, got -1$"
    ):
        PrimeRLExperiment(chart, "c", name="exp", workload="jobset", jobset_ttl_seconds_after_finished=-1)


def test_commands_that_agree_in_other_words_are_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    base = (*TRAINER_AUTOSTART, "--set", "trainer.gpu.count=1")
    synth(
        capsys,
        *base,
        "--set",
        "trainer.command=python -m torch.distributed.run -m prime_rl.trainer.rl.train @ t.toml",
    )
    synth(
        capsys,
        *TRAINER_AUTOSTART,
        "--set-string",
        "trainer.command=torchrun --nproc-per-node=$NGPU -m x @ t.toml",
    )


def test_fails_output_dir_that_climbs_out(capsys: pytest.CaptureFixture[str]) -> None:
    err = refused(
        capsys,
        *TRAINER_AUTOSTART,
        "--set",
        "trainer.command=trainer @ t.toml --output-dir /data/outputs/exp/../other",
    )
    assert "trainer.command must be no --output-dir" in err


@pytest.mark.parametrize("values_file", sorted(EXAMPLES.glob("*.yaml")), ids=lambda path: path.stem)
def test_every_example_renders_in_both_modes(values_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Switching an example to a JobSet keeps its objects valid: built-in kinds and the JobSet's CRD."""
    for workload in ("statefulset", "jobset"):
        docs = synth(capsys, "-f", str(values_file), "--set", f"workload={workload}")
        assert any(doc["kind"] == ("JobSet" if workload == "jobset" else "StatefulSet") for doc in docs)
        for doc in docs:
            if is_custom_resource(doc):
                validate_custom_resource(doc)
            else:
                kubernetes_validate.validate(doc, "1.31.0", strict=True)
