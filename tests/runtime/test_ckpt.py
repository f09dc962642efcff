"""Checkpoint and resume: a resumed run continues at the right step and ends in the same state."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from rollout_files import RUN_ID, write_steps

from prime_rl.trainer.ckpt import available_checkpoints
from prime_rl.trainer.rl.train import main as rl_main
from prime_rl.trainer.sft.train import main as sft_main


def _rl(model_dir: Path, out: Path, *extra: str) -> None:
    rl_main(
        [
            "--model.name", str(model_dir), "--output-dir", str(out), "--optim.lr", "1e-2",
            "--optim.warmup-steps", "2", "--ckpt.interval", "2", "--rollouts.poll-interval", "0.05", *extra,
        ]
    )  # fmt: skip


def _assert_same_tree(a: object, b: object) -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor)
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b)
        for key in a:
            _assert_same_tree(a[key], b[key])
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_same_tree(x, y)
    else:
        assert a == b


def _load(out: Path, step: int, name: str) -> dict:
    return torch.load(out / "checkpoints" / f"step_{step}" / "trainer" / name, weights_only=True)


@pytest.mark.slow
def test_rl_resume_continues_at_the_right_step_with_the_same_state(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    for out in (straight, resumed):
        write_steps(tiny_model_dir, out, range(4))
    _rl(tiny_model_dir, straight, "--max-steps", "4")
    _rl(tiny_model_dir, resumed, "--max-steps", "4", "--ckpt.resume-step", "-1")  # no checkpoint: fresh start
    assert available_checkpoints(resumed) == [2, 4]

    # Interrupt before the end: keep only the step-2 checkpoint and its broadcast (no completion
    # marker, which a finished run leaves), then resume from the latest.
    for stale in ("checkpoints/step_4", "broadcasts/step_3", "broadcasts/step_4", "weights", "finished"):
        shutil.rmtree(resumed / stale)
    (resumed / "logs" / "trainer" / "metrics.jsonl").write_text("")
    _rl(tiny_model_dir, resumed, "--max-steps", "4", "--ckpt.resume-step", "-1")

    steps = [
        json.loads(line)["step"] for line in (resumed / "logs/trainer/metrics.jsonl").read_text().splitlines()
    ]
    assert steps == [3, 4]
    for name in ("model.pt", "optimizer.pt", "scheduler.pt"):
        _assert_same_tree(_load(straight, 4, name), _load(resumed, 4, name))
    assert json.loads((resumed / "checkpoints/step_4/trainer/state.json").read_text()) == {
        "step": 4,
        "data_position": 4,
        "run_id": RUN_ID,
    }
    assert (resumed / "broadcasts" / "step_4" / "STABLE").is_file()

    # A lost broadcast of the resumed policy is published again, so the orchestrator is not stuck
    # (a run still in progress: without the completion marker, which would make a restart idle).
    shutil.rmtree(resumed / "broadcasts")
    shutil.rmtree(resumed / "finished")
    _rl(tiny_model_dir, resumed, "--max-steps", "4", "--ckpt.resume-step", "4")
    assert sorted(p.name for p in (resumed / "broadcasts").iterdir()) == ["step_4"]
    assert (resumed / "broadcasts" / "step_4" / "STABLE").is_file()


def test_sft_resume_skips_consumed_data(tiny_model_dir: Path, tmp_path: Path) -> None:
    def run(out: Path, *extra: str) -> None:
        sft_main(
            [
                "--model.name", str(tiny_model_dir), "--output-dir", str(out), "--data.env", "fixed-answer",
                "--data.num-examples", "40", "--data.seq-len", "64", "--data.batch-size", "2",
                "--optim.lr", "1e-2", "--ckpt.interval", "2", *extra,
            ]
        )  # fmt: skip

    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    run(straight, "--max-steps", "4")
    run(resumed, "--max-steps", "2")
    run(resumed, "--max-steps", "4", "--ckpt.resume-step", "2")
    for name in ("model.pt", "optimizer.pt"):
        _assert_same_tree(_load(straight, 4, name), _load(resumed, 4, name))
    assert json.loads((resumed / "checkpoints/step_4/trainer/state.json").read_text())["data_position"] == 8


def test_fails_to_resume_from_missing_checkpoint(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        _rl(tiny_model_dir, tmp_path, "--max-steps", "2", "--ckpt.resume-step", "7")
    assert exc.value.code == 1
    assert "ckpt.resume_step: no trainer checkpoint for step 7" in capsys.readouterr().err


def test_failed_writes_leave_nothing_half_written(tiny_model_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file
    from transformers import AutoConfig

    from prime_rl.trainer.weights import export_hf, publish_broadcast

    good = {"w": torch.ones(2)}
    bad = {"w": torch.zeros(2), "broken": "not a tensor"}
    with pytest.raises(AttributeError):
        publish_broadcast(bad, tmp_path, 3, None)
    assert list((tmp_path / "broadcasts" / "step_3").iterdir()) == []  # no STABLE, no tmp file

    config = AutoConfig.from_pretrained(tiny_model_dir)
    export_hf(good, config, None, tmp_path, 3, None)
    with pytest.raises(AttributeError):
        export_hf(bad, config, None, tmp_path, 3, None)
    # The earlier complete export is still in place and no tmp directory is left.
    assert sorted(p.name for p in (tmp_path / "weights").iterdir()) == ["step_3"]
    torch.testing.assert_close(
        load_file(str(tmp_path / "weights" / "step_3" / "model.safetensors"))["w"], good["w"]
    )
