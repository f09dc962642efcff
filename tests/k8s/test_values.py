"""The values layer: Helm's `--set` typing and nesting, file merging, and strict validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from prime_rl_k8s.core.presets import PRESETS
from prime_rl_k8s.errors import PrimeRLConfigError
from prime_rl_k8s.values import default_values, merge, plan, resolve_values
from prime_rl_k8s.values.errors import ValuesError
from prime_rl_k8s.values.fields import Obj
from prime_rl_k8s.values.schema import SCHEMA
from prime_rl_k8s.values.set_parser import parse_set

REPO = Path(__file__).resolve().parents[2]
VALUES_FILES = sorted((REPO / "examples" / "k8s").glob("*.yaml"))


def parsed(*expressions: str, as_string: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for expression in expressions:
        parse_set(expression, out, as_string=as_string)
    return out


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("a=1", {"a": 1}),
        ("a=0", {"a": 0}),
        ("a=-3", {"a": -3}),
        ("a=007", {"a": "007"}),
        ("a=1.5", {"a": "1.5"}),
        ("a=true", {"a": True}),
        ("a=FALSE", {"a": False}),
        ("a=null", {"a": None}),
        ("a=", {"a": ""}),
        ("a=two", {"a": "two"}),
        ("a.b.c=x", {"a": {"b": {"c": "x"}}}),
        ("a=1,b=2", {"a": 1, "b": 2}),
        ("a={x,2,true}", {"a": ["x", 2, True]}),
        ("a={}", {"a": []}),
        ("a[1]=x", {"a": [None, "x"]}),
        ("a[0].name=X,a[0].value=1", {"a": [{"name": "X", "value": 1}]}),
        ("a[0][1]=x", {"a": [[None, "x"]]}),
        (r"a\.b=x", {"a.b": "x"}),
        (r"a=x\,y", {"a": "x,y"}),
        ("cmd=run @ a.toml # keep: this", {"cmd": "run @ a.toml # keep: this"}),
        ("a=b=c", {"a": "b=c"}),
        ("a=+5", {"a": 5}),
        ("a=-0", {"a": 0}),
        ("a=1_000", {"a": "1_000"}),
        ("a=0x10", {"a": "0x10"}),
        ("a=1e3", {"a": "1e3"}),
        ("a=9223372036854775807", {"a": 2**63 - 1}),
        ("a=9223372036854775808", {"a": "9223372036854775808"}),
        ("a=-9223372036854775809", {"a": "-9223372036854775809"}),
        ("a=\u0661", {"a": "\u0661"}),
        ("a=x\\", {"a": "x"}),
        ("a=True,b=NULL", {"a": True, "b": None}),
    ],
)
def test_set_types_and_nests_like_helm(expression: str, expected: dict[str, Any]) -> None:
    assert parsed(expression) == expected


def test_set_keeps_huge_digit_strings_as_strings() -> None:
    digits = "9" * 5000
    assert parsed(f"a={digits}") == {"a": digits}


def test_set_string_keeps_strings() -> None:
    assert parsed("a=1,b=true,c=null,d={1,2}", as_string=True) == {
        "a": "1",
        "b": "true",
        "c": "null",
        "d": ["1", "2"],
    }


def test_set_updates_existing_list_entries() -> None:
    data = {"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}
    parse_set("env[1].value=3", data, as_string=True)
    assert data == {"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}]}


@pytest.mark.parametrize(
    ("expression", "needle"),
    [
        ("trainer.replicas", "--set trainer.replicas must be KEY=VALUE"),
        ("a=1,b", "--set b must be KEY=VALUE"),
        ("=1", "a non-empty key"),
        ("a[x]=1", "list index"),
        ("a[0]x", "after a list index"),
        ("a={1,2", "a list closed by '}'"),
        ("a={1}x", "after a '{...}' list"),
        ("a[70000]=1", "list index from 0 to 65536"),
        ("", "--set must be KEY=VALUE"),
    ],
)
def test_fails_malformed_set(expression: str, needle: str) -> None:
    with pytest.raises(ValuesError) as caught:
        parse_set(expression, {})
    message = str(caught.value)
    assert needle in message
    assert "\n" not in message


def test_merge_is_deep_and_later_wins() -> None:
    base = {"trainer": {"replicas": 1, "gpu": {"count": 1, "enabled": True}}, "env": [1, 2]}
    over = {"trainer": {"gpu": {"count": 4}}, "env": [3]}
    assert merge(base, over) == {"trainer": {"replicas": 1, "gpu": {"count": 4, "enabled": True}}, "env": [3]}


def test_defaults_are_the_chart_defaults() -> None:
    values = resolve_values()
    assert values == {**values, "namespace": "default"}
    # This project's image (the chart's runs another runtime); a null tag is the package version.
    assert values["image"] == {
        "repository": "ghcr.io/prime-rl-k8s/prime-rl-k8s",
        "tag": None,
        "pullPolicy": "IfNotPresent",
    }
    assert values["storage"]["storageClassName"] == "nfs"
    assert values["storage"]["size"] == "1Ti"
    assert values["storage"]["accessModes"] == ["ReadWriteMany"]
    assert values["storage"]["mountPath"] == "/data"
    assert values["orchestrator"]["gpu"]["enabled"] is False
    assert values["inference"]["gpu"] == {"enabled": True, "count": None}
    assert values["trainer"]["service"] == {
        "enabled": True,
        "type": "ClusterIP",
        "port": 8000,
        "ncclPort": 29501,
    }
    assert values["orchestrator"]["replicas"] == 1
    for role in ("orchestrator", "inference", "trainer"):
        assert values[role]["resources"]["requests"] == {"cpu": None, "memory": None}
    assert values["config"] == {
        "example": "reverse-text",
        "maxAsyncLevel": 1,
        "secrets": {"enabled": False, "name": "prime-rl-secrets"},
        "shared": None,
    }
    assert values["securityContext"] == {"runAsUser": 10001, "readOnlyRootFilesystem": True}
    assert default_values()["trainer"]["autoStart"] is False


def test_null_requests_and_gpu_count_take_the_presets_defaults() -> None:
    roles = plan("exp", resolve_values()).roles
    resolved = {
        role: (props.gpu_count, props.cpu_request, props.memory_request) for role, props in roles.items()
    }
    # GPU roles are Guaranteed: without values, requests are the preset's limits.
    assert resolved == {
        "orchestrator": (0, "1", "2Gi"),
        "inference": (1, "16", "64Gi"),
        "trainer": (1, "16", "128Gi"),
    }
    set_values = resolve_values(sets=["trainer.gpu.count=4", "trainer.resources.requests.memory=8Gi"])
    trainer = plan("exp", set_values).roles["trainer"]
    assert (trainer.gpu_count, trainer.memory_request) == (4, "8Gi")


def test_later_file_wins_and_set_wins_over_files(tmp_path: Path) -> None:
    first = tmp_path / "a.yaml"
    second = tmp_path / "b.yaml"
    first.write_text("trainer:\n  replicas: 2\n  gpu:\n    count: 2\n")
    second.write_text("trainer:\n  replicas: 3\n")
    values = resolve_values(files=[first, second], sets=["inference.replicas=5"])
    assert values["trainer"]["replicas"] == 3
    assert values["trainer"]["gpu"]["count"] == 2
    assert values["inference"]["replicas"] == 5
    values = resolve_values(files=[second, first], sets=["trainer.replicas=7"])
    assert values["trainer"]["replicas"] == 7


def test_set_string_applies_after_set() -> None:
    values = resolve_values(sets=["config.example=smoke"], set_strings=["config.example=wordle"])
    assert values["config"]["example"] == "wordle"


def test_namespace_option_overrides_values(tmp_path: Path) -> None:
    path = tmp_path / "v.yaml"
    path.write_text("namespace: from-file\n")
    assert resolve_values(files=[path])["namespace"] == "from-file"
    assert resolve_values(files=[path], namespace="research")["namespace"] == "research"


def test_commands_with_hash_and_colon_are_verbatim(tmp_path: Path) -> None:
    path = tmp_path / "v.yaml"
    command = "trainer @ a.toml --note 'x # y' --kv 'a: b' # trailing comment kept"
    path.write_text(yaml.safe_dump({"trainer": {"command": command}}))
    assert resolve_values(files=[path])["trainer"]["command"] == command


def test_quantities_from_yaml_numbers_become_strings(tmp_path: Path) -> None:
    path = tmp_path / "v.yaml"
    path.write_text("trainer:\n  resources:\n    requests:\n      cpu: 0.5\n    limits:\n      cpu: 2\n")
    resources = resolve_values(files=[path])["trainer"]["resources"]
    assert resources["requests"]["cpu"] == "0.5"
    assert resources["limits"]["cpu"] == "2"


@pytest.mark.parametrize(
    ("text", "uid"), [("0", 0), ("4242", 4242), ("2147483647", 2**31 - 1), ("null", None)]
)
def test_run_as_user_accepts_root_any_uid_and_null(text: str, uid: int | None, tmp_path: Path) -> None:
    path = tmp_path / "v.yaml"
    path.write_text(f"securityContext:\n  runAsUser: {text}\n")
    assert resolve_values(files=[path])["securityContext"]["runAsUser"] == uid
    assert resolve_values(sets=[f"securityContext.runAsUser={text}"])["securityContext"]["runAsUser"] == uid


def test_external_urls_allow_disabled_inference() -> None:
    values = resolve_values(
        sets=["inference.enabled=false", "inference.externalUrls={http://vllm.other:8000/v1}"]
    )
    assert values["inference"]["externalUrls"] == ["http://vllm.other:8000/v1"]


def test_empty_values_file_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing\n")
    assert resolve_values(files=[path]) == resolve_values()


@pytest.mark.parametrize("path", VALUES_FILES, ids=[path.stem for path in VALUES_FILES])
def test_every_values_file_parses(path: Path) -> None:
    values = resolve_values(files=[path])
    plan(path.stem, values)
    assert values["config"]["example"] in PRESETS


def test_values_files_cover_the_documented_set() -> None:
    names = {path.stem for path in VALUES_FILES}
    assert names >= {
        "reverse-text",
        "wordle",
        "alphabet-sort",
        "distributed-training",
        "multi-node",
        "inference-only",
        "custom-values",
        "custom-gpu",
        "custom-resources",
        "smoke",
    }


def test_distributed_training_is_ten_pods_of_eight_gpus() -> None:
    trainer = resolve_values(files=[REPO / "examples/k8s/distributed-training.yaml"])["trainer"]
    assert (trainer["replicas"], trainer["gpu"]["count"]) == (10, 8)


def test_multi_node_requires_trainer_anti_affinity() -> None:
    trainer = resolve_values(files=[REPO / "examples/k8s/multi-node.yaml"])["trainer"]
    assert trainer["podAntiAffinity"] == "required"
    assert trainer["podAntiAffinityTopologyKey"] == "kubernetes.io/hostname"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_example_commands_match_the_presets(name: str) -> None:
    """The example values files spell out exactly the commands the construct presets would run."""
    values = resolve_values(files=[REPO / "examples" / "k8s" / f"{name}.yaml"])
    preset = PRESETS[name]
    for role in ("orchestrator", "inference", "trainer"):
        section = values[role]
        gpus = section["gpu"]["count"] if section["gpu"]["enabled"] else 0
        expected = preset.command(role, replicas=section["replicas"], gpu_count=gpus)
        # A role with a ConfigMap reads it as the preset would: after the example's TOML.
        if section["config"] or (values["config"]["shared"] and role != "inference"):
            expected += " $CONFIG_FILES"
        assert section["command"] == expected


def test_smoke_is_cpu_only() -> None:
    values = resolve_values(files=[REPO / "examples/k8s/smoke.yaml"])
    for role in ("orchestrator", "inference", "trainer"):
        assert values[role]["gpu"]["enabled"] is False
        assert values[role]["runtimeClassName"] is None
        assert "prime-rl-tiny-model /data/models/tiny && " in values[role]["command"]


def fails(
    sets: list[str] | None = None,
    set_strings: list[str] | None = None,
    error: type[PrimeRLConfigError] = PrimeRLConfigError,
) -> str:
    """The one-line error the values layer raises; leaves are checked by the core's own rules."""
    with pytest.raises(error) as caught:
        resolve_values(sets=sets or [], set_strings=set_strings or [])
    message = str(caught.value)
    assert "\n" not in message
    assert isinstance(caught.value, PrimeRLConfigError)
    return message


