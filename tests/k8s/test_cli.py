"""`prime-rl-k8s synth`: the chart's documented workflows, and one-line errors for bad input."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml
from prime_rl_k8s.cli import main

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "k8s"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def synth(capsys: pytest.CaptureFixture[str], *args: str, release: str = "my-exp") -> list[dict[str, Any]]:
    code, out, err = run(["synth", release, *args], capsys)
    assert (code, err) == (0, "")
    return [doc for doc in yaml.safe_load_all(out) if doc]


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name} not found once"
    return matches[0]


def container(docs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return find(docs, "StatefulSet", name)["spec"]["template"]["spec"]["containers"][0]


def env_of(docs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(docs, name)["env"]}


def test_synth_prints_every_object_of_the_release(capsys: pytest.CaptureFixture[str]) -> None:
    docs = synth(capsys, "-f", str(EXAMPLES / "reverse-text.yaml"))
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert names == {
        ("PersistentVolumeClaim", "my-exp-shared-data"),
        ("ConfigMap", "my-exp-orchestrator-config"),
        ("ConfigMap", "my-exp-trainer-config"),
        ("StatefulSet", "my-exp-orchestrator"),
        ("Service", "my-exp-orchestrator-headless"),
        ("StatefulSet", "my-exp-inference"),
        ("Service", "my-exp-inference-headless"),
        ("Service", "my-exp-inference"),
        ("StatefulSet", "my-exp-trainer"),
        ("Service", "my-exp-trainer-headless"),
        ("Service", "my-exp-trainer"),
    }
    assert {d["metadata"]["namespace"] for d in docs} == {"default"}
    assert container(docs, "my-exp-trainer")["command"] == [
        "bash",
        "-c",
        "trainer @ /app/examples/reverse_text/configs/train.toml $CONFIG_FILES",
    ]


def test_chart_defaults_render_idle_pods_like_the_chart(capsys: pytest.CaptureFixture[str]) -> None:
    docs = synth(capsys)
    trainer = container(docs, "my-exp-trainer")
    assert trainer["command"] == ["sleep", "infinity"]
    assert trainer["image"] == f"ghcr.io/prime-rl-k8s/prime-rl-k8s:{version('prime-rl-k8s')}"
    assert trainer["imagePullPolicy"] == "IfNotPresent"
    # GPU pods are Guaranteed: without explicit resources both sides are the preset's limit.
    assert trainer["resources"]["requests"]["memory"] == trainer["resources"]["limits"]["memory"] == "128Gi"
    assert trainer["resources"]["limits"]["nvidia.com/gpu"] == 1
    pvc = find(docs, "PersistentVolumeClaim", "my-exp-shared-data")
    assert pvc["spec"]["storageClassName"] == "nfs"
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert pvc["spec"]["resources"]["requests"]["storage"] == "1Ti"


def pod_security(docs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return find(docs, "StatefulSet", name)["spec"]["template"]["spec"]["securityContext"]


@pytest.mark.parametrize(
    ("args", "uid", "non_root"),
    [
        ((), 10001, True),
        (("--set", "securityContext.runAsUser=4242"), 4242, True),
        (("--set", "securityContext.runAsUser=0"), 0, None),
        (("--set", "securityContext.runAsUser=null"), None, None),
    ],
    ids=["default", "custom", "root", "image"],
)
def test_run_as_user_reaches_every_pod(
    args: tuple[str, ...], uid: int | None, non_root: bool | None, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = synth(capsys, *args)
    for role in ("orchestrator", "inference", "trainer"):
        context = pod_security(docs, f"my-exp-{role}")
        assert (context.get("runAsUser"), context.get("runAsNonRoot")) == (uid, non_root)
        assert context["fsGroup"] == 10001
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}


def test_run_as_user_from_a_values_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    values = tmp_path / "v.yaml"
    values.write_text("securityContext:\n  runAsUser: 0\n")
    docs = synth(capsys, "-f", str(EXAMPLES / "reverse-text.yaml"), "-f", str(values))
    assert pod_security(docs, "my-exp-trainer")["runAsUser"] == 0
    assert "runAsNonRoot" not in pod_security(docs, "my-exp-trainer")


def test_output_dir_writes_one_file_per_app(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    values = str(EXAMPLES / "wordle.yaml")
    code, printed, _ = run(["synth", "my-exp", "-f", values], capsys)
    assert code == 0
    code, out, err = run(["synth", "my-exp", "-f", values, "-o", str(tmp_path / "out")], capsys)
    assert (code, out, err) == (0, "", "")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["my-exp.k8s.yaml"]
    assert (tmp_path / "out" / "my-exp.k8s.yaml").read_text() == printed


def test_namespace_option_is_honoured_everywhere(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    values = tmp_path / "v.yaml"
    values.write_text("namespace: from-values\n")
    docs = synth(capsys, "-f", str(values), "-n", "research")
    assert {d["metadata"]["namespace"] for d in docs} == {"research"}
    env = env_of(docs, "my-exp-trainer")
    assert (
        env["INFERENCE_URL"]
        == "http://my-exp-inference-0.my-exp-inference-headless.research.svc.cluster.local:8000/v1"
    )
    assert env["MASTER_ADDR"] == "my-exp-trainer-0.my-exp-trainer-headless.research.svc.cluster.local"
    assert env["HEADLESS_SERVICE"] == "my-exp-trainer-headless.research.svc.cluster.local"
    docs = synth(capsys, "-f", str(values))
    assert {d["metadata"]["namespace"] for d in docs} == {"from-values"}


CHART_DEFAULTS = """
namespace: default
image: {repository: primeintellect/prime-rl, pullPolicy: IfNotPresent, tag: "main"}
storage: {enabled: true, storageClassName: nfs, accessModes: [ReadWriteMany], size: 1Ti, mountPath: /data}
orchestrator:
  enabled: true
  replicas: 1
  autoStart: false
  command: ""
  resources: {requests: {memory: "2Gi", cpu: "1"}}
  service: {enabled: true, type: ClusterIP, port: 8000, ncclPort: 29501}
  env: []
  nodeSelector: {}
  runtimeClassName: ""
  tolerations: []
