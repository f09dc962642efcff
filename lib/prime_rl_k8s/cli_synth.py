"""The one synthesis path shared by the CLI and the example apps: values → Chart → YAML text."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import cdk8s

from prime_rl_k8s.values import check_release, resolve_values
from prime_rl_k8s.values_props import add_experiment


def build_chart(app: cdk8s.App, release: str, values: Mapping[str, Any]) -> cdk8s.Chart:
    """A Chart named after the release, in the values' namespace, holding one PrimeRLExperiment."""
    check_release(release, values)
    chart = cdk8s.Chart(app, release, namespace=values["namespace"])
    add_experiment(chart, release, values)
    return chart


def synth_release_yaml(
    release: str,
    files: Iterable[str | Path] = (),
    sets: Iterable[str] = (),
    set_strings: Iterable[str] = (),
    namespace: str | None = None,
) -> str:
    """Multi-document YAML for one release, exactly what `prime-rl-k8s synth` prints."""
    values = resolve_values(files=files, sets=sets, set_strings=set_strings, namespace=namespace)
    app = cdk8s.App()
    build_chart(app, release, values)
    return app.synth_yaml()


def write_atomically(directory: Path, files: Mapping[str, str], prune_suffix: str | None = None) -> None:
    """Write files into `directory` only once all of them exist: stage beside it, then rename in.

    With `prune_suffix`, files of that suffix that are not in `files` are removed afterwards, so a
    regenerated output directory never keeps manifests of deleted apps.
    """
    directory.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".synth-", dir=directory))
    try:
        for name, text in files.items():
            (staging / name).write_text(text, encoding="utf-8")
        for name in files:
            os.replace(staging / name, directory / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if prune_suffix is not None:
        for stale in directory.glob(f"*{prune_suffix}"):
            if stale.name not in files:
                stale.unlink()
