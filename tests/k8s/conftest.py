"""Fixtures for construct tests: a fresh chart per test and lookups into synthesized manifests."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import cdk8s

Manifest = dict[str, Any]


class Manifests:
    """Synthesize a chart and look objects and pod fields up by kind and name."""

    def __init__(self, docs: list[Manifest]) -> None:
        self.docs = docs

    @classmethod
    def of(cls, chart: cdk8s.Chart) -> Manifests:
        return cls(list(cdk8s.Testing.synth(chart)))

    def names(self) -> list[tuple[str, str]]:
        return [(d["kind"], d["metadata"]["name"]) for d in self.docs]

    def get(self, kind: str, name: str) -> Manifest:
        matches = [d for d in self.docs if d["kind"] == kind and d["metadata"]["name"] == name]
        assert len(matches) == 1, f"expected one {kind} {name}, found {self.names()}"
        return matches[0]

    def has(self, kind: str, name: str) -> bool:
        return (kind, name) in self.names()

    def pod_spec(self, statefulset: str) -> Manifest:
        return self.get("StatefulSet", statefulset)["spec"]["template"]["spec"]

    def container(self, statefulset: str) -> Manifest:
        containers = self.pod_spec(statefulset)["containers"]
        assert len(containers) == 1
        return containers[0]

    def env(self, statefulset: str) -> dict[str, Any]:
        """name -> literal value, or the valueFrom mapping for references (order kept)."""
        return {
            e["name"]: e.get("value", e.get("valueFrom")) for e in self.container(statefulset).get("env", [])
        }


@pytest.fixture
def make_chart(tmp_path: Path) -> Callable[..., cdk8s.Chart]:
    """Build charts with options, e.g. a Chart-level namespace, in an app whose outdir is the
    test's own tmp dir (``Testing.app()`` would leave a directory in /tmp per test)."""

    def build(**props: Any) -> cdk8s.Chart:
        return cdk8s.Chart(cdk8s.App(outdir=str(tmp_path)), "test", **props)

    return build


@pytest.fixture
def chart(make_chart: Callable[..., cdk8s.Chart]) -> cdk8s.Chart:
    """An empty chart in a test app (no namespace of its own)."""
    return make_chart()


@pytest.fixture
def synth() -> Callable[[cdk8s.Chart], Manifests]:
    return Manifests.of
