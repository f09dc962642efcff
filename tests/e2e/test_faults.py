"""Faults with the real components: killed trainer, restarted inference, torn writes, bad input."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from e2e_support import PY, orchestrator_toml, read_jsonl, spawn, trainer_toml, wait_exit, wait_for
from vllm_server import InferenceServer, child_env, free_port, log_tail, stop_group

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

ORCHESTRATOR = [PY, "-m", "prime_rl.orchestrator.orchestrator"]
TRAINER = [PY, "-m", "prime_rl.trainer.rl.train"]
STEPS = 8


def _configs(tmp_path: Path, server: InferenceServer, **orch: object) -> tuple[Path, Path, Path]:
    out = tmp_path / "outputs"
    settings = {"max_steps": STEPS, **orch}
    (tmp_path / "orch.toml").write_text(orchestrator_toml(out, server.model_dir, server.v1_url, **settings))
    (tmp_path / "train.toml").write_text(trainer_toml(out, server.model_dir, max_steps=STEPS))
    return out, tmp_path / "orch.toml", tmp_path / "train.toml"


def _steps(path: Path) -> list[int]:
    return [m["step"] for m in read_jsonl(path)]


def test_trainer_killed_and_resumed_loses_and_repeats_no_step(
    base_server: InferenceServer, tmp_path: Path
) -> None:
    out, orch, train = _configs(tmp_path, base_server)
    logs = {
        "orchestrator": tmp_path / "orchestrator.log",
        "trainer": tmp_path / "trainer.log",
        "resumed": tmp_path / "trainer-resumed.log",
    }
    trainer_metrics = out / "logs" / "trainer" / "metrics.jsonl"
    orchestrator = spawn([*ORCHESTRATOR, "@", str(orch)], logs["orchestrator"])
    trainer = spawn([*TRAINER, "@", str(train), "--ckpt.interval", "1"], logs["trainer"])
    try:
        wait_for(lambda: len(_steps(trainer_metrics)) >= 3, 300, "three trainer steps")
    except AssertionError:
        stop_group(orchestrator, signal.SIGKILL)
        stop_group(trainer, signal.SIGKILL)
        raise AssertionError(log_tail(logs["trainer"]) + log_tail(logs["orchestrator"])) from None
    stop_group(trainer, signal.SIGKILL)
    before = _steps(trainer_metrics)

    resume_args = ["--ckpt.interval", "1", "--ckpt.resume-step", "-1"]
    resumed = spawn([*TRAINER, "@", str(train), *resume_args], logs["resumed"])
    codes = wait_exit({"orchestrator": orchestrator, "resumed": resumed}, timeout=600, logs=logs)
    assert codes == {"orchestrator": 0, "resumed": 0}

    match = re.search(r"resumed from checkpoint step (\d+)", logs["resumed"].read_text())
    assert match, log_tail(logs["resumed"])
    resume_step = int(match.group(1))
    after = _steps(trainer_metrics)[len(before) :]
    # The resumed trainer continues exactly after its checkpoint and runs to the end; the killed run
    # logged at most the one step whose checkpoint the kill interrupted.
    assert before == list(range(1, len(before) + 1))
    assert after == list(range(resume_step + 1, STEPS + 1))
    assert len(before) - resume_step in (0, 1)
    assert _steps(out / "logs" / "orchestrator" / "metrics.jsonl") == list(range(STEPS))


def test_orchestrator_and_trainer_killed_together_resume_from_their_checkpoints(
    base_server: InferenceServer, tmp_path: Path
) -> None:
    out, orch, train = _configs(tmp_path, base_server, keep_rollouts=True)
    logs = {name: tmp_path / f"{name}.log" for name in ("orchestrator", "trainer", "orch2", "train2")}
    orchestrator_metrics = out / "logs" / "orchestrator" / "metrics.jsonl"
    trainer_metrics = out / "logs" / "trainer" / "metrics.jsonl"
    first = {
        "orchestrator": spawn([*ORCHESTRATOR, "@", str(orch), "--ckpt.interval", "1"], logs["orchestrator"]),
        "trainer": spawn([*TRAINER, "@", str(train), "--ckpt.interval", "1"], logs["trainer"]),
    }
    try:
        wait_for(lambda: len(_steps(trainer_metrics)) >= 3, 300, "three trainer steps")
    finally:
        for proc in first.values():
            stop_group(proc, signal.SIGKILL)
    orchestrator_before, trainer_before = _steps(orchestrator_metrics), _steps(trainer_metrics)

    resume = ["--ckpt.interval", "1", "--ckpt.resume-step", "-1"]
    second = {
        "orch2": spawn([*ORCHESTRATOR, "@", str(orch), *resume], logs["orch2"]),
        "train2": spawn([*TRAINER, "@", str(train), *resume], logs["train2"]),
    }
    assert wait_exit(second, timeout=600, logs=logs) == {"orch2": 0, "train2": 0}

    orchestrator_resume = re.search(r"resumed from checkpoint step (\d+)", logs["orch2"].read_text())
    trainer_resume = re.search(r"resumed from checkpoint step (\d+)", logs["train2"].read_text())
    assert orchestrator_resume and trainer_resume
    n_orch, n_train = int(orchestrator_resume.group(1)), int(trainer_resume.group(1))
    assert _steps(orchestrator_metrics)[len(orchestrator_before) :] == list(range(n_orch, STEPS))
    assert _steps(trainer_metrics)[len(trainer_before) :] == list(range(n_train + 1, STEPS + 1))
    assert len(orchestrator_before) - n_orch in (0, 1) and len(trainer_before) - n_train in (0, 1)
    for step in range(STEPS):
        assert (out / "rollouts" / f"step_{step}" / "rank_0.pt").is_file()


def test_inference_killed_and_restarted_orchestrator_waits_and_carries_on(
    base_server: InferenceServer, tmp_path: Path
) -> None:
    out, orch, train = _configs(tmp_path, base_server)
    logs = {"orchestrator": tmp_path / "orchestrator.log", "trainer": tmp_path / "trainer.log"}
    orchestrator_metrics = out / "logs" / "orchestrator" / "metrics.jsonl"
    procs = {
        "orchestrator": spawn([*ORCHESTRATOR, "@", str(orch)], logs["orchestrator"]),
        "trainer": spawn([*TRAINER, "@", str(train)], logs["trainer"]),
    }
    try:
        wait_for(lambda: len(_steps(orchestrator_metrics)) >= 3, 300, "three orchestrator steps")
    except AssertionError:
        for proc in procs.values():
            stop_group(proc, signal.SIGKILL)
        raise
    base_server.kill()
    time.sleep(2)
    assert all(proc.poll() is None for proc in procs.values()), "a component died with the server"
    base_server.start()
    assert wait_exit(procs, timeout=600, logs=logs) == {"orchestrator": 0, "trainer": 0}
    assert _steps(orchestrator_metrics) == list(range(STEPS))
    text = logs["orchestrator"].read_text()
    assert "went away; waiting for it to come back" in text
    assert f"inference server {base_server.v1_url} is back" in text
    assert _steps(out / "logs" / "trainer" / "metrics.jsonl") == list(range(1, STEPS + 1))


def test_a_torn_broadcast_is_never_loaded(base_server: InferenceServer, tmp_path: Path) -> None:
    """A broadcast directory without STABLE is invisible; once STABLE appears it is loaded."""
    from safetensors.torch import load_file, save_file

    from prime_rl.orchestrator.client import InferenceClient
    from prime_rl.orchestrator.config import ClientConfig
    from prime_rl.orchestrator.weights import WeightSync

    prompt = [1, 11, 22, 33, 44]
    base = base_server.greedy_logprobs(prompt)
    weights = load_file(str(base_server.model_dir / "model.safetensors"))
    broadcast = tmp_path / "broadcasts" / "step_1"
    broadcast.mkdir(parents=True)
    save_file({k: v * 1.5 for k, v in weights.items()}, str(broadcast / "model.safetensors"))

    async def ensure(timeout: float) -> int:
        config = ClientConfig(urls=[base_server.v1_url])
        client = InferenceClient(base_server.v1_url, str(base_server.model_dir), config)
        sync = WeightSync([client], tmp_path, poll_interval_s=0.05)
        try:
            return await asyncio.wait_for(sync.ensure(1), timeout)
        finally:
            await client.aclose()

    with pytest.raises(TimeoutError):
        asyncio.run(ensure(1.0))
    assert base_server.greedy_logprobs(prompt) == pytest.approx(base, abs=1e-4)
    (broadcast / "STABLE").touch()
    assert asyncio.run(ensure(60.0)) == 1
    assert base_server.greedy_logprobs(prompt) != pytest.approx(base, abs=1e-3)


def test_a_torn_rollout_file_is_never_read(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The trainer waits past a half-written rank_0.pt.tmp and trains once the renamed file appears."""
    from prime_rl.orchestrator.orchestrator import write_rollouts
    from prime_rl.orchestrator.packing import TrainSample, pack_samples

    out = tmp_path / "outputs"
    (tmp_path / "train.toml").write_text(trainer_toml(out, tiny_model_dir, max_steps=1))
    torn = out / "rollouts" / "step_0" / "rank_0.pt.tmp"
    torn.parent.mkdir(parents=True)
    torn.write_bytes(b"PK\x03\x04 half a torch.save")
    log = tmp_path / "trainer.log"
    trainer = spawn([*TRAINER, "@", str(tmp_path / "train.toml"), "--run-id", "torn"], log)
    try:
        # The trainer logs that it is waiting only after polling for 30 s: by then it has seen the
        # torn file many times, however slowly it started.
        waiting = f"waiting for {out / 'rollouts' / 'step_0' / 'rank_0.pt'}"
        wait_for(lambda: waiting in log.read_text(), 600, "the trainer to wait for rank_0.pt")
        assert trainer.poll() is None, log_tail(log)
        assert not (out / "broadcasts" / "step_1").exists()
        sample = TrainSample([1, 5, 6, 7], [False, True, True, True], [0.0, -6.0, -6.0, -6.0], 1.0)
        other = TrainSample([1, 5, 8, 9], [False, True, True, True], [0.0, -6.0, -6.0, -6.0], -1.0)
        write_rollouts(out, 0, pack_samples([sample, other], 64, 1, 1.0).ranks, "torn")
        assert wait_exit({"trainer": trainer}, timeout=300, logs={"trainer": log}) == {"trainer": 0}
    finally:
        stop_group(trainer, signal.SIGKILL)
    assert (out / "broadcasts" / "step_1" / "STABLE").is_file()


