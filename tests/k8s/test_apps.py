"""The example apps: built on the typed API, and the same objects as their values files via the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from apps import MANIFEST_SUFFIX, REPO, VALUES_DIR, app_names, synth_app

CLI = Path(sys.executable).parent / "prime-rl-k8s"
VALUES_FILES = sorted(VALUES_DIR.glob("*.yaml"))


def test_every_values_file_is_an_app_and_every_app_has_one() -> None:
    assert [path.stem for path in VALUES_FILES] == app_names()
    assert len(app_names()) >= 10


def test_examples_k8s_holds_values_files_only() -> None:
    assert sorted(p.name for p in VALUES_DIR.iterdir()) == [p.name for p in VALUES_FILES]


@pytest.mark.parametrize("values_file", VALUES_FILES, ids=[p.stem for p in VALUES_FILES])
def test_cli_with_values_file_prints_the_apps_manifests(values_file: Path) -> None:
    """The values file (CLI path, no Node) and the typed app (cdk8s path) are one example."""
    result = subprocess.run(
        [str(CLI), "synth", values_file.stem, "-f", str(values_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    printed = list(yaml.safe_load_all(result.stdout))
    committed = list(yaml.safe_load_all((REPO / "dist" / f"{values_file.stem}{MANIFEST_SUFFIX}").read_text()))
    assert [(d["kind"], d["metadata"]["name"]) for d in printed] == [
        (d["kind"], d["metadata"]["name"]) for d in committed
    ]
    assert printed == committed


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
        [f"{name}{MANIFEST_SUFFIX}" for name in app_names()] + ["notes.txt"]
    )
    assert (outdir / f"smoke{MANIFEST_SUFFIX}").read_text() == synth_app("smoke")
