"""Runs on a volume that outlives them, with real vLLM: another run's files, an orchestrator restarted
before its first checkpoint, and a fresh run that must not sample from an old run's policy."""

from __future__ import annotations

import itertools
import re
import signal
import time
from pathlib import Path

import pytest
from e2e_support import PY, orchestrator_toml, read_jsonl, spawn, trainer_toml, wait_exit, wait_for
from vllm_server import InferenceServer, log_tail, publish_broadcast, stop_group

from prime_rl import layout

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

ORCHESTRATOR = [PY, "-m", "prime_rl.orchestrator.orchestrator"]
TRAINER = [PY, "-m", "prime_rl.trainer.rl.train"]
STEPS = 6
#: What a deployment gives both pods: one run id, resuming whatever of that run the volume holds.
POD_ARGS = ["--ckpt.resume-step", "-1"]


def _steps(path: Path) -> list[int]:
    return [m["step"] for m in read_jsonl(path)]


def _configs(tmp_path: Path, server: InferenceServer) -> tuple[Path, Path, Path]:
    out = tmp_path / "outputs"
    (tmp_path / "orch.toml").write_text(
        orchestrator_toml(out, server.model_dir, server.v1_url, max_steps=STEPS)
    )
    (tmp_path / "train.toml").write_text(trainer_toml(out, server.model_dir, max_steps=STEPS))
    return out, tmp_path / "orch.toml", tmp_path / "train.toml"


def _old_run(out: Path) -> None:
    """What an earlier run left on the claim: its run.json and rollouts for the first steps."""
    from prime_rl.orchestrator.orchestrator import write_rollouts
    from prime_rl.orchestrator.packing import TrainSample, pack_samples

    layout.write_run(out, "old-run")
    sample = TrainSample([1, 5, 6, 7], [False, True, True, True], [0.0, -6.0, -6.0, -6.0], 1.0)
    other = TrainSample([1, 5, 8, 9], [False, True, True, True], [0.0, -6.0, -6.0, -6.0], -1.0)
    for step in range(3):
        write_rollouts(out, step, pack_samples([sample, other], 64, 1, 1.0).ranks, "old-run")


def test_trainer_trains_no_step_on_another_runs_rollouts(
    base_server: InferenceServer, tmp_path: Path
) -> None:
    out, orch, train = _configs(tmp_path, base_server)
    _old_run(out)
    logs = {"trainer": tmp_path / "trainer.log", "orchestrator": tmp_path / "orchestrator.log"}
    trainer = spawn([*TRAINER, "@", str(train), *POD_ARGS], logs["trainer"], RUN_ID="new-run")
    try:
        wait_for(
            lambda: "belongs to run 'old-run'" in logs["trainer"].read_text(), 300, "the trainer to skip"
        )
        time.sleep(2)
        assert trainer.poll() is None, log_tail(logs["trainer"])
        assert not (out / "logs" / "trainer" / "metrics.jsonl").exists()
        assert layout.stable_broadcasts(out) == []
    except BaseException:
        stop_group(trainer, signal.SIGKILL)
        raise
    orchestrator = spawn([*ORCHESTRATOR, "@", str(orch), *POD_ARGS], logs["orchestrator"], RUN_ID="new-run")
    codes = wait_exit({"orchestrator": orchestrator, "trainer": trainer}, timeout=600, logs=logs)
    assert codes == {"orchestrator": 0, "trainer": 0}
    assert _steps(out / "logs" / "trainer" / "metrics.jsonl") == list(range(1, STEPS + 1))
    assert layout.read_run(out)["run_id"] == "new-run"
    assert layout.stable_broadcasts(out, "new-run") == layout.stable_broadcasts(out)
    assert "started run new-run" in logs["orchestrator"].read_text()


def test_orchestrator_killed_before_its_first_checkpoint_continues_the_run(
    base_server: InferenceServer, tmp_path: Path
) -> None:
    out, orch, train = _configs(tmp_path, base_server)
    logs = {name: tmp_path / f"{name}.log" for name in ("orchestrator", "trainer", "orchestrator2")}
    orchestrator_metrics = out / "logs" / "orchestrator" / "metrics.jsonl"
    trainer_metrics = out / "logs" / "trainer" / "metrics.jsonl"
    trainer = spawn([*TRAINER, "@", str(train), *POD_ARGS], logs["trainer"], RUN_ID="run-b")
    first = spawn([*ORCHESTRATOR, "@", str(orch), *POD_ARGS], logs["orchestrator"], RUN_ID="run-b")
    try:
        wait_for(lambda: len(_steps(orchestrator_metrics)) >= 3, 300, "three orchestrator steps")
    except BaseException:
        stop_group(trainer, signal.SIGKILL)
        raise
    finally:
        stop_group(first, signal.SIGKILL)
    assert layout.checkpoint_steps(out, "orchestrator") == []
    second = spawn([*ORCHESTRATOR, "@", str(orch), *POD_ARGS], logs["orchestrator2"], RUN_ID="run-b")
    codes = wait_exit({"orchestrator2": second, "trainer": trainer}, timeout=600, logs=logs)
    assert codes == {"orchestrator2": 0, "trainer": 0}
    text = logs["orchestrator2"].read_text()
    match = re.search(r"continuing run run-b at step (\d+) from the trainer's progress", text)
    assert match, log_tail(logs["orchestrator2"])
    # Every trainer step exactly once, and the rollouts the trainer consumed were never deleted.
    assert _steps(trainer_metrics) == list(range(1, STEPS + 1))
    assert _steps(orchestrator_metrics)[-1] == STEPS - 1


