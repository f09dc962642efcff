"""The committed dist/: fresh (re-synthesizing changes no byte) and valid for Kubernetes 1.28 and 1.31."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from crd_schemas import is_custom_resource, validate_custom_resource

from apps import MANIFEST_SUFFIX, REPO, synth_all

DIST = REPO / "dist"
DIST_FILES = sorted(DIST.glob(f"*{MANIFEST_SUFFIX}"))
KUBERNETES_VERSIONS = ("1.28.0", "1.31.0")


@pytest.fixture(scope="module")
def fresh() -> dict[str, str]:
    return synth_all()


def test_dist_is_not_stale(fresh: dict[str, str]) -> None:
    """Fails when apps, values files or constructs changed without `python -m apps` being re-run."""
    assert sorted(fresh) == [path.name for path in DIST_FILES], "run ./scripts/synth.sh to refresh dist/"
    for name, text in fresh.items():
        assert (DIST / name).read_bytes() == text.encode("utf-8"), (
            f"dist/{name} is stale: run ./scripts/synth.sh"
        )


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("path", DIST_FILES, ids=[path.name for path in DIST_FILES])
def test_dist_validates_strictly(path: Path, version: str) -> None:
    """Built-in kinds against Kubernetes' schemas, custom resources against their CRD's schema."""
    documents = _documents(path)
    assert documents
    for document in documents:
        if is_custom_resource(document):
            validate_custom_resource(document)
        else:
            kubernetes_validate.validate(document, version, strict=True)


def test_crd_validation_is_strict() -> None:
    """An unknown field, a wrong type or a bad enum in a JobSet fails, so the check can fail."""
    jobset = next(doc for doc in _documents(DIST / f"jobset{MANIFEST_SUFFIX}") if doc["kind"] == "JobSet")
    validate_custom_resource(jobset)
    for path, value in (
        (("spec", "successPolicy", "operatr"), "All"),
        (("spec", "startupPolicy", "startupPolicyOrder"), "Sequential"),
        (("spec", "failurePolicy", "maxRestarts"), "3"),
        (
            (
                "spec",
                "replicatedJobs",
                0,
                "template",
                "spec",
                "template",
                "spec",
                "containers",
                0,
                "imagePolicy",
            ),
            "x",
        ),
    ):
        broken = yaml.safe_load(yaml.safe_dump(jobset))
        node = broken
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        with pytest.raises(AssertionError):
            validate_custom_resource(broken)


def test_every_dist_object_is_namespaced_and_labelled() -> None:
    for path in DIST_FILES:
        for document in _documents(path):
            metadata = document["metadata"]
            assert metadata["namespace"] == "default"
            assert metadata["labels"]["app.kubernetes.io/instance"] == path.name.removesuffix(MANIFEST_SUFFIX)