@pytest.mark.parametrize(
    ("sets", "needles"),
    [
        (["trainer.replica=2"], ["trainer.replica", "unknown key", "replicas", "autoStart"]),
        (["traner.replicas=2"], ["traner", "unknown key at the top level", "did you mean trainer?"]),
        (["trainer.replicas=1.5"], ["trainer.replicas", "'1.5'", "an integer of at least 0"]),
        (["trainer.replicas=two"], ["trainer.replicas", "'two'", "an integer"]),
        (["trainer.replicas=-1"], ["trainer.replicas", "must be at least 0, got -1"]),
        (["orchestrator.replicas=-1"], ["orchestrator.replicas", "must be at least 0, got -1"]),
        (["orchestrator.service.ncclPort=0"], ["orchestrator.service.ncclPort", "must be at least 1, got 0"]),
        (["trainer.env[0].name=A,trainer.env[1].name=A"], ["trainer.env[1].name", "'A'", "not used earlier"]),
        (["trainer.gpu.count=1.5"], ["trainer.gpu.count", "'1.5'", "an integer"]),
        (["trainer.gpu.count=0"], ["trainer.gpu.count", "0", ">= 1 while trainer.gpu.enabled"]),
        (["inference.resources.requests.memory=lots"], ["requests.memory", "'lots'", "quantity"]),
        (["trainer.resources.limits.memory=4GB"], ["limits.memory", "'4GB'", "quantity"]),
        (["trainer.resources.requests.cpu=-1"], ["requests.cpu", "-1", "a non-negative Kubernetes quantity"]),
        (["trainer.service.port=0"], ["trainer.service.port", "must be at least 1, got 0"]),
        (["trainer.service.ncclPort=70000"], ["trainer.service.ncclPort", "70000", "65535"]),
        (["namespace=Research_Team"], ["namespace", "'Research_Team'", "DNS-1123 label"]),
        (["config.secrets.name=My Secret"], ["config.secrets.name", "'My Secret'", "DNS-1123 subdomain"]),
        (["config.example=not valid!"], ["config.example", "'not valid!'", "reverse-text, smoke, wordle"]),
        (["trainer.nodeSelector.pool=a b"], ["trainer.nodeSelector.pool", "'a b'", "label value"]),
        (["trainer.nodeSelector.gpu=true"], ["trainer.nodeSelector.gpu", "got True", "quote numbers"]),
        (["trainer.autoStart=yes please"], ["trainer.autoStart", "'yes please'", "true or false"]),
        (["trainer.gpu=4"], ["trainer.gpu", "4", "a mapping with keys count, enabled"]),
        (["trainer.env[0].value=x"], ["trainer.env[0].name", "got None", "environment variable name"]),
        (["trainer.env[0].name=1BAD,trainer.env[0].value=x"], ["trainer.env[0].name", "environment"]),
        (["trainer.env[0].name=A,trainer.env[0].value=1"], ["trainer.env[0].value", "--set-string"]),
        (["trainer.service.type=Headless"], ["trainer.service.type", "'Headless'", "ClusterIP"]),
        (["image.pullPolicy=sometimes"], ["image.pullPolicy", "Always, IfNotPresent, Never"]),
        (["image.repository=Bad Repo"], ["image.repository", "'Bad Repo'"]),
        (["storage.accessModes={ReadWriteSometimes}"], ["storage.accessModes[0]", "ReadWriteMany"]),
        (["storage.accessModes={}"], ["storage.accessModes must be a non-empty list, got []"]),
        (["storage.mountPath=data"], ["storage.mountPath", "'data'", "absolute path"]),
        (["inference.externalUrls={ftp://x}"], ["inference.externalUrls[0]", "'ftp://x'", "http(s)"]),
        (["trainer.podAntiAffinity=hard"], ["trainer.podAntiAffinity", "'hard'", "required, preferred"]),
        (["trainer.podAntiAffinityTopologyKey=a b"], ["trainer.podAntiAffinityTopologyKey", "label key"]),
        (["trainer.shmSizeGiB=-1"], ["trainer.shmSizeGiB", "-1", "a finite number of at least 0"]),
        (["trainer.shmSizeGiB=big"], ["trainer.shmSizeGiB", "'big'", "a finite number"]),
        (["trainer.tolerations[0].operator=Maybe"], ["trainer.tolerations[0].operator", "Exists"]),
        (["trainer.runtimeClassName=NVIDIA"], ["trainer.runtimeClassName", "'NVIDIA'", "DNS-1123 subdomain"]),
        (
            ["securityContext.runAsUser=-1"],
            ["securityContext.runAsUser", "must be at least 0, got -1"],
        ),
        (
            ["securityContext.runAsUser=1.5"],
            ["securityContext.runAsUser", "got '1.5'", "an integer of at least 0"],
        ),
        (
            ["securityContext.runAsUser=root"],
            ["securityContext.runAsUser", "got 'root'", "an integer of at least 0"],
        ),
        (["securityContext.runAsUser=2147483648"], ["securityContext.runAsUser", "2147483648", "2147483647"]),
        (
            ["securityContext.runAsUser=true"],
            ["securityContext.runAsUser", "got True", "an integer of at least 0"],
        ),
        (
            ["securityContext.runAsUsr=0"],
            ["securityContext.runAsUsr", "did you mean securityContext.runAsUser?"],
        ),
        (
            ["securityContext=1000"],
            ["securityContext", "1000", "a mapping with keys readOnlyRootFilesystem, runAsUser"],
        ),
    ],
)
def test_fails_bad_values(sets: list[str], needles: list[str]) -> None:
    message = fails(sets)
    for needle in needles:
        assert needle in message


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [
        ("trainer.replica=2", "did you mean trainer.replicas?"),
        ("trainer.autostart=true", "did you mean trainer.autoStart?"),
        ("trainer.gpu.cout=2", "did you mean trainer.gpu.count?"),
        ("trainer.resources.request.cpu=1", "did you mean trainer.resources.requests?"),
        ("storage.storageClass=x", "did you mean storage.storageClassName?"),
        ("trainer.service.nccl_port=1", "did you mean trainer.service.ncclPort?"),
    ],
)
def test_fails_unknown_key_with_a_suggestion(typo: str, suggestion: str) -> None:
    message = fails([typo], error=ValuesError)
    assert "unknown key" in message
    assert suggestion in message