inference:
  enabled: true
  replicas: 1
  autoStart: false
  command: ""
  gpu: {enabled: true, count: 1}
  resources: {requests: {memory: "4Gi", cpu: "1"}}
  service: {enabled: true, type: ClusterIP, port: 8000}
  runtimeClassName: nvidia
  probes:
    enabled: false
    startup: {periodSeconds: 10, failureThreshold: 270, timeoutSeconds: 5}
    liveness: {periodSeconds: 10, failureThreshold: 3, timeoutSeconds: 10}
    readiness: {periodSeconds: 5, failureThreshold: 2, timeoutSeconds: 5}
trainer:
  enabled: true
  replicas: 1
  autoStart: false
  command: ""
  pytorchCudaAllocConf: "expandable_segments:True"
  gpu: {enabled: true, count: 1}
  resources: {requests: {memory: "4Gi", cpu: "1"}}
  service: {enabled: true, type: ClusterIP, port: 8000, ncclPort: 29501}
  env: []
  runtimeClassName: nvidia
  probes:
    enabled: false
    startup: {periodSeconds: 10, failureThreshold: 60, timeoutSeconds: 30}
    liveness: {periodSeconds: 30, failureThreshold: 6, timeoutSeconds: 30}
    readiness: {periodSeconds: 10, failureThreshold: 3, timeoutSeconds: 30}
  nodeSelector: {}
  tolerations: []
