"""Example cdk8s apps: one Chart per example in :mod:`apps.examples`, named after it.

``python -m apps`` (what ``cdk8s synth`` runs) writes ``dist/<name>.k8s.yaml`` for each; the
values file ``examples/k8s/<name>.yaml`` renders the same objects through the CLI.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VALUES_DIR = REPO / "examples" / "k8s"
MANIFEST_SUFFIX = ".k8s.yaml"
#: Namespace of every example Chart: the one `kubectl apply` uses without `-n`, as in the values files.
NAMESPACE = "default"


def app_names() -> list[str]:
    """Every example app, sorted."""
    from apps.examples import EXAMPLES

    return sorted(EXAMPLES)


def synth_app(name: str) -> str:
    """The manifests of one app as multi-document YAML."""
    import cdk8s

    from apps.examples import EXAMPLES

    app = cdk8s.App()
    chart = cdk8s.Chart(app, name, namespace=NAMESPACE)
    EXAMPLES[name](chart, name)
    return app.synth_yaml()


def synth_all() -> dict[str, str]:
    """File name (`<app>.k8s.yaml`) -> manifests, for every app."""
    return {f"{name}{MANIFEST_SUFFIX}": synth_app(name) for name in app_names()}
