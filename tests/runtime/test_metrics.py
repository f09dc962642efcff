"""Prometheus metrics on METRICS_PORT: the setting, the served values, and the real trainer and
orchestrator serving them (trainer: tiny model on CPU; orchestrator: a finished run, no server)."""

from __future__ import annotations

import json
import math
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from rollout_files import RUN_ID, write_steps
from vllm_server import child_env, free_port, log_tail, stop_group

from prime_rl import layout
from prime_rl.config import ConfigError
from prime_rl.lifecycle import Lifecycle
from prime_rl.metrics import (
    METRIC_NAMES,
    MetricsServerError,
    OrchestratorMetrics,
    TrainerMetrics,
    serve_trainer_metrics,
)
from prime_rl.orchestrator.orchestrator import _step_metrics

PY = sys.executable


@pytest.fixture(autouse=True)
def _no_pod_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process entry points read the pod settings: none may leak in from the machine."""
    for name in ("METRICS_PORT", "IDLE_WHEN_DONE", "HEARTBEAT_FILE", "RUN_ID", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert response.status == 200
        return response.read().decode()


def _samples(text: str) -> dict[str, float]:
    """`name{labels}` -> value of every sample line of a text exposition."""
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            samples[key] = float(value)
    return samples


def _scrape_until(
    port: int, key: str, value: float, timeout: float, proc: subprocess.Popen[bytes], log: Path
):
    """The samples once `key` equals `value` (the process keeps running meanwhile)."""
    deadline = time.monotonic() + timeout
    seen: dict[str, float] = {}
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"exited with {proc.returncode} before {key} reached {value}\n{log_tail(log)}"
            )
        try:
            seen = _samples(_scrape(port))
        except (urllib.error.URLError, ConnectionError):
            seen = {}
        if seen.get(key) == value:
            return seen
        time.sleep(0.1)
    raise AssertionError(
        f"{key} never reached {value} within {timeout} s (last {seen.get(key)})\n{log_tail(log)}"
    )


def _spawn(argv: list[str], log: Path, **env: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as fh:
        return subprocess.Popen(
            argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=child_env(**env),
            start_new_session=True,
        )  # fmt: skip


def _terminate(proc: subprocess.Popen[bytes], log: Path) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        stop_group(proc, signal.SIGKILL)
        raise AssertionError(f"no exit within 30 s of SIGTERM\n{log_tail(log)}") from None


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


# --- the setting ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [("9464", 9464), (" 1 ", 1), ("65535", 65535), ("", None)])
def test_metrics_port_accepts_ports_and_empty(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: int | None
) -> None:
    monkeypatch.setenv("METRICS_PORT", raw)
    assert Lifecycle.from_env().metrics_port == expected


def test_metrics_port_unset_means_no_server() -> None:
    assert Lifecycle.from_env().metrics_port is None


@pytest.mark.parametrize("raw", ["0", "65536", "-1", "http", "9464.5", "8080,8081"])
def test_a_bad_metrics_port_names_variable_value_and_range(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("METRICS_PORT", raw)
    expected = (
        f"environment variable METRICS_PORT={raw!r} is not a TCP port (expected an integer from 1 to 65535"
    )
    with pytest.raises(ConfigError) as exc:
        Lifecycle.from_env()
    assert expected in str(exc.value)
    assert "unset or empty to turn it off" in str(exc.value)


@pytest.mark.parametrize(
    ("module", "prog"),
    [
        ("prime_rl.trainer.rl.train", "trainer"),
        ("prime_rl.trainer.sft.train", "sft"),
        ("prime_rl.orchestrator.orchestrator", "orchestrator"),
    ],
)
def test_entry_points_exit_2_on_a_bad_metrics_port(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    module: str,
    prog: str,
) -> None:
    import importlib

    monkeypatch.setenv("METRICS_PORT", "99999")
    with pytest.raises(SystemExit) as exc:
        importlib.import_module(module).main(["--output-dir", str(tmp_path)])
    assert exc.value.code == 2
    assert (
        f"{prog}: error: environment variable METRICS_PORT='99999' is not a TCP port"
        in capsys.readouterr().err
    )
    assert list(tmp_path.iterdir()) == []


# --- the metrics ----------------------------------------------------------------------------------


def test_the_name_tuple_is_exactly_what_the_roles_export() -> None:
    families = [m for role in (TrainerMetrics(), OrchestratorMetrics()) for m in role.registry.collect()]
    assert {m.name for m in families} == set(METRIC_NAMES)
    assert len(set(METRIC_NAMES)) == len(METRIC_NAMES)
    for family in families:
        assert family.name.startswith("prime_rl_")
        assert len(family.documentation) > 20, family.name


def test_each_role_exports_only_its_own_metrics() -> None:
    trainer = {m.name for m in TrainerMetrics().registry.collect()}
    orchestrator = {m.name for m in OrchestratorMetrics().registry.collect()}
    assert trainer & orchestrator == {"prime_rl_run_info"}
    assert all(not name.startswith("prime_rl_orchestrator_") for name in trainer)
    assert all(not name.startswith("prime_rl_trainer_") for name in orchestrator)


_SERVER_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from prime_rl.metrics import serve_orchestrator_metrics, serve_trainer_metrics

    port, role = int(sys.argv[1]), sys.argv[2]
    if role == "trainer":
        m = serve_trainer_metrics(port, 0)
        m.set_run("run-a")
        step = {"loss": 0.25, "entropy": 1.5, "grad_norm": 0.75, "lr": 1e-5, "mismatch_kl": 2e-4,
                "masked_fraction": 0.125, "tokens_per_s": 4096.0, "tokens": 512.0, "step_time_s": 3.0,
                "peak_memory_gib": 2.0}
        m.observe_step(1, step)
        m.observe_step(2, {**step, "loss": -0.5, "step_time_s": 7.0})
    else:
        m = serve_orchestrator_metrics(port)
        m.set_run("run-b")
        m.observe_step({"step": 4, "reward": 0.625, "tokens_per_s": 300.0, "completion_tokens": 96,
                        "samples": 8, "off_policy_level": 1, "policy_version": 4, "weight_wait_s": 0.5,
                        "step_time_s": 12.0})
    print("ready", flush=True)
    time.sleep(60)
    """
)


