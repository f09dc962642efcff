"""The shared storage layout under the output dir: the one place orchestrator, trainer and
inference agree on where each step's files live and when a directory counts as complete.

    rollouts/step_N/rank_R.pt                     orchestrator -> trainer
    broadcasts/step_N/{model.safetensors,STABLE}  trainer -> inference (complete once STABLE exists)
    checkpoints/step_N/{trainer,orchestrator}/    complete once the component's state.json exists

Imports no torch, so the orchestrator and tests can use it cheaply.
"""

from __future__ import annotations

import re
from pathlib import Path

STABLE = "STABLE"
WEIGHTS_FILE = "model.safetensors"
CHECKPOINT_STATE = "state.json"
_STEP_DIR = re.compile(r"^step_(\d+)$")


def step_dirs(root: Path) -> dict[int, Path]:
    """`step_N` sub-directories of `root` by N (missing root: none)."""
    if not root.is_dir():
        return {}
    return {int(m.group(1)): p for p in root.iterdir() if (m := _STEP_DIR.match(p.name)) and p.is_dir()}


def broadcast_dir(output_dir: str | Path, step: int) -> Path:
    return Path(output_dir) / "broadcasts" / f"step_{step}"


def stable_broadcasts(output_dir: str | Path) -> list[int]:
    """Steps of the broadcasts that carry a STABLE marker, ascending; others may be half-written."""
    dirs = step_dirs(Path(output_dir) / "broadcasts")
    return sorted(step for step, path in dirs.items() if (path / STABLE).is_file())


def checkpoint_steps(output_dir: Path, component: str) -> list[int]:
    """Steps with a complete checkpoint of `component` ("trainer" or "orchestrator"), ascending."""
    dirs = step_dirs(output_dir / "checkpoints")
    return sorted(step for step, path in dirs.items() if (path / component / CHECKPOINT_STATE).is_file())


def resolve_resume_step(
    output_dir: Path, resume_step: int | None, component: str, error: type[Exception]
) -> int | None:
    """None: fresh start; -1: the latest checkpoint (fresh when none); N: that one, which must exist.

    Raises `error` (the component's own user-error type) naming the field and what is available.
    """
    if resume_step is None:
        return None
    steps = checkpoint_steps(output_dir, component)
    if resume_step == -1:
        return steps[-1] if steps else None
    if resume_step not in steps:
        raise error(
            f"ckpt.resume_step: no {component} checkpoint for step {resume_step} under "
            f"{output_dir / 'checkpoints'} (available: {steps or 'none'})"
        )
    return resume_step
