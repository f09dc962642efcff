"""The loop really learns: on fixed-answer the tiny random model's mean reward rises clearly.

Two-token answers ("yes" and the end of turn) and lr 5e-3 climb from about 0.15 to about 0.5 in
30 steps on two CPU cores; the check asks for a rise of 0.15 between the first and last five steps.
At lr 1e-2 the climb is faster but a run on a heavily loaded machine once collapsed back to the
starting reward after step 25, so the test uses the steadier rate.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_support import PY, orchestrator_toml, read_jsonl, spawn, trainer_toml, wait_exit
from vllm_server import InferenceServer

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

STEPS = 30
WINDOW = 5


def test_mean_reward_rises_on_fixed_answer(base_server: InferenceServer, tmp_path: Path) -> None:
    out = tmp_path / "outputs"
    model = base_server.model_dir
    (tmp_path / "orch.toml").write_text(
        orchestrator_toml(
            out, model, base_server.v1_url, batch_size=64, rollouts_per_example=8, max_steps=STEPS
        )
    )
    (tmp_path / "train.toml").write_text(trainer_toml(out, model, max_steps=STEPS))
    logs = {"trainer": tmp_path / "trainer.log", "orchestrator": tmp_path / "orchestrator.log"}
    procs = {
        "trainer": spawn(
            [PY, "-m", "prime_rl.trainer.rl.train", "@", str(tmp_path / "train.toml"), "--optim.lr", "5e-3"],
            logs["trainer"],
        ),
        "orchestrator": spawn(
            [
                PY, "-m", "prime_rl.orchestrator.orchestrator", "@", str(tmp_path / "orch.toml"),
                "--environment.id", "fixed-answer", "--sampling.max-tokens", "2",
            ],
            logs["orchestrator"],
        ),
    }  # fmt: skip
    assert wait_exit(procs, timeout=600, logs=logs) == {"trainer": 0, "orchestrator": 0}
    rewards = [m["reward"] for m in read_jsonl(out / "logs" / "orchestrator" / "metrics.jsonl")]
    assert len(rewards) == STEPS
    first = sum(rewards[:WINDOW]) / WINDOW
    last = sum(rewards[-WINDOW:]) / WINDOW
    assert last > first + 0.15, f"mean reward did not rise clearly: {rewards}"