config: {example: "reverse-text", secrets: {enabled: false, name: prime-rl-secrets}}
"""


def test_a_copy_of_the_charts_full_values_file_is_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Users start from a copy of the chart's values file: every key in it must be understood."""
    values = tmp_path / "values.yaml"
    values.write_text(CHART_DEFAULTS)
    docs = synth(capsys, "-f", str(values))
    orchestrator = container(docs, "my-exp-orchestrator")
    assert [(p["name"], p["containerPort"]) for p in orchestrator["ports"]] == [
        ("http", 8000),
        ("nccl", 29501),
        ("metrics", 9464),
    ]
    # The chart's requests, made limits too (Guaranteed), with /dev/shm at half the memory.
    trainer = container(docs, "my-exp-trainer")
    assert trainer["resources"]["limits"]["memory"] == trainer["resources"]["requests"]["memory"] == "4Gi"
    volumes = find(docs, "StatefulSet", "my-exp-trainer")["spec"]["template"]["spec"]["volumes"]
    assert {"emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}, "name": "dshm"} in volumes
    assert (
        "runtimeClassName" not in find(docs, "StatefulSet", "my-exp-orchestrator")["spec"]["template"]["spec"]
    )
    assert (
        find(docs, "StatefulSet", "my-exp-trainer")["spec"]["template"]["spec"]["runtimeClassName"]
        == "nvidia"
    )
    assert orchestrator["command"] == ["sleep", "infinity"]


def test_set_scales_and_rewires(capsys: pytest.CaptureFixture[str]) -> None:
    docs = synth(
        capsys,
        "-f",
        str(EXAMPLES / "reverse-text.yaml"),
        "--set",
        "trainer.replicas=4",
        "--set",
        "inference.replicas=2,inference.gpu.count=4",
        "--set",
        "trainer.gpu.count=2",
    )
    assert find(docs, "StatefulSet", "my-exp-trainer")["spec"]["replicas"] == 4
    assert container(docs, "my-exp-inference")["resources"]["limits"]["nvidia.com/gpu"] == 4
    assert container(docs, "my-exp-inference")["resources"]["requests"]["nvidia.com/gpu"] == 4
    env = env_of(docs, "my-exp-orchestrator")
    assert env["TRAINER_WORLD_SIZE"] == "8"
    assert env["INFERENCE_URLS"].split(",") == [
        f"http://my-exp-inference-{i}.my-exp-inference-headless.default.svc.cluster.local:8000/v1"
        for i in (0, 1)
    ]


def test_later_file_wins_and_set_wins_wherever_it_appears(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = tmp_path / "first.yaml"
    second = tmp_path / "second.yaml"
    first.write_text("trainer:\n  replicas: 2\n  gpu:\n    count: 2\n")
    second.write_text("trainer:\n  replicas: 3\n")
    docs = synth(capsys, "-f", str(first), "-f", str(second))
    trainer = find(docs, "StatefulSet", "my-exp-trainer")
    assert trainer["spec"]["replicas"] == 3
    assert trainer["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 2
    docs = synth(capsys, "--set", "trainer.replicas=5", "-f", str(second))
    assert find(docs, "StatefulSet", "my-exp-trainer")["spec"]["replicas"] == 5


def test_set_string_keeps_env_values_as_strings(capsys: pytest.CaptureFixture[str]) -> None:
    docs = synth(
        capsys,
        "--set",
        "trainer.env[0].name=NCCL_DEBUG,trainer.env[0].value=INFO",
        "--set-string",
        "trainer.env[1].name=RETRIES,trainer.env[1].value=3",
    )
    env = env_of(docs, "my-exp-trainer")
    assert env["NCCL_DEBUG"] == "INFO"
    assert env["RETRIES"] == "3"


def test_commands_with_hash_and_colon_stay_verbatim(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = "trainer @ /app/x.toml --wandb.name 'run #3' --note 'lr: 1e-5' # comment: kept"
    values = tmp_path / "v.yaml"
    values.write_text(yaml.safe_dump({"trainer": {"autoStart": True, "command": command}}))
    docs = synth(capsys, "-f", str(values))
    assert container(docs, "my-exp-trainer")["command"] == ["bash", "-c", command]
    docs = synth(capsys, "--set", "trainer.autoStart=true", "--set-string", r"trainer.command=a \# b\, c: d")
    assert container(docs, "my-exp-trainer")["command"] == ["bash", "-c", "a # b, c: d"]


def test_command_list_is_argv(capsys: pytest.CaptureFixture[str]) -> None:
    docs = synth(capsys, "--set", "trainer.autoStart=true,trainer.command={trainer,@,/app/a.toml}")
    assert container(docs, "my-exp-trainer")["command"] == ["trainer", "@", "/app/a.toml"]


def test_auto_start_without_command_runs_the_preset(capsys: pytest.CaptureFixture[str]) -> None:
    docs = synth(capsys, "--set", "config.example=wordle,trainer.autoStart=true,trainer.gpu.count=2")
    command = container(docs, "my-exp-trainer")["command"][-1]
    assert command.startswith(
        "torchrun --nnodes=$STATEFUL_REPLICAS --node-rank=$POD_INDEX --nproc-per-node=2"
    )
    assert command.endswith("@ /app/examples/wordle/configs/train.toml")


def test_secrets_become_optional_secret_refs(capsys: pytest.CaptureFixture[str]) -> None:
    docs = synth(capsys, "--set", "config.secrets.enabled=true", "--set", "config.secrets.name=team-keys")
    env = env_of(docs, "my-exp-trainer")
    assert env["WANDB_API_KEY"] == {
        "secretKeyRef": {"name": "team-keys", "key": "wandb-api-key", "optional": True}
    }
    assert env["HF_TOKEN"]["secretKeyRef"]["key"] == "hf-token"
    assert "WANDB_API_KEY" not in env_of(synth(capsys), "my-exp-trainer")


def test_external_inference_replaces_disabled_inference(capsys: pytest.CaptureFixture[str]) -> None:
    url = "http://my-server-inference.serving.svc.cluster.local:8000/v1"
    docs = synth(capsys, "--set", f"inference.enabled=false,inference.externalUrls={{{url}}}")
    assert not [d for d in docs if d["metadata"]["name"].startswith("my-exp-inference")]
    assert env_of(docs, "my-exp-orchestrator")["INFERENCE_URL"] == url


def test_existing_claim_and_retained_storage(capsys: pytest.CaptureFixture[str]) -> None:
    docs = synth(capsys, "--set", "storage.existingClaim=team-data")
    assert not [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
    volumes = find(docs, "StatefulSet", "my-exp-trainer")["spec"]["template"]["spec"]["volumes"]
    assert {"name": "shared-data", "persistentVolumeClaim": {"claimName": "team-data"}} in volumes
    docs = synth(capsys, "-f", str(EXAMPLES / "custom-values.yaml"))
    pvc = find(docs, "PersistentVolumeClaim", "my-exp-shared-data")
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert pvc["spec"]["storageClassName"] == "my-storage-class"
    assert pvc["spec"]["resources"]["requests"]["storage"] == "500Gi"


def test_documented_label_selectors_match_pods(capsys: pytest.CaptureFixture[str]) -> None:
    """`kubectl get pods -l app=prime-rl,role=trainer` and `-l app.kubernetes.io/instance=my-exp` work."""
    docs = synth(capsys)
    labels = find(docs, "StatefulSet", "my-exp-trainer")["spec"]["template"]["metadata"]["labels"]
    assert labels["app"] == "prime-rl"
    assert labels["role"] == "trainer"
    assert labels["app.kubernetes.io/instance"] == "my-exp"
    assert labels["example"] == "reverse-text"


def test_two_releases_in_one_namespace_select_none_of_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    first = synth(capsys, release="exp-a")
    second = synth(capsys, release="exp-b")
    for selectors, pods in ((first, second), (second, first)):
        pod_labels = [d["spec"]["template"]["metadata"]["labels"] for d in pods if d["kind"] == "StatefulSet"]
        for doc in selectors:
            if doc["kind"] == "StatefulSet":
                selector = doc["spec"]["selector"]["matchLabels"]
            elif doc["kind"] == "Service":
                selector = doc["spec"]["selector"]
            else:
                continue
            for labels in pod_labels:
                assert not selector.items() <= labels.items()


def _readme_synth_commands() -> list[str]:
    """Every `prime-rl-k8s synth ...` the README shows (inline or in a code block), up to its pipe."""
    readme = (REPO / "README.md").read_text().replace("\\\n", " ")
    spans = re.findall(r"(?:`|^)((?:\.venv/bin/)?prime-rl-k8s synth [^`\n]*)", readme, flags=re.MULTILINE)
    commands = {re.split(r" \\?\|", span)[0].strip() for span in spans}
    return sorted(command for command in commands if "RELEASE" not in command)


@pytest.mark.parametrize("command", _readme_synth_commands())
def test_readme_commands_synthesize(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    command = command.replace("examples/k8s/", f"{EXAMPLES}/")
    argv = shlex.split(command.replace("values.yaml", str(EXAMPLES / "reverse-text.yaml")))
    assert argv[0].endswith("prime-rl-k8s")
    code, out, err = run(argv[1:], capsys)
    assert (code, err) == (0, ""), command
    assert "kind: StatefulSet" in out


def test_help_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["synth", "--help"], capsys)
    assert code == 0
    assert "--set-string" in out


def fails(argv: list[str], capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    code, out, err = run(argv, capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err
    return err


BAD_SETS = {
    "negative_replicas": (
        ["trainer.replicas=-1"],
        "trainer.replicas must be at least 0, got -1",
    ),
    "fractional_replicas": (["trainer.replicas=1.5"], "trainer.replicas", "'1.5'", "an integer"),
    "word_replicas": (["inference.replicas=two"], "inference.replicas", "'two'", "an integer"),
    "fractional_gpu_count": (["trainer.gpu.count=0.5"], "trainer.gpu.count", "'0.5'", "an integer"),
    "zero_gpus_while_enabled": (["inference.gpu.count=0"], "inference.gpu.count", "0", ">= 1 while"),
    "quantity_lots": (["trainer.resources.requests.memory=lots"], "requests.memory", "'lots'", "quantity"),
    "quantity_4gb": (["trainer.resources.limits.memory=4GB"], "limits.memory", "'4GB'", "quantity"),
    "unknown_key": (["trainer.replica=2"], "trainer.replica", "unknown key", "replicas"),
    "port_zero": (["inference.service.port=0"], "inference.service.port must be at least 1, got 0"),
    "port_too_high": (["trainer.service.ncclPort=65536"], "trainer.service.ncclPort", "65536", "65535"),
    "inference_disabled": (
        ["inference.enabled=false"],
        "orchestrator.enabled is true but inference is disabled",
        "inference.externalUrls is empty",
    ),
    "inference_zero_replicas": (
        ["inference.replicas=0"],
        "orchestrator.enabled is true but inference has no replicas",
        "inference.externalUrls is empty",
    ),
    "secret_name": (
        ["config.secrets.enabled=true,config.secrets.name=Keys!"],
        "config.secrets.name",
        "'Keys!'",
    ),
    "namespace": (["namespace=Team_A"], "namespace", "'Team_A'", "DNS-1123"),
    "label_value": (["trainer.nodeSelector.pool=gpu pool"], "trainer.nodeSelector.pool", "'gpu pool'"),
    "example": (["config.example=math"], "config.example", "'math'", "reverse-text"),
    "request_over_limit": (
        ["trainer.resources.requests.cpu=8,trainer.resources.limits.cpu=4"],
        "trainer.resources.requests.cpu",
        "trainer.resources.limits.cpu",
    ),
    "run_as_user_negative": (
        ["securityContext.runAsUser=-1"],
        "securityContext.runAsUser must be at least 0, got -1",
    ),
    "run_as_user_fractional": (["securityContext.runAsUser=1.5"], "securityContext.runAsUser", "'1.5'"),
    "run_as_user_word": (
        ["securityContext.runAsUser=root"],
        "securityContext.runAsUser must be an integer of at least 0, got 'root'",
    ),
    "run_as_user_too_large": (
        ["securityContext.runAsUser=2147483648"],
        "securityContext.runAsUser",
        "2147483647",
    ),
    "shm_over_memory_limit": (
        ["trainer.shmSizeGiB=32,trainer.resources.limits.memory=16Gi"],
        "trainer.shmSizeGiB",
        "trainer.resources.limits.memory",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_SETS))
def test_fails_bad_set_values(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sets, *needles = BAD_SETS[case]
    out_dir = tmp_path / "out"
    argv = ["synth", "my-exp", "-o", str(out_dir)]
    for expression in sets:
        argv += ["--set", expression]
    fails(argv, capsys, *needles)
    assert not out_dir.exists()


def test_fails_set_without_equals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fails(
        ["synth", "my-exp", "--set", "trainer.replicas", "-o", str(tmp_path / "o")],
        capsys,
        "trainer.replicas",
    )
    assert not (tmp_path / "o").exists()


def test_fails_set_string_typed_field(capsys: pytest.CaptureFixture[str]) -> None:
    fails(
        ["synth", "my-exp", "--set-string", "trainer.replicas=2"],
        capsys,
        "trainer.replicas must be an integer of at least 0, got '2'",
    )


@pytest.mark.parametrize(
    ("release", "needle"),
    [
        ("My-Exp", "DNS-1035"),
        ("exp_1", "DNS-1035"),
        ("9lives", "DNS-1035"),
        ("a-very-long-experiment-name-for-the-team", "at most 39 characters"),
    ],
)
def test_fails_bad_release(
    release: str, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fails(["synth", release, "-o", str(tmp_path / "o")], capsys, "release", repr(release), needle)
    assert not (tmp_path / "o").exists()


def test_fails_bad_namespace_option(capsys: pytest.CaptureFixture[str]) -> None:
    fails(["synth", "my-exp", "-n", "Research"], capsys, "namespace", "'Research'")


def test_fails_missing_values_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    fails(
        ["synth", "my-exp", "-f", str(missing), "-o", str(tmp_path / "o")],
        capsys,
        "nope.yaml",
        "no such file",
    )
    assert not (tmp_path / "o").exists()


def test_fails_malformed_values_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("trainer:\n  replicas: 1\n gpu: [\n")
    fails(["synth", "my-exp", "-f", str(bad)], capsys, "bad.yaml", "invalid YAML at line")


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("'1000'", "an integer of at least 0, got '1000'"),
        ("1.5", "an integer of at least 0, got 1.5"),
        ("-1", "at least 0, got -1"),
    ],
)
def test_fails_bad_run_as_user_in_values_file(
    text: str, rule: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "uid.yaml"
    bad.write_text(f"securityContext:\n  runAsUser: {text}\n")
    out_dir = tmp_path / "out"
    err = fails(["synth", "my-exp", "-f", str(bad), "-o", str(out_dir)], capsys)
    assert err == f"prime-rl-k8s: securityContext.runAsUser must be {rule}\n"
    assert not out_dir.exists()


def test_fails_set_string_run_as_user(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "out"
    argv = ["synth", "my-exp", "--set-string", "securityContext.runAsUser=1000", "-o", str(out_dir)]
    fails(argv, capsys, "securityContext.runAsUser must be an integer of at least 0, got '1000'")
    assert not out_dir.exists()


def test_fails_unknown_key_in_values_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "typo.yaml"
    bad.write_text("trainer:\n  replica: 4\n")
    fails(["synth", "my-exp", "-f", str(bad)], capsys, "trainer.replica", "unknown key", "replicas")


def test_fails_missing_release(capsys: pytest.CaptureFixture[str]) -> None:
    fails(["synth"], capsys, "RELEASE")


def test_fails_unknown_option(capsys: pytest.CaptureFixture[str]) -> None:
    fails(["synth", "my-exp", "--sett", "a=1"], capsys, "--sett")


def test_fails_output_dir_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("keep me\n")
    fails(["synth", "my-exp", "-o", str(blocker)], capsys, str(blocker), "cannot write")
    assert blocker.read_text() == "keep me\n"


def test_failed_synth_leaves_previous_output_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "out"
    code, _, _ = run(["synth", "my-exp", "-o", str(out_dir)], capsys)
    assert code == 0
    before = (out_dir / "my-exp.k8s.yaml").read_bytes()
    fails(["synth", "my-exp", "-o", str(out_dir), "--set", "trainer.replicas=-2"], capsys, "trainer.replicas")
    assert (out_dir / "my-exp.k8s.yaml").read_bytes() == before
    assert [p.name for p in out_dir.iterdir()] == ["my-exp.k8s.yaml"]


def test_console_script_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    script = Path(sys.executable).with_name("prime-rl-k8s")
    result = subprocess.run(
        [str(script), "synth", "my-exp", "--set", "trainer.replicas=two"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == "prime-rl-k8s: trainer.replicas must be an integer of at least 0, got 'two'\n"
