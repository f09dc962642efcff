"""The README's Python examples run as written, and do what the README says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def _python_blocks() -> list[str]:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Using the constructs in your own cdk8s app", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def _run(code: str, cwd: Path) -> None:
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def _documents(path: Path) -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(path.read_text()) if d}


def test_readme_python_examples_run_and_synthesize(tmp_path: Path) -> None:
    app, additions, patch = _python_blocks()
    _run(app, tmp_path)
    docs = _documents(tmp_path / "dist" / "research.k8s.yaml")
    trainer = docs[("StatefulSet", "wordle-lr3e6-trainer")]
    assert trainer["metadata"]["namespace"] == "research"
    assert trainer["spec"]["replicas"] == 2
    assert (
        trainer["spec"]["template"]["spec"]["containers"][0]["image"]
        == "ghcr.io/prime-rl-k8s/prime-rl-k8s:v0.4.0"
    )

    before_synth = app.replace("app.synth()", "")
    _run("\n".join([before_synth, additions, patch, "app.synth()"]), tmp_path)
    docs = _documents(tmp_path / "dist" / "research.k8s.yaml")
    pod = docs[("StatefulSet", "wordle-lr3e6-trainer")]["spec"]["template"]
    container = pod["spec"]["containers"][0]
    assert {"name": "NCCL_DEBUG", "value": "INFO"} in container["env"]
    assert {"mountPath": "/cache", "name": "cache"} in container["volumeMounts"]
    assert {"key": "team", "operator": "Exists"} in pod["spec"]["tolerations"]
    assert pod["metadata"]["annotations"] == {"example.com/owner": "rl-team"}
    assert container["resources"]["limits"]["rdma/ib"] == 1
