"""An orchestrator pod that finished its run, with real vLLM: it idles with a live heartbeat until
deleted (exit 0), and its restart generates nothing again."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from e2e_support import PY, orchestrator_toml, spawn, wait_for
from vllm_server import InferenceServer, log_tail, stop_group

from prime_rl import layout

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

ORCHESTRATOR = [PY, "-m", "prime_rl.orchestrator.orchestrator"]
#: Two steps at async level 1 need no trainer: both may be sampled from the base policy.
STEPS = 2
IDLE_LINE = "idling (IDLE_WHEN_DONE is set) until the pod is deleted"


def _files(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def _mtime(path: Path) -> float:
    return path.stat().st_mtime if path.exists() else 0.0


def _until_idle(proc: subprocess.Popen[bytes], log: Path, heartbeat: Path, timeout: float) -> None:
    """Waits for the idle line, then checks the process stays up and keeps beating."""
    try:
        wait_for(lambda: IDLE_LINE in log.read_text() or proc.poll() is not None, timeout, "the idle line")
        assert proc.poll() is None, log_tail(log)
        seen = _mtime(heartbeat)
        wait_for(lambda: _mtime(heartbeat) > seen, 15, "a beat while idle")
        assert proc.poll() is None, log_tail(log)
    except BaseException:
        stop_group(proc, signal.SIGKILL)
        raise


def test_a_finished_orchestrator_idles_and_its_restart_generates_nothing(
    base_server: InferenceServer, tmp_path: Path
) -> None:
    out = tmp_path / "outputs"
    toml = tmp_path / "orch.toml"
    toml.write_text(
        orchestrator_toml(out, base_server.model_dir, base_server.v1_url, max_steps=STEPS, max_async_level=1)
    )
    heartbeat = tmp_path / "pod" / "heartbeat"
    pod_env = {"RUN_ID": "run-idle", "IDLE_WHEN_DONE": "1", "HEARTBEAT_FILE": str(heartbeat)}
    command = [*ORCHESTRATOR, "@", str(toml), "--ckpt.resume-step", "-1", "--environment.id", "fixed-answer"]

    log = tmp_path / "orchestrator.log"
    first = spawn(command, log, **pod_env)
    _until_idle(first, log, heartbeat, timeout=300)
    stop_group(first, signal.SIGTERM, timeout_s=30)
    assert first.returncode == 0, log_tail(log)
    assert f"run run-idle finished at step {STEPS}; {IDLE_LINE}" in log.read_text()
    assert layout.finished_step(out, "orchestrator", "run-idle") == STEPS
    assert sorted(layout.step_dirs(out / "rollouts")) == list(range(STEPS))

    # The pod restarts: the marker is found before the volume or the server is touched.
    before = _files(out)
    heartbeat.unlink()
    log2 = tmp_path / "orchestrator2.log"
    second = spawn(command, log2, **pod_env)
    _until_idle(second, log2, heartbeat, timeout=60)
    stop_group(second, signal.SIGTERM, timeout_s=30)
    assert second.returncode == 0, log_tail(log2)
    text = log2.read_text()
    assert f"run run-idle already finished at step {STEPS}" in text
    assert "orchestrating" not in text and "reset" not in text
    assert _files(out) == before