def test_fails_unknown_key_without_a_far_fetched_suggestion() -> None:
    message = fails(["trainer.cmd=x"], error=ValuesError)
    assert message.startswith(
        "trainer.cmd: unknown key under trainer (value 'x'); allowed: one of affinity, autoStart"
    )
    assert "did you mean" not in message


@pytest.mark.parametrize(("number", "shown"), [(".inf", "inf"), ("-.inf", "-inf"), (".nan", "nan")])
def test_fails_non_finite_shm_size(number: str, shown: str, tmp_path: Path) -> None:
    path = tmp_path / "v.yaml"
    path.write_text(f"trainer:\n  shmSizeGiB: {number}\n")
    with pytest.raises(PrimeRLConfigError) as caught:
        resolve_values(files=[path])
    assert str(caught.value) == f"trainer.shmSizeGiB must be a finite number of at least 0, got {shown}"


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("'1000'", "an integer of at least 0, got '1000'"),
        ("1000.0", "an integer of at least 0, got 1000.0"),
        ("-3", "at least 0, got -3"),
    ],
)
def test_fails_bad_run_as_user_in_values_file(text: str, rule: str, tmp_path: Path) -> None:
    path = tmp_path / "v.yaml"
    path.write_text(f"securityContext:\n  runAsUser: {text}\n")
    with pytest.raises(PrimeRLConfigError) as caught:
        resolve_values(files=[path])
    assert str(caught.value) == f"securityContext.runAsUser must be {rule}"


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (
            ["orchestrator.replicas=2"],
            "orchestrator.replicas must be 1 while the orchestrator is enabled, got 2",
        ),
        (
            ["orchestrator.replicas=0"],
            "orchestrator.replicas must be 1 while the orchestrator is enabled, got 0",
        ),
        (
            ["inference.enabled=false"],
            "orchestrator.enabled is true but inference is disabled and inference.externalUrls is empty; "
            "enable inference with at least 1 replica, give external inference URLs, or disable orchestrator",
        ),
        (
            ["inference.replicas=0"],
            "orchestrator.enabled is true but inference has no replicas or port and inference.externalUrls "
            "is empty; enable inference with at least 1 replica, give external inference URLs, or disable "
            "orchestrator",
        ),
        (
            ["inference.replicas=0", "orchestrator.enabled=false"],
            "trainer.enabled is true but inference has no replicas or port and inference.externalUrls "
            "is empty; enable inference with at least 1 replica, give external inference URLs, or disable "
            "trainer",
        ),
        (
            ["storage.enabled=false"],
            "storage.enabled must be true while orchestrator and trainer are enabled, got False; they "
            "exchange rollouts and weights through the shared volume",
        ),
    ],
)
def test_fails_core_rules_in_values_keys(sets: list[str], message: str) -> None:
    """Rules the core enforces pass the values layer and fail in `plan`, restated in values keys."""
    values = resolve_values(sets=sets)
    with pytest.raises(PrimeRLConfigError) as caught:
        plan("exp", values)
    assert str(caught.value) == message


