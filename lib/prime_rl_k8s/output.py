"""Writing manifests: YAML text without Node, and output directories that are never half-written."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def manifests_yaml(documents: Iterable[Mapping[str, Any]]) -> str:
    """Multi-document YAML, keys in the order the render core put them (as cdk8s writes them)."""
    return yaml.dump_all(
        list(documents),
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=2**31 - 1,
    )


def write_atomically(directory: Path, files: Mapping[str, str], prune_suffix: str | None = None) -> None:
    """Write files into `directory` only once all of them exist: stage beside it, then rename in.

    With `prune_suffix`, files of that suffix that are not in `files` are removed afterwards, so a
    regenerated output directory never keeps manifests of deleted apps.
    """
    import os
    import shutil
    import tempfile

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