def test_fails_on_served_model_mismatch_naming_both(base_server: InferenceServer, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            *ORCHESTRATOR,
            "--model.name", "some-other-model",
            "--model.tokenizer", str(base_server.model_dir),
            "--client.urls", f'["{base_server.v1_url}"]',
            "--output-dir", str(tmp_path),
        ],
        capture_output=True, text=True, env=child_env(), timeout=300,
    )  # fmt: skip
    assert result.returncode == 1
    assert (
        f"served model mismatch: inference server {base_server.v1_url} serves ['{base_server.model_dir}']"
        in (result.stderr)
    )
    assert "model.name is 'some-other-model'" in result.stderr
    assert "Traceback" not in result.stderr


def test_fails_at_start_up_when_trainer_world_size_differs(
    base_server: InferenceServer, tmp_path: Path
) -> None:
    """Rollouts split for 2 ranks and a 1-process trainer: a clear error on its first file, no hang."""
    _, orch, train = _configs(tmp_path, base_server, max_steps=1)
    logs = {"orchestrator": tmp_path / "orchestrator.log", "trainer": tmp_path / "trainer.log"}
    orchestrator = spawn([*ORCHESTRATOR, "@", str(orch), "--num-train-workers", "2"], logs["orchestrator"])
    assert wait_exit({"orchestrator": orchestrator}, timeout=300, logs=logs) == {"orchestrator": 0}
    result = subprocess.run(
        [*TRAINER, "@", str(train), "--max-steps", "1"],
        capture_output=True, text=True, env=child_env(), timeout=300,
    )  # fmt: skip
    assert result.returncode != 0
    assert "world_size=2" in result.stderr and "num_train_workers" in result.stderr