def test_fails_existing_claim_with_storage_disabled_in_values_keys() -> None:
    values = resolve_values(sets=["storage.enabled=false,storage.existingClaim=x"])
    with pytest.raises(PrimeRLConfigError) as caught:
        plan("exp", values)
    message = str(caught.value)
    assert message.startswith("storage.existingClaim must be ")
    assert "got 'x'" in message
    assert "storage.enabled" in message
    assert "storage_enabled" not in message


def test_fails_set_string_replicas() -> None:
    message = fails(set_strings=["trainer.replicas=2"])
    assert message == "trainer.replicas must be an integer of at least 0, got '2'"


@pytest.mark.parametrize(
    ("release", "needle"),
    [
        ("My-Exp", "DNS-1035 label"),
        ("1exp", "DNS-1035 label"),
        ("exp-", "DNS-1035 label"),
        ("exp_1", "DNS-1035 label"),
        ("", "DNS-1035 label"),
        ("a" * 40, "at most 39 characters"),
    ],
)
def test_fails_bad_release(release: str, needle: str) -> None:
    with pytest.raises(PrimeRLConfigError) as caught:
        plan(release, resolve_values())
    assert str(caught.value).startswith("release ")
    assert needle in str(caught.value)


def test_release_limit_follows_enabled_roles() -> None:
    values = resolve_values(sets=["orchestrator.enabled=false", "trainer.enabled=false"])
    plan("a" * 42, values)
    with pytest.raises(PrimeRLConfigError, match=r"^release 'a{43}' is too long: .*at most 42 characters"):
        plan("a" * 43, values)


