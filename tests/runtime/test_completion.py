"""Finishing cleanly on a cluster: completion markers, the heartbeat, IDLE_WHEN_DONE, INFERENCE_PORT.

The trainer and SFT runs are real (tiny model, CPU); the orchestrator checks that need no server
run the real entry point against an unreachable one.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from rollout_files import RUN_ID, make_micro_batch, write_rollout, write_steps
from vllm_server import child_env, free_port, log_tail, stop_group

from prime_rl import layout
from prime_rl.config import ConfigError, load_config
from prime_rl.inference.config import InferenceConfig
from prime_rl.lifecycle import Heartbeat, Lifecycle, lifecycle_from_env
from prime_rl.trainer.errors import TrainerError
from prime_rl.trainer.rollouts import wait_for_rollout

PY = sys.executable
IDLE_LINE = "idling (IDLE_WHEN_DONE is set) until the pod is deleted"


def _clear_pod_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("IDLE_WHEN_DONE", "HEARTBEAT_FILE", "INFERENCE_PORT", "RUN_ID", "RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)


def _wait_for(predicate: object, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout} s waiting for {what}\n{log_tail(log) if log else ''}"
            )
        time.sleep(0.1)


def _files(root: Path) -> dict[str, int]:
    """Every file under `root` with its mtime: what a step would add or rewrite."""
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


# --- the environment -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("true", True), ("YES", True), ("0", False), ("false", False), ("No", False), ("", False)],
)
def test_idle_when_done_accepts_the_documented_words(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: bool
) -> None:
    _clear_pod_env(monkeypatch)
    monkeypatch.setenv("IDLE_WHEN_DONE", raw)
    assert Lifecycle.from_env().idle_when_done is expected


def test_unset_settings_mean_no_heartbeat_and_no_idling(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_pod_env(monkeypatch)
    assert Lifecycle.from_env() == Lifecycle(None, False)
    monkeypatch.setenv("HEARTBEAT_FILE", "/tmp/pod/heartbeat")
    assert Lifecycle.from_env().heartbeat_file == Path("/tmp/pod/heartbeat")


def test_bad_settings_are_config_errors_naming_variable_value_and_choices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _clear_pod_env(monkeypatch)
    monkeypatch.setenv("IDLE_WHEN_DONE", "maybe")
    with pytest.raises(
        ConfigError, match=r"IDLE_WHEN_DONE='maybe' is not a boolean \(expected 1, true or yes"
    ):
        Lifecycle.from_env()
    monkeypatch.delenv("IDLE_WHEN_DONE")
    monkeypatch.setenv("HEARTBEAT_FILE", "heartbeat")
    with pytest.raises(ConfigError, match=r"HEARTBEAT_FILE='heartbeat' is not an absolute path"):
        Lifecycle.from_env()


@pytest.mark.parametrize(
    ("module", "prog"),
    [
        ("prime_rl.trainer.rl.train", "trainer"),
        ("prime_rl.trainer.sft.train", "sft"),
        ("prime_rl.orchestrator.orchestrator", "orchestrator"),
    ],
)
def test_entry_points_exit_2_on_a_bad_setting_before_anything_runs(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    module: str,
    prog: str,
) -> None:
    import importlib

    _clear_pod_env(monkeypatch)
    monkeypatch.setenv("IDLE_WHEN_DONE", "2")
    with pytest.raises(SystemExit) as exc:
        importlib.import_module(module).main(["--output-dir", str(tmp_path)])
    assert exc.value.code == 2
    assert (
        f"{prog}: error: environment variable IDLE_WHEN_DONE='2' is not a boolean" in capsys.readouterr().err
    )
    assert list(tmp_path.iterdir()) == []


def test_inference_port_defaults_to_the_env_and_an_explicit_port_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _clear_pod_env(monkeypatch)
    assert InferenceConfig().server.port == 8000
    monkeypatch.setenv("INFERENCE_PORT", "9001")
    assert InferenceConfig().server.port == 9001
    assert load_config(InferenceConfig, ["--server.port", "8100"]).server.port == 8100
    monkeypatch.setenv("INFERENCE_PORT", "http")
    with pytest.raises(ConfigError, match=r"environment variable INFERENCE_PORT='http' is not an integer"):
        load_config(InferenceConfig, [])
    monkeypatch.setenv("INFERENCE_PORT", "70000")
    with pytest.raises(ConfigError, match=r"server.port=70000 is not a TCP port .*INFERENCE_PORT"):
        load_config(InferenceConfig, [])


# --- markers and heartbeat ----------------------------------------------------------------------


def test_finished_marker_is_whole_and_only_its_own_run_counts(tmp_path: Path) -> None:
    path = layout.write_finished(tmp_path, "trainer", "run-a", 3)
    assert path == tmp_path / "finished" / "trainer.json"
    assert sorted(p.name for p in path.parent.iterdir()) == ["trainer.json"]
    assert layout.finished_step(tmp_path, "trainer", "run-a") == 3
    assert layout.finished_step(tmp_path, "trainer", "run-b") is None
    assert layout.finished_step(tmp_path, "trainer", None) is None
    assert layout.finished_step(tmp_path, "orchestrator", "run-a") is None
    path.write_text("{torn")
    assert layout.finished_step(tmp_path, "trainer", "run-a") is None


def test_heartbeat_creates_its_directory_and_is_throttled(tmp_path: Path) -> None:
    path = tmp_path / "pod" / "state" / "heartbeat"
    heartbeat = Heartbeat(path, min_interval_s=0.3)
    heartbeat.beat()
    assert path.is_file() and path.read_bytes() == b""
    os.utime(path, (1, 1))
    heartbeat.beat()
    assert path.stat().st_mtime == 1  # within the interval: not touched again
    time.sleep(0.35)
    heartbeat.beat()
    assert time.time() - path.stat().st_mtime < 5


def test_waits_beat_while_they_wait(tmp_path: Path) -> None:
    path = tmp_path / "heartbeat"
    heartbeat = Heartbeat(path, min_interval_s=0.0, wait_beat_s=0.05)
    with pytest.raises(TrainerError, match=r"rollouts\.timeout"):
        wait_for_rollout(tmp_path / "rank_0.pt", 0.05, 0.2, heartbeat=heartbeat)
    assert path.is_file()

    os.utime(path, (1, 1))
    assert asyncio.run(heartbeat.during(asyncio.sleep(0.2, result="done"))) == "done"
    assert path.stat().st_mtime > 1

    async def cancelled_while_waiting() -> bool:
        inner = asyncio.ensure_future(asyncio.sleep(30))
        outer = asyncio.ensure_future(heartbeat.during(inner))
        await asyncio.sleep(0.1)
        outer.cancel()
        await asyncio.gather(outer, return_exceptions=True)
        return inner.cancelled()

    assert asyncio.run(cancelled_while_waiting())


def test_without_a_file_nothing_is_touched(tmp_path: Path) -> None:
    heartbeat = Heartbeat(None, wait_beat_s=0.01)
    heartbeat.beat()
    heartbeat.sleep(0.02)
    assert asyncio.run(heartbeat.during(asyncio.sleep(0, result=1))) == 1
    assert list(tmp_path.iterdir()) == []


# --- the RL trainer -----------------------------------------------------------------------------


def _trainer_args(model_dir: Path, out: Path, *extra: str) -> list[str]:
    return [
        "--model.name", str(model_dir), "--output-dir", str(out), "--rollouts.poll-interval", "0.05",
        "--run-id", RUN_ID, "--max-steps", "2", "--ckpt.interval", "2", *extra,
    ]  # fmt: skip


def _spawn(argv: list[str], log: Path, **env: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as fh:
        return subprocess.Popen(
            argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=child_env(**env),
            start_new_session=True,
        )  # fmt: skip


def _mtime(path: Path) -> float:
    return path.stat().st_mtime if path.exists() else 0.0


def _terminate(proc: subprocess.Popen[bytes], log: Path) -> int:
    os.kill(proc.pid, signal.SIGTERM)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        stop_group(proc, signal.SIGKILL)
        raise AssertionError(f"no exit within 30 s of SIGTERM\n{log_tail(log)}") from None


@pytest.mark.slow
def test_trainer_idles_when_done_and_a_restart_takes_no_step(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    heartbeat = tmp_path / "pod" / "heartbeat"
    pod_env = {"IDLE_WHEN_DONE": "1", "HEARTBEAT_FILE": str(heartbeat)}
    command = [PY, "-m", "prime_rl.trainer.rl.train", *_trainer_args(tiny_model_dir, out)]
    metrics = out / "logs" / "trainer" / "metrics.jsonl"
    write_steps(tiny_model_dir, out, range(1))

    log = tmp_path / "trainer.log"
    trainer = _spawn(command, log, **pod_env)
    try:
        _wait_for(
            lambda: metrics.is_file() and len(metrics.read_text().splitlines()) == 1, 120, "step 1", log
        )
        # Waiting for step 1's rollouts, the loop keeps beating.
        seen = _mtime(heartbeat)
        assert seen > 0
        _wait_for(lambda: _mtime(heartbeat) > seen, 15, "a beat while waiting for rollouts", log)
        write_steps(tiny_model_dir, out, range(1, 2), seed=1)
        _wait_for(lambda: IDLE_LINE in log.read_text(), 120, "the idle line", log)
        assert f"run {RUN_ID} finished at step 2; {IDLE_LINE}" in log.read_text()
        assert layout.finished_step(out, "trainer", RUN_ID) == 2
        assert layout.checkpoint_steps(out, "trainer", RUN_ID) == [2]
        assert (out / "weights" / "step_2" / "config.json").is_file()
        idle_since = _mtime(heartbeat)
        _wait_for(lambda: _mtime(heartbeat) > idle_since, 15, "a beat while idle", log)
        assert trainer.poll() is None, log_tail(log)
    except BaseException:
        stop_group(trainer, signal.SIGKILL)
        raise
    assert _terminate(trainer, log) == 0
    assert len(metrics.read_text().splitlines()) == 2

    # The pod restarts: same run, nothing redone; the heartbeat appears at once for the startup probe.
    before = _files(out)
    heartbeat.unlink()
    log2 = tmp_path / "trainer2.log"
    restarted = _spawn(command, log2, **pod_env)
    try:
        _wait_for(lambda: IDLE_LINE in log2.read_text(), 60, "the restart to idle", log2)
        _wait_for(heartbeat.is_file, 10, "the heartbeat of the idle restart", log2)
        assert restarted.poll() is None
    except BaseException:
        stop_group(restarted, signal.SIGKILL)
        raise
    assert _terminate(restarted, log2) == 0
    text = log2.read_text()
    assert (
        f"run {RUN_ID} already finished at step 2 ({out / 'finished' / 'trainer.json'}); {IDLE_LINE}" in text
    )
    assert "training run" not in text  # no step and no model: it stopped before loading anything
    assert _files(out) == before

    # Without IDLE_WHEN_DONE a restart exits 0 at once, again taking no step.
    from prime_rl.trainer.rl.train import main

    _clear_pod_env(monkeypatch)
    capsys.readouterr()
    main(_trainer_args(tiny_model_dir, out))
    assert f"run {RUN_ID} already finished at step 2" in capsys.readouterr().err
    assert _files(out) == before

    # A new run on the same volume ignores the old run's marker and trains.
    generator = torch.Generator().manual_seed(2)
    write_rollout(out, 0, 0, 1, [make_micro_batch(None, generator, 100)], run_id="second-run")
    main(_trainer_args(tiny_model_dir, out, "--run-id", "second-run", "--max-steps", "1"))
    assert layout.finished_step(out, "trainer", "second-run") == 1
    assert layout.finished_step(out, "trainer", RUN_ID) is None


# --- SFT ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_sft_records_its_run_and_a_restart_takes_no_step(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from prime_rl.trainer.sft.train import main

    _clear_pod_env(monkeypatch)
    heartbeat = tmp_path / "pod" / "heartbeat"
    monkeypatch.setenv("HEARTBEAT_FILE", str(heartbeat))
    monkeypatch.setenv("RUN_ID", "sft-run")
    args = [
        "--model.name", str(tiny_model_dir), "--output-dir", str(tmp_path / "out"),
        "--data.seq-len", "96", "--data.batch-size", "2", "--data.env", "fixed-answer",
        "--data.num-examples", "8", "--max-steps", "2",
    ]  # fmt: skip
    main(args)
    assert layout.finished_step(tmp_path / "out", "sft", "sft-run") == 2
    assert heartbeat.is_file()
    before = _files(tmp_path / "out")
    capsys.readouterr()
    main(args)
    assert "run sft-run already finished at step 2" in capsys.readouterr().err
    assert _files(tmp_path / "out") == before


# --- the orchestrator without a server ----------------------------------------------------------


def _orchestrator(model_dir: Path, out: Path, *extra: str, **env: str) -> subprocess.CompletedProcess[str]:
    url = f"http://127.0.0.1:{free_port()}/v1"
    argv = [
        PY, "-m", "prime_rl.orchestrator.orchestrator", "--model.name", str(model_dir),
        "--output-dir", str(out), "--environment.id", "fixed-answer",
        "--client.urls", f'["{url}"]', "--client.health-timeout-s", "1", "--client.backoff-initial-s", "0.1",
        "--batch-size", "4", "--rollouts-per-example", "2", "--max-steps", "2", *extra,
    ]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, env=child_env(**env), timeout=120)


@pytest.mark.slow
def test_a_finished_orchestrator_restart_touches_neither_volume_nor_servers(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    layout.write_run(out, "run-o")
    layout.write_finished(out, "orchestrator", "run-o", 2)
    before = _files(out)
    # Even without resume_step (which would otherwise start run-o anew) and with no server up.
    result = _orchestrator(tiny_model_dir, out, RUN_ID="run-o")
    assert result.returncode == 0, result.stderr
    assert "run run-o already finished at step 2" in result.stderr
    assert _files(out) == before


@pytest.mark.slow
def test_a_failing_orchestrator_fails_even_with_idle_when_done(tiny_model_dir: Path, tmp_path: Path) -> None:
    """Another run's marker is ignored, the failure exits 1 instead of idling, and the heartbeat
    started once initialisation was done."""
    out = tmp_path / "out"
    layout.write_finished(out, "orchestrator", "old-run", 2)
    heartbeat = tmp_path / "pod" / "heartbeat"
    result = _orchestrator(
        tiny_model_dir, out, RUN_ID="new-run", IDLE_WHEN_DONE="1", HEARTBEAT_FILE=str(heartbeat)
    )
    assert result.returncode == 1, result.stderr
    assert "orchestrator: error: inference server" in result.stderr
    assert "idling" not in result.stderr
    assert heartbeat.is_file()
    assert layout.read_run(out)["run_id"] == "new-run"
    assert layout.finished_step(out, "orchestrator", "new-run") is None


def test_a_restarted_process_removes_its_predecessors_heartbeat(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The pod's /tmp outlives a container restart: the startup probe must wait for the new loop."""
    stale = tmp_path / "prime-rl" / "heartbeat"
    Heartbeat(stale).beat()
    monkeypatch.setenv("HEARTBEAT_FILE", str(stale))
    lifecycle = lifecycle_from_env("trainer")
    assert lifecycle.heartbeat_file == stale
    assert not stale.exists()
