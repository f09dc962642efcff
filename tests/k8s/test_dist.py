"""The committed dist/: fresh (re-synthesizing changes no byte) and valid for Kubernetes 1.28 and 1.31."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

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
    documents = _documents(path)
    assert documents
    for document in documents:
        kubernetes_validate.validate(document, version, strict=True)


def test_every_dist_object_is_namespaced_and_labelled() -> None:
    for path in DIST_FILES:
        for document in _documents(path):
            metadata = document["metadata"]
            assert metadata["namespace"] == "default"
            assert metadata["labels"]["app.kubernetes.io/instance"] == path.name.removesuffix(MANIFEST_SUFFIX)