def test_fails_missing_values_file(tmp_path: Path) -> None:
    with pytest.raises(ValuesError, match=r"-f .*missing\.yaml: no such file"):
        resolve_values(files=[tmp_path / "missing.yaml"])


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("trainer:\n  replicas: [1\n", "invalid YAML at line"),
        ("trainer: {a: 1\n", "invalid YAML"),
        ("- just\n- a list\n", "a YAML mapping of values at the top level"),
        ("just a string\n", "a YAML mapping"),
    ],
)
def test_fails_malformed_values_file(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValuesError) as caught:
        resolve_values(files=[path])
    assert needle in str(caught.value)
    assert "bad.yaml" in str(caught.value)


def _leaf_keys(schema: Obj, prefix: str = "") -> list[str]:
    """Every key of the schema that takes a value (a map-valued key such as podLabels is one key)."""
    keys: list[str] = []
    for key, field in schema.fields.items():
        path = f"{prefix}{key}"
        keys += _leaf_keys(field, f"{path}.") if isinstance(field, Obj) else [path]
    return keys


def test_readme_documents_every_values_key() -> None:
    readme = (REPO / "README.md").read_text()
    for key in _leaf_keys(SCHEMA):
        role, _, rest = key.partition(".")
        generic = f"<role>.{rest}" if role in ("orchestrator", "inference", "trainer") else key
        assert f"| `{key}` |" in readme or f"| `{generic}` |" in readme, key


def test_empty_string_means_null_for_optional_choices() -> None:
    """The chart's values files write `""` for "unset"; it means the documented default, not a choice."""
    values = resolve_values(
        sets=["trainer.podAntiAffinity=", "trainer.tolerations[0].key=a", "trainer.tolerations[0].effect="]
    )
    assert values["trainer"]["podAntiAffinity"] is None
    assert values["trainer"]["tolerations"][0]["effect"] is None


def test_run_id_key_defaults_to_the_release_and_is_checked() -> None:
    assert plan("my-exp", resolve_values()).run_id == "my-exp"
    assert plan("my-exp", resolve_values(sets=["runId=my-exp-2"])).run_id == "my-exp-2"
    with pytest.raises(PrimeRLConfigError, match=r"^runId must be 1 to 63 letters"):
        resolve_values(sets=["runId=a b"])
    values = resolve_values(sets=["trainer.terminationGracePeriodSeconds=30"])
    assert plan("x", values).roles["trainer"].termination_grace_period_seconds == 30