def test_a_fresh_run_samples_step_0_from_the_base_weights(
    base_server: InferenceServer, tmp_path: Path
) -> None:
    """The server outlived an earlier run and still serves its policy; a new run resets it first."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    prompt = [1, 11, 22, 33, 44]
    base = base_server.greedy_logprobs(prompt)
    weights = load_file(str(base_server.model_dir / "model.safetensors"))
    old = publish_broadcast(tmp_path / "old" / "step_5", {k: v * 1.5 for k, v in weights.items()})
    base_server.update_weights(old)
    assert base_server.greedy_logprobs(prompt) != pytest.approx(base, abs=1e-3)

    out, orch, _ = _configs(tmp_path, base_server)
    log = tmp_path / "orchestrator.log"
    orchestrator = spawn([*ORCHESTRATOR, "@", str(orch), "--max-steps", "1"], log)
    assert wait_exit({"orchestrator": orchestrator}, timeout=300, logs={"orchestrator": log}) == {
        "orchestrator": 0
    }
    assert "reset 1 server(s) to the base weights" in log.read_text()

    model = AutoModelForCausalLM.from_pretrained(base_server.model_dir, dtype=torch.float32).eval()
    payload = torch.load(out / "rollouts" / "step_0" / "rank_0.pt", weights_only=True)
    checked = 0
    for mb in payload["micro_batches"]:
        ids, positions = mb["input_ids"][0], mb["position_ids"][0]
        starts = [i for i, p in enumerate(positions.tolist()) if p == 0] + [len(ids)]
        for begin, end in itertools.pairwise(starts):
            with torch.no_grad():
                logits = model(ids[begin:end][None]).logits[0].float()
            logp = torch.log_softmax(logits[:-1], dim=-1)
            for t in range(begin + 1, end):
                if mb["loss_mask"][0, t]:
                    expected = logp[t - begin - 1, ids[t]].item()
                    assert mb["inference_logprobs"][0, t].item() == pytest.approx(expected, abs=1e-2)
                    checked += 1
    assert checked > 0


def test_sigterm_checkpoints_both_and_a_restart_repeats_no_step(
    base_server: InferenceServer, tmp_path: Path
) -> None:
    """Preemption or a node drain: both save what they finished, exit 143, and the pods' restart
    continues the run with every trainer step exactly once."""
    out, orch, train = _configs(tmp_path, base_server)
    logs = {name: tmp_path / f"{name}.log" for name in ("orchestrator", "trainer", "orch2", "train2")}
    trainer_metrics = out / "logs" / "trainer" / "metrics.jsonl"
    first = {
        "orchestrator": spawn(
            [*ORCHESTRATOR, "@", str(orch), *POD_ARGS], logs["orchestrator"], RUN_ID="run-c"
        ),
        "trainer": spawn([*TRAINER, "@", str(train), *POD_ARGS], logs["trainer"], RUN_ID="run-c"),
    }
    try:
        wait_for(lambda: len(_steps(trainer_metrics)) >= 2, 300, "two trainer steps")
    except BaseException:
        for proc in first.values():
            stop_group(proc, signal.SIGKILL)
        raise
    for proc in first.values():
        stop_group(proc, signal.SIGTERM, timeout_s=120)
    assert {name: proc.returncode for name, proc in first.items()} == {"orchestrator": 143, "trainer": 143}
    trained = len(_steps(trainer_metrics))
    assert layout.checkpoint_steps(out, "trainer", "run-c") == [trained]
    assert layout.checkpoint_steps(out, "orchestrator", "run-c"), log_tail(logs["orchestrator"])

    second = {
        "orch2": spawn([*ORCHESTRATOR, "@", str(orch), *POD_ARGS], logs["orch2"], RUN_ID="run-c"),
        "train2": spawn([*TRAINER, "@", str(train), *POD_ARGS], logs["train2"], RUN_ID="run-c"),
    }
    assert wait_exit(second, timeout=600, logs=logs) == {"orch2": 0, "train2": 0}
    assert f"resumed from checkpoint step {trained}" in logs["train2"].read_text()
    assert _steps(trainer_metrics) == list(range(1, STEPS + 1))
