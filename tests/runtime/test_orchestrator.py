"""Orchestrator pieces that need no inference server: config, data order, checkpoints, files, errors."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from prime_rl.config import ConfigError, load_config
from prime_rl.orchestrator.client import InferenceClient, InferenceError, server_root
from prime_rl.orchestrator.config import ClientConfig, OrchestratorConfig
from prime_rl.orchestrator.orchestrator import (
    ExampleStream,
    OrchestratorError,
    clear_stale_outputs,
    load_checkpoint,
    resolve_resume_step,
    save_checkpoint,
    write_rollouts,
)
from prime_rl.orchestrator.packing import TrainSample, pack_samples
from prime_rl.orchestrator.weights import broadcast_dir, latest_stable, stable_broadcasts, wait_for_broadcast

ORCHESTRATOR = [sys.executable, "-m", "prime_rl.orchestrator.orchestrator"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in ("TRAINER_WORLD_SIZE", "INFERENCE_URLS")}
    full_env.update(env or {})
    return subprocess.run([*ORCHESTRATOR, *args], capture_output=True, text=True, env=full_env, timeout=120)


# --- config ------------------------------------------------------------------------------------


def test_inference_urls_default_to_the_manifest_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFERENCE_URLS", "http://a:8000/v1, http://b:8000/v1")
    monkeypatch.setenv("INFERENCE_URL", "http://ignored:8000/v1")
    assert OrchestratorConfig().client.urls == ["http://a:8000/v1", "http://b:8000/v1"]
    monkeypatch.delenv("INFERENCE_URLS")
    assert OrchestratorConfig().client.urls == ["http://ignored:8000/v1"]
    monkeypatch.delenv("INFERENCE_URL")
    assert OrchestratorConfig().client.urls == ["http://localhost:8000/v1"]


def test_num_train_workers_defaults_to_the_trainer_world_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAINER_WORLD_SIZE", "4")
    assert OrchestratorConfig().num_train_workers == 4
    monkeypatch.delenv("TRAINER_WORLD_SIZE")
    assert OrchestratorConfig().num_train_workers == 1


def test_off_policy_limit_defaults_to_the_async_level() -> None:
    config = load_config(OrchestratorConfig, ["--max-async-level", "2"])
    assert config.off_policy_limit == 2
    assert load_config(OrchestratorConfig, ["--max-off-policy-steps", "5"]).off_policy_limit == 5


def test_fails_when_batch_size_is_not_a_multiple_of_rollouts_per_example() -> None:
    with pytest.raises(
        ConfigError, match=r"'batch_size': 10 \(expected a multiple of rollouts_per_example=4\)"
    ):
        load_config(OrchestratorConfig, ["--batch-size", "10", "--rollouts-per-example", "4"])


def test_fails_when_max_off_policy_steps_is_below_the_async_level() -> None:
    with pytest.raises(
        ConfigError, match=r"'max_off_policy_steps': 0 \(expected None or >= max_async_level=1\)"
    ):
        load_config(OrchestratorConfig, ["--max-off-policy-steps", "0"])


@pytest.mark.parametrize(
    ("option", "value"),
    [("--sampling.top-k", "20"), ("--sampling.top-p", "0.95"), ("--sampling.min-p", "0.05")],
)
def test_fails_on_truncated_sampling_saying_why(option: str, value: str) -> None:
    with pytest.raises(
        ConfigError, match=r"would truncate the sampling distribution, but the trainer scores the full"
    ):
        load_config(OrchestratorConfig, [option, value])


def test_neutral_sampling_values_are_accepted_and_the_async_level_comes_from_the_env(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAX_ASYNC_LEVEL", "3")
    config = load_config(OrchestratorConfig, ["--sampling.top-k", "-1", "--sampling.top-p", "1.0"])
    assert (config.sampling.top_k, config.sampling.top_p, config.max_async_level) == (-1, 1.0, 3)


def test_fails_on_a_url_without_scheme() -> None:
    with pytest.raises(ConfigError, match=r"'client.urls': 'localhost:8000/v1'"):
        load_config(OrchestratorConfig, ["--client.urls", '["localhost:8000/v1"]'])


def test_fails_when_num_train_workers_disagrees_with_the_trainer_world_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRAINER_WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match=r"'num_train_workers': 1 \(the trainer world size .* is 2"):
        load_config(OrchestratorConfig, ["--num-train-workers", "1"])


def test_fails_at_start_up_on_num_train_workers_mismatch() -> None:
    result = _run(["--num-train-workers", "3"], env={"TRAINER_WORLD_SIZE": "2"})
    assert result.returncode == 2
    assert "num_train_workers" in result.stderr and "TRAINER_WORLD_SIZE is 2" in result.stderr
    assert "Traceback" not in result.stderr


# --- data order and checkpoints ------------------------------------------------------------------


def test_example_stream_is_a_permutation_per_epoch_and_resumes_exactly() -> None:
    examples = list("abcde")
    stream = ExampleStream(examples, seed=3)
    first = [stream.next()[1] for _ in range(10)]
    assert sorted(first[:5]) == examples and sorted(first[5:]) == examples
    resumed = ExampleStream(examples, seed=3, position=7)
    assert [resumed.next()[1] for _ in range(3)] == first[7:10]


def test_fails_on_an_environment_without_examples() -> None:
    with pytest.raises(OrchestratorError, match="no examples"):
        ExampleStream([], seed=0)


def test_checkpoint_round_trip_and_latest(tmp_path: Path) -> None:
    save_checkpoint(tmp_path, 2, data_position=16, seed=0)
    save_checkpoint(tmp_path, 4, data_position=32, seed=0)
    assert resolve_resume_step(tmp_path, -1) == 4
    assert resolve_resume_step(tmp_path, 2) == 2
    assert resolve_resume_step(tmp_path, None) is None
    assert load_checkpoint(tmp_path, 4) == {"step": 4, "data_position": 32, "seed": 0, "run_id": None}
    assert not list(tmp_path.rglob("*.tmp"))


def test_latest_with_no_checkpoint_is_a_fresh_start(tmp_path: Path) -> None:
    assert resolve_resume_step(tmp_path, -1) is None


def test_fails_to_resume_from_a_missing_checkpoint(tmp_path: Path) -> None:
    save_checkpoint(tmp_path, 2, data_position=16, seed=0)
    with pytest.raises(OrchestratorError, match=r"no orchestrator checkpoint for step 3 .*available: \[2\]"):
        resolve_resume_step(tmp_path, 3)


def test_fresh_start_clears_stale_rollouts_and_broadcasts(tmp_path: Path) -> None:
    (tmp_path / "rollouts" / "step_0").mkdir(parents=True)
    (tmp_path / "broadcasts" / "step_1").mkdir(parents=True)
    (tmp_path / "broadcasts" / "step_1" / "STABLE").touch()
    (tmp_path / "checkpoints" / "step_1").mkdir(parents=True)
    clear_stale_outputs(tmp_path)
    assert not (tmp_path / "rollouts").exists() and not (tmp_path / "broadcasts").exists()
    assert (tmp_path / "checkpoints" / "step_1").is_dir()


# --- rollout files and broadcasts ---------------------------------------------------------------


def test_rollout_files_follow_the_contract(tmp_path: Path) -> None:
    samples = [TrainSample([1, 2, 3], [False, True, True], [0.0, -0.1, -0.2], 0.5) for _ in range(3)]
    packed = pack_samples(samples, seq_len=6, num_ranks=2, temperature=0.9)
    write_rollouts(tmp_path, 5, packed.ranks)
    for rank in range(2):
        data = torch.load(tmp_path / "rollouts" / "step_5" / f"rank_{rank}.pt", weights_only=True)
        assert (data["step"], data["rank"], data["world_size"]) == (5, rank, 2)
        assert len(data["micro_batches"]) == 1
        assert data["micro_batches"][0]["temperature"] == 0.9
    assert sorted(p.name for p in (tmp_path / "rollouts" / "step_5").iterdir()) == ["rank_0.pt", "rank_1.pt"]


def test_a_broadcast_without_stable_is_never_listed(tmp_path: Path) -> None:
    for step in (1, 2):
        broadcast_dir(tmp_path, step).mkdir(parents=True)
        (broadcast_dir(tmp_path, step) / "model.safetensors").write_bytes(b"partial")
    (broadcast_dir(tmp_path, 1) / "STABLE").touch()
    (tmp_path / "broadcasts" / "step_3.tmp").mkdir()
    assert stable_broadcasts(tmp_path) == [1]
    assert latest_stable(tmp_path) == 1


def test_waiting_for_a_broadcast_ignores_a_torn_one_until_stable(tmp_path: Path) -> None:
    async def go() -> int:
        broadcast_dir(tmp_path, 2).mkdir(parents=True)
        waiter = asyncio.ensure_future(wait_for_broadcast(tmp_path, 2, poll_interval_s=0.01))
        await asyncio.sleep(0.1)
        assert not waiter.done()
        (broadcast_dir(tmp_path, 2) / "STABLE").touch()
        return await asyncio.wait_for(waiter, timeout=10)

    assert asyncio.run(go()) == 2


# --- client errors (no server) ------------------------------------------------------------------


def test_server_root_strips_v1() -> None:
    assert server_root("http://pod-0.svc:8000/v1/") == "http://pod-0.svc:8000"


def test_fails_on_unreachable_url_after_retries_naming_it() -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    config = ClientConfig(urls=[url], health_timeout_s=1.0, backoff_initial_s=0.05, backoff_max_s=0.2)

    async def go() -> None:
        client = InferenceClient(url, "m", config)
        try:
            await client.wait_healthy()
        finally:
            await client.aclose()

    with pytest.raises(
        InferenceError, match=rf"inference server {url} unreachable.*attempts, last: ConnectError"
    ):
        asyncio.run(go())


@pytest.mark.slow
def test_orchestrator_exits_with_a_clear_error_on_unreachable_url(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    result = _run(
        [
            "--model.name", str(tiny_model_dir),
            "--client.urls", f'["{url}"]',
            "--client.health-timeout-s", "1",
            "--client.backoff-initial-s", "0.1",
            "--output-dir", str(tmp_path),
            "--batch-size", "4", "--rollouts-per-example", "2",
        ]
    )  # fmt: skip
    assert result.returncode == 1
    assert f"orchestrator: error: inference server {url} unreachable" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "rollouts").exists()