def _serve_in_subprocess(role: str) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    proc = subprocess.Popen(
        [PY, "-c", _SERVER_SCRIPT, str(port), role], stdout=subprocess.PIPE, text=True, env=child_env()
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc, port


def test_the_trainer_server_serves_its_values_over_http() -> None:
    proc, port = _serve_in_subprocess("trainer")
    try:
        text = _scrape(port)
    finally:
        proc.kill()
        proc.wait()
    samples = _samples(text)
    assert samples['prime_rl_run_info{role="trainer",run_id="run-a"}'] == 1
    assert sum(key.startswith("prime_rl_run_info") for key in samples) == 1  # the unknown run is gone
    assert samples["prime_rl_trainer_step"] == 2
    assert samples["prime_rl_trainer_loss"] == -0.5
    assert samples["prime_rl_trainer_mismatch_kl"] == 2e-4
    assert samples["prime_rl_trainer_masked_fraction"] == 0.125
    assert samples["prime_rl_trainer_tokens_per_second"] == 4096
    assert samples["prime_rl_trainer_tokens_total"] == 1024
    assert samples["prime_rl_trainer_step_duration_seconds_count"] == 2
    assert samples["prime_rl_trainer_step_duration_seconds_sum"] == 10
    assert samples['prime_rl_trainer_step_duration_seconds_bucket{le="5.0"}'] == 1
    assert samples["prime_rl_trainer_peak_memory_bytes"] == 2 * 2**30
    assert "# HELP prime_rl_trainer_loss Loss of the last step" in text
    assert "# TYPE prime_rl_trainer_tokens_total counter" in text
    assert "prime_rl_orchestrator" not in text


def test_the_orchestrator_server_serves_its_values_over_http() -> None:
    proc, port = _serve_in_subprocess("orchestrator")
    try:
        samples = _samples(_scrape(port))
    finally:
        proc.kill()
        proc.wait()
    assert samples['prime_rl_run_info{role="orchestrator",run_id="run-b"}'] == 1
    assert samples["prime_rl_orchestrator_step"] == 5
    assert samples["prime_rl_orchestrator_reward"] == 0.625
    assert samples["prime_rl_orchestrator_tokens_per_second"] == 300
    assert samples["prime_rl_orchestrator_completion_tokens_total"] == 96
    assert samples["prime_rl_orchestrator_rollouts_total"] == 8
    assert samples["prime_rl_orchestrator_async_lag_steps"] == 1
    assert samples["prime_rl_orchestrator_policy_version"] == 4
    assert samples["prime_rl_orchestrator_weight_wait_seconds"] == 0.5
    assert samples["prime_rl_orchestrator_step_duration_seconds_sum"] == 12


def test_values_of_no_step_yet_are_nan_not_zero() -> None:
    """A dashboard shows a gap, not a loss or reward of 0, before the first step."""
    for role, name in (
        (TrainerMetrics(), "prime_rl_trainer_loss"),
        (OrchestratorMetrics(), "prime_rl_orchestrator_reward"),
    ):
        value = role.registry.get_sample_value(name)
        assert value is not None and math.isnan(value)
    assert TrainerMetrics().registry.get_sample_value("prime_rl_trainer_step") == 0


def test_the_orchestrator_record_feeds_its_metrics() -> None:
    """The keys the loop's record really has, from the function that builds it."""
    from types import SimpleNamespace

    rollouts = [
        SimpleNamespace(
            reward=r, completion_len=n, input_ids=[0] * (n + 4), num_turns=1, truncated=False, scores={}
        )
        for r, n in ((1.0, 6), (0.0, 10))
    ]
    groups = [SimpleNamespace(version=2), SimpleNamespace(version=3)]
    record = _step_metrics(4, rollouts, groups, 3, elapsed=2.0, weight_wait=0.25)
    metrics = OrchestratorMetrics()
    metrics.observe_step(record)
    get = metrics.registry.get_sample_value
    assert get("prime_rl_orchestrator_step") == 5
    assert get("prime_rl_orchestrator_reward") == 0.5
    assert get("prime_rl_orchestrator_completion_tokens_total") == 16
    assert get("prime_rl_orchestrator_tokens_per_second") == 8
    assert get("prime_rl_orchestrator_async_lag_steps") == 2  # step 4 sampled partly by policy 2
    assert get("prime_rl_orchestrator_policy_version") == 3


def test_a_taken_port_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(
            MetricsServerError, match=rf"cannot serve metrics on 0.0.0.0:{port} \(METRICS_PORT={port}\)"
        ):
            TrainerMetrics().serve(port)


def test_only_local_rank_0_serves() -> None:
    port = free_port()
    serve_trainer_metrics(port, local_rank=1)
    serve_trainer_metrics(None, local_rank=0)
    assert _port_is_free(port)


# --- the real trainer and orchestrator ------------------------------------------------------------


def _trainer_args(model_dir: Path, out: Path, *extra: str) -> list[str]:
    return [
        "--model.name", str(model_dir), "--output-dir", str(out), "--rollouts.poll-interval", "0.05",
        "--run-id", RUN_ID, "--max-steps", "1", *extra,
    ]  # fmt: skip


def test_the_trainer_serves_step_and_loss_while_it_idles(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_steps(tiny_model_dir, out, range(1))
    port = free_port()
    log = tmp_path / "trainer.log"
    command = [PY, "-m", "prime_rl.trainer.rl.train", *_trainer_args(tiny_model_dir, out)]
    trainer = _spawn(command, log, METRICS_PORT=str(port), IDLE_WHEN_DONE="1", LOCAL_RANK="0")
    try:
        samples = _scrape_until(port, "prime_rl_trainer_step", 1, 120, trainer, log)
    except BaseException:
        stop_group(trainer, signal.SIGKILL)
        raise
    assert _terminate(trainer, log) == 0
    logged = json.loads((out / "logs" / "trainer" / "metrics.jsonl").read_text().splitlines()[0])
    assert samples["prime_rl_trainer_loss"] == pytest.approx(logged["loss"], rel=1e-12, abs=1e-15)
    assert samples["prime_rl_trainer_mismatch_kl"] == pytest.approx(
        logged["mismatch_kl"], rel=1e-12, abs=1e-15
    )
    assert samples["prime_rl_trainer_tokens_total"] == logged["tokens"]
    assert samples["prime_rl_trainer_step_duration_seconds_count"] == 1
    assert samples[f'prime_rl_run_info{{role="trainer",run_id="{RUN_ID}"}}'] == 1


def test_a_trainer_whose_port_is_taken_exits_1_naming_it(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from prime_rl.trainer.rl.train import main

    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("METRICS_PORT", str(port))
        with pytest.raises(SystemExit) as exc:
            main(_trainer_args(tiny_model_dir, tmp_path / "out"))
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert f"trainer: error: cannot serve metrics on 0.0.0.0:{port} (METRICS_PORT={port})" in err
    assert "Traceback" not in err


def test_a_finished_orchestrator_keeps_serving_its_run_while_it_idles(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    layout.write_run(out, "run-o")
    layout.write_finished(out, "orchestrator", "run-o", 2)
    port = free_port()
    log = tmp_path / "orchestrator.log"
    command = [
        PY, "-m", "prime_rl.orchestrator.orchestrator", "--model.name", str(tiny_model_dir),
        "--output-dir", str(out), "--environment.id", "fixed-answer",
        "--client.urls", f'["http://127.0.0.1:{free_port()}/v1"]', "--max-steps", "2",
    ]  # fmt: skip
    orchestrator = _spawn(command, log, METRICS_PORT=str(port), IDLE_WHEN_DONE="1", RUN_ID="run-o")
    try:
        samples = _scrape_until(
            port, 'prime_rl_run_info{role="orchestrator",run_id="run-o"}', 1, 60, orchestrator, log
        )
    except BaseException:
        stop_group(orchestrator, signal.SIGKILL)
        raise
    assert _terminate(orchestrator, log) == 0
    assert samples["prime_rl_orchestrator_step"] == 2
