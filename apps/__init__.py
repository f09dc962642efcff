"""Example cdk8s apps: one per values file in `examples/k8s/`, named after the file.

Each app goes through exactly the code path of `prime-rl-k8s synth <name> -f <file>`, so `dist/`
shows what the CLI prints for the documented values files.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VALUES_DIR = REPO / "examples" / "k8s"
#: App name (also the release name) -> its values file.
APPS: dict[str, Path] = {path.stem: path for path in sorted(VALUES_DIR.glob("*.yaml"))}
MANIFEST_SUFFIX = ".k8s.yaml"


def synth_app(name: str) -> str:
    """The manifests of one app as multi-document YAML."""
    from prime_rl_k8s.cli_synth import synth_release_yaml

    return synth_release_yaml(name, files=[APPS[name]])


def synth_all() -> dict[str, str]:
    """File name (`<app>.k8s.yaml`) -> manifests, for every app."""
    return {f"{name}{MANIFEST_SUFFIX}": synth_app(name) for name in APPS}
