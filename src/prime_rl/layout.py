"""The shared storage layout under the output dir: the one place orchestrator, trainer and
inference agree on where each step's files live and when a directory counts as complete.

    run.json                                      the run's id and start time (fresh orchestrator)
    rollouts/step_N/rank_R.pt                     orchestrator -> trainer, stamped with the run id
    broadcasts/step_N/{model.safetensors,STABLE}  trainer -> inference (complete once STABLE, which
                                                  holds the run id, exists)
    checkpoints/step_N/{trainer,orchestrator}/    complete once the component's state.json exists
    finished/<role>.json                          {"role", "run_id", "step", "finished_at"}: the role
                                                  finished its run (trainer, orchestrator, sft)

Every reader of a shared volume that may hold an earlier run's files passes its run id, so it
never consumes them; a completion marker of another run is ignored the same way. Imports no
torch, so the orchestrator and tests can use it cheaply.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

RUN_FILE = "run.json"
#: What a run id may hold: it goes into file contents, env variables and Kubernetes label values.
RUN_ID = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
STABLE = "STABLE"
WEIGHTS_FILE = "model.safetensors"
CHECKPOINT_STATE = "state.json"
FINISHED_DIR = "finished"
_STEP_DIR = re.compile(r"^step_(\d+)$")


def step_dirs(root: Path) -> dict[int, Path]:
    """`step_N` sub-directories of `root` by N (missing root: none)."""
    if not root.is_dir():
        return {}
    return {int(m.group(1)): p for p in root.iterdir() if (m := _STEP_DIR.match(p.name)) and p.is_dir()}


def broadcast_dir(output_dir: str | Path, step: int) -> Path:
    return Path(output_dir) / "broadcasts" / f"step_{step}"


def check_run_id(value: str | None) -> str | None:
    """For config validators: None (adopt or start a run) or a valid run id."""
    if value is not None and not RUN_ID.match(value):
        raise ValueError(
            f"run_id {value!r} must be 1 to 63 letters, digits, '-', '_' or '.', starting and ending with "
            "a letter or digit"
        )
    return value


def new_run_id() -> str:
    """A run id for a run nobody named: time-ordered and unique."""
    import uuid  # only a fresh run needs it, not every `--help`

    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:8]


def read_run(output_dir: str | Path) -> dict[str, Any] | None:
    """The run the volume holds (`run.json`), or None before any orchestrator started one."""
    try:
        data = json.loads((Path(output_dir) / RUN_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("run_id"), str) else None


def write_run(output_dir: str | Path, run_id: str) -> dict[str, Any]:
    """Start `run_id` on the volume: `run.json` appears whole (tmp file, then rename)."""
    path = Path(output_dir) / RUN_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"run_id": run_id, "started_at": time.time()}
    tmp = path.with_name(f"{RUN_FILE}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, path)
    return record


def write_stable(directory: Path, run_id: str | None) -> None:
    """Mark a broadcast complete, for `run_id`: the marker is written last and whole."""
    tmp = directory / f"{STABLE}.tmp"
    tmp.write_text(run_id or "")
    os.replace(tmp, directory / STABLE)


def stable_run(directory: Path) -> str | None:
    """The run a complete broadcast belongs to ("" for an unstamped one), or None if incomplete."""
    try:
        return (directory / STABLE).read_text().strip()
    except FileNotFoundError:
        return None


def stable_broadcasts(output_dir: str | Path, run_id: str | None = None) -> list[int]:
    """Steps of the broadcasts that carry a STABLE marker (of `run_id`, when given), ascending."""
    dirs = step_dirs(Path(output_dir) / "broadcasts")
    steps = []
    for step, path in dirs.items():
        marker = stable_run(path)
        if marker is not None and (run_id is None or marker == run_id):
            steps.append(step)
    return sorted(steps)


def checkpoint_steps(output_dir: Path, component: str, run_id: str | None = None) -> list[int]:
    """Steps with a complete checkpoint of `component` (of `run_id`, when given), ascending."""
    steps = []
    for step, path in step_dirs(output_dir / "checkpoints").items():
        state_file = path / component / CHECKPOINT_STATE
        if not state_file.is_file():
            continue
        if run_id is not None:
            try:
                if json.loads(state_file.read_text()).get("run_id") != run_id:
                    continue
            except json.JSONDecodeError:
                continue
        steps.append(step)
    return sorted(steps)


def resolve_resume_step(
    output_dir: Path,
    resume_step: int | None,
    component: str,
    error: type[Exception],
    run_id: str | None = None,
) -> int | None:
    """None: fresh start; -1: the latest checkpoint (fresh when none); N: that one, which must exist.

    Only checkpoints of `run_id` count when it is given. Raises `error` (the component's own
    user-error type) naming the field and what is available.
    """
    if resume_step is None:
        return None
    steps = checkpoint_steps(output_dir, component, run_id)
    if resume_step == -1:
        return steps[-1] if steps else None
    if resume_step not in steps:
        raise error(
            f"ckpt.resume_step: no {component} checkpoint for step {resume_step} under "
            f"{output_dir / 'checkpoints'} (available: {steps or 'none'})"
        )
    return resume_step


def finished_path(output_dir: str | Path, role: str) -> Path:
    """Where `role` records that it finished its run."""
    return Path(output_dir) / FINISHED_DIR / f"{role}.json"


def write_finished(output_dir: str | Path, role: str, run_id: str | None, step: int) -> Path:
    """Record that `role` finished run `run_id` after `step` steps; the marker appears whole."""
    path = finished_path(output_dir, role)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"role": role, "run_id": run_id, "step": step, "finished_at": time.time()}
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, path)
    return path


def finished_step(output_dir: str | Path, role: str, run_id: str | None) -> int | None:
    """The step at which `role` finished run `run_id`, or None: not finished, another run's marker,
    or no run id to tell a restart from a new run."""
    if run_id is None:
        return None
    try:
        data = json.loads(finished_path(output_dir, role).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict) or data.get("run_id") != run_id or not isinstance(data.get("step"), int):
        return None
    return data["step"]
