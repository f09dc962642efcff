"""FSDP2 across two CPU processes (gloo under torchrun) gives the same training as one process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from rollout_files import write_rollout, write_steps

REPO = Path(__file__).resolve().parents[2]


def _torchrun(*args: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", *args]
    # A session of its own, so a timeout ends the workers too, not only the launcher.
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
        start_new_session=True,
    )
    try:
        _, stderr = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    assert proc.returncode == 0, stderr[-4000:]


def _weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


def _metrics(path: Path) -> list[dict]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 2
    return lines


@pytest.mark.slow
def test_two_process_fsdp_rl_matches_single_process(tiny_model_dir: Path, tmp_path: Path) -> None:
    from prime_rl.trainer.rl.train import main

    sharded, single = tmp_path / "sharded", tmp_path / "single"
    write_steps(tiny_model_dir, sharded, range(2), world_size=2)
    # The same samples in one process: rank 0's micro-batches then rank 1's.
    for step in range(2):
        batches = []
        for rank in range(2):
            data = torch.load(sharded / "rollouts" / f"step_{step}" / f"rank_{rank}.pt", weights_only=True)
            batches.extend(data["micro_batches"])
        write_rollout(single, step, 0, 1, batches)
    common = ["--model.name", str(tiny_model_dir), "--max-steps", "2", "--optim.lr", "1e-2"]
    _torchrun("-m", "prime_rl.trainer.rl.train", *common, "--output-dir", str(sharded))
    main([*common, "--output-dir", str(single)])

    # AdamW hides a wrong gradient scale in the weights; loss and pre-clip grad norm expose it.
    metrics = [_metrics(out / "logs" / "trainer" / "metrics.jsonl") for out in (sharded, single)]
    for a_line, b_line in zip(*metrics, strict=True):
        assert a_line["loss_tokens"] == b_line["loss_tokens"]
        assert a_line["loss"] == pytest.approx(b_line["loss"], rel=1e-4, abs=1e-6)
        assert a_line["grad_norm"] == pytest.approx(b_line["grad_norm"], rel=1e-4)
    for step in (1, 2):
        a = _weights(sharded / "broadcasts" / f"step_{step}" / "model.safetensors")
        b = _weights(single / "broadcasts" / f"step_{step}" / "model.safetensors")
        assert set(a) == set(b)
        for key in a:
            torch.testing.assert_close(a[key], b[key], atol=2e-5, rtol=1e-4)
        assert (sharded / "broadcasts" / f"step_{step}" / "STABLE").is_file()
    assert not list(sharded.rglob("*.tmp"))


@pytest.mark.slow
def test_two_process_sft_script_resumes_from_sharded_checkpoint(tiny_model_dir: Path, tmp_path: Path) -> None:
    script = str(REPO / "src" / "prime_rl" / "trainer" / "sft" / "train.py")
    out = tmp_path / "out"
    common = [
        "--model.name", str(tiny_model_dir), "--data.env", "fixed-answer", "--data.num-examples", "32",
        "--data.seq-len", "64", "--data.batch-size", "4", "--data.micro-batch-size", "1",
        "--optim.lr", "1e-2", "--ckpt.interval", "1", "--max-steps", "2", "--output-dir",
    ]  # fmt: skip
    _torchrun(script, *common, str(out))
    straight = torch.load(out / "checkpoints/step_2/trainer/model.pt", weights_only=True)
    straight_optim = torch.load(out / "checkpoints/step_2/trainer/optimizer.pt", weights_only=True)
    shutil.rmtree(out / "checkpoints" / "step_2")
    _torchrun(script, *common, str(out), "--ckpt.resume-step", "-1")
    resumed = torch.load(out / "checkpoints/step_2/trainer/model.pt", weights_only=True)
    resumed_optim = torch.load(out / "checkpoints/step_2/trainer/optimizer.pt", weights_only=True)
    for key in straight:
        torch.testing.assert_close(straight[key], resumed[key])
    for name, state in straight_optim["state"].items():
        torch.testing.assert_close(state["exp_avg_sq"], resumed_optim["state"][name]["exp_avg_sq"])
    assert (out / "weights" / "step_2" / "config.json").is_file()
