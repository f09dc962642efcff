"""SharedDataVolume: the claim it writes, the pod wiring it hands out, and what it rejects."""

from __future__ import annotations

import itertools
from typing import Any

import cdk8s
import pytest
from prime_rl_k8s import RETAIN_ANNOTATIONS, PrimeRLConfigError, SharedDataVolume

_ids = itertools.count()


def build(chart: cdk8s.Chart, **props: Any) -> SharedDataVolume:
    return SharedDataVolume(chart, f"data{next(_ids)}", **{"experiment": "exp", "namespace": "ns", **props})


def test_default_claim(chart, synth):
    volume = build(chart)
    m = synth(chart)
    assert m.names() == [("PersistentVolumeClaim", "exp-shared-data")]
    claim = m.get("PersistentVolumeClaim", "exp-shared-data")
    assert claim["metadata"]["namespace"] == "ns"
    assert "annotations" not in claim["metadata"]
    assert claim["spec"] == {
        "accessModes": ["ReadWriteMany"],
        "storageClassName": "nfs",
        "resources": {"requests": {"storage": "1Ti"}},
    }
    assert claim["metadata"]["labels"]["app.kubernetes.io/instance"] == "exp"
    assert volume.claim_name == "exp-shared-data"
    assert volume.mount_path == "/data"
    assert volume.created is True


def test_custom_class_size_and_modes(chart, synth):
    build(chart, storage_class_name="cephfs", size="500Gi", access_modes=["ReadWriteOnce", "ReadOnlyMany"])
    spec = synth(chart).get("PersistentVolumeClaim", "exp-shared-data")["spec"]
    assert spec["storageClassName"] == "cephfs"
    assert spec["resources"]["requests"]["storage"] == "500Gi"
    assert spec["accessModes"] == ["ReadWriteOnce", "ReadOnlyMany"]


def test_storage_class_none_uses_cluster_default_and_empty_string_is_kept(make_chart, synth):
    chart = make_chart()
    build(chart, storage_class_name=None)
    assert "storageClassName" not in synth(chart).get("PersistentVolumeClaim", "exp-shared-data")["spec"]
    chart = make_chart()
    build(chart, storage_class_name="")
    assert synth(chart).get("PersistentVolumeClaim", "exp-shared-data")["spec"]["storageClassName"] == ""


def test_retain_on_delete_annotations(chart, synth):
    build(chart, retain_on_delete=True)
    annotations = synth(chart).get("PersistentVolumeClaim", "exp-shared-data")["metadata"]["annotations"]
    assert annotations == {
        "helm.sh/resource-policy": "keep",
        "argocd.argoproj.io/sync-options": "Delete=false",
    }
    assert annotations == RETAIN_ANNOTATIONS


def test_existing_claim_creates_nothing_and_is_mounted(chart, synth):
    volume = build(chart, existing_claim_name="team.datasets-rwx", mount_path="/mnt/data")
    assert synth(chart).docs == []
    assert volume.created is False
    assert volume.claim_name == "team.datasets-rwx"
    assert volume.volume() == {
        "name": "shared-data",
        "persistentVolumeClaim": {"claimName": "team.datasets-rwx"},
    }
    assert volume.volume_mount() == {"name": "shared-data", "mountPath": "/mnt/data"}


def test_namespace_from_chart_or_none(make_chart, synth):
    chart = make_chart(namespace="team-a")
    build(chart, namespace=None)
    assert synth(chart).docs[0]["metadata"]["namespace"] == "team-a"
    chart = make_chart()
    build(chart, namespace=None)
    assert "namespace" not in synth(chart).docs[0]["metadata"]


@pytest.mark.parametrize("size", ["lots", "4GB", "-1Gi", "0", 0, "1 Ti", True])
def test_fails_bad_size(chart, size):
    with pytest.raises(PrimeRLConfigError, match=r"^size must be .*quantity.*, got ") as err:
        build(chart, size=size)
    assert repr(size) in str(err.value)


@pytest.mark.parametrize("modes", [[], "ReadWriteMany", ["ReadWriteAll"]])
def test_fails_bad_access_modes(chart, modes):
    with pytest.raises(PrimeRLConfigError, match=r"^access_modes must be .*ReadWriteMany"):
        build(chart, access_modes=modes)


@pytest.mark.parametrize("path", ["data", "/", "/data/", "/a/../b", "/dev/shm", "/dev/shm/x", "/a//b", 5])
def test_fails_bad_mount_path(chart, path):
    with pytest.raises(PrimeRLConfigError, match=r"^mount_path must be an absolute path") as err:
        build(chart, mount_path=path)
    assert str(err.value).endswith(f"got {path!r}")


@pytest.mark.parametrize("claim", ["Shared_Data", "", "-x", "x" * 254])
def test_fails_bad_existing_claim(chart, claim):
    with pytest.raises(PrimeRLConfigError, match=r"^existing_claim_name must be a DNS-1123 subdomain"):
        build(chart, existing_claim_name=claim)


def test_fails_bad_storage_class(chart):
    with pytest.raises(PrimeRLConfigError, match=r"^storage_class_name must be a DNS-1123 subdomain"):
        build(chart, storage_class_name="Fast SSD")


def test_fails_retain_not_bool(chart):
    with pytest.raises(PrimeRLConfigError, match=r"^retain_on_delete must be true or false, got 'yes'$"):
        build(chart, retain_on_delete="yes")


def test_fails_bad_experiment_name(chart):
    with pytest.raises(PrimeRLConfigError, match=r"^experiment must be a DNS-1035 label .*, got 'Exp'$"):
        build(chart, experiment="Exp")


def test_fails_claim_name_too_long(chart):
    experiment = "e" * 52
    with pytest.raises(PrimeRLConfigError) as err:
        build(chart, experiment=experiment)
    assert str(err.value) == (
        f"experiment {experiment!r} is too long: the generated PersistentVolumeClaim name "
        f"'{experiment}-shared-data' has 64 characters, at most 63 are allowed (use at most 51 characters)"
    )


def test_fails_long_value_is_cut_short_in_the_message(chart):
    claim = "x" * 254
    with pytest.raises(PrimeRLConfigError) as err:
        build(chart, existing_claim_name=claim)
    message = str(err.value)
    assert message.startswith("existing_claim_name must be a DNS-1123 subdomain")
    shown = message.split(", got ", 1)[1]
    assert shown == repr(claim)[:117] + "..."