def test_rl_stops_everything_and_fails_when_a_component_fails(tiny_model_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("vllm")
    config = tmp_path / "rl.toml"
    config.write_text(
        f"""\
output_dir = "{tmp_path / "outputs"}"
max_steps = 2
stop_timeout_s = 20
[inference]
kv_cache_memory_bytes = 67108864
[inference.model]
name = "{tiny_model_dir}"
enforce_eager = true
max_model_len = 1024
[inference.server]
host = "127.0.0.1"
port = {free_port()}
[orchestrator]
batch_size = 4
rollouts_per_example = 2
seq_len = 512
[trainer.model]
name = "{tmp_path / "no-such-model"}"
"""
    )
    result = subprocess.run(
        [PY, "-m", "prime_rl.launcher.rl", "@", str(config)],
        capture_output=True, text=True, env=child_env(), timeout=600,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout[-3000:]
    assert "[rl] error: trainer exited with code" in result.stdout
    assert "stopping all components" in result.stdout
    pattern = str(tmp_path / "outputs" / "configs")
    leftovers = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    assert leftovers.stdout == ""


def test_rl_terminated_stops_its_components(tiny_model_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("vllm")
    config = tmp_path / "rl.toml"
    config.write_text(
        f'output_dir = "{tmp_path / "outputs"}"\nmodel = "{tiny_model_dir}"\n'
        f'[inference.server]\nhost = "127.0.0.1"\nport = {free_port()}\n'
    )
    log = tmp_path / "rl.log"
    launcher = spawn([PY, "-m", "prime_rl.launcher.rl", "@", str(config)], log)
    wait_for(lambda: "[rl] starting inference" in log.read_text(), 300, "the inference server to start")
    time.sleep(3)
    launcher.send_signal(signal.SIGTERM)
    assert launcher.wait(120) == 128 + signal.SIGTERM
    assert "[rl] terminated; stopping all components" in log.read_text()
    pattern = str(tmp_path / "outputs" / "configs")
    assert subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout == ""
