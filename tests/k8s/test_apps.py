"""The example apps: one per values file, snapshotted, and `python -m apps` as `cdk8s synth` runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from apps import APPS, MANIFEST_SUFFIX, REPO, VALUES_DIR, synth_app


@pytest.mark.parametrize("name", sorted(APPS))
def test_app_matches_snapshot(name: str, snapshot: SnapshotAssertion) -> None:
    assert synth_app(name) == snapshot


def test_every_values_file_is_an_app() -> None:
    assert sorted(APPS) == sorted(path.stem for path in VALUES_DIR.glob("*.yaml"))
    assert len(APPS) >= 10


def test_release_name_is_the_app_name() -> None:
    assert "name: wordle-trainer\n" in synth_app("wordle")


def test_python_m_apps_writes_to_cdk8s_outdir_and_prunes(tmp_path: Path) -> None:
    outdir = tmp_path / "out"
    outdir.mkdir()
    (outdir / "removed-app.k8s.yaml").write_text("kind: Stale\n")
    (outdir / "notes.txt").write_text("not a manifest\n")
    env = {**os.environ, "CDK8S_OUTDIR": str(outdir), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    result = subprocess.run(
        [sys.executable, "-m", "apps"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in outdir.iterdir()) == sorted(
        [f"{name}{MANIFEST_SUFFIX}" for name in APPS] + ["notes.txt"]
    )
    assert (outdir / f"smoke{MANIFEST_SUFFIX}").read_text() == synth_app("smoke")
