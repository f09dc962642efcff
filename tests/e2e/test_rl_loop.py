"""The whole loop with real vLLM (CPU), the real trainer and the real orchestrator."""

from __future__ import annotations

import math
import re
import subprocess
import threading
import time
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from e2e_support import PY, orchestrator_toml, read_jsonl, spawn, trainer_toml, wait_exit
from vllm_server import InferenceServer, child_env, free_port, log_tail, post_json, publish_broadcast

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
STEPS = tomllib.loads((REPO / "examples" / "smoke" / "rl.toml").read_text())["max_steps"]


@dataclass
class RlRun:
    returncode: int
    out: Path
    log: Path
    stable_seen: set[int] = field(default_factory=set)
    # step -> the stable broadcasts seen right after rollouts/step_N/rank_0.pt first appeared
    stable_at_rollout: dict[int, set[int]] = field(default_factory=dict)


def _steps_of(files: Iterable[Path]) -> set[int]:
    """N of every ``.../step_N/<file>``."""
    return {int(p.parent.name.removeprefix("step_")) for p in files}


@pytest.fixture(scope="module")
def rl_run(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> RlRun:
    pytest.importorskip("vllm")
    work = tmp_path_factory.mktemp("rl")
    out = work / "outputs"
    log = work / "rl.log"
    run = RlRun(returncode=-1, out=out, log=log)
    done = threading.Event()

    def watch() -> None:
        # Broadcasts are pruned two steps later, so poll often enough to see every STABLE marker.
        # Rollouts are listed before broadcasts: a broadcast older than a rollout file is then
        # always among those recorded for it.
        while not done.is_set():
            rollouts = _steps_of(out.glob("rollouts/step_*/rank_0.pt"))
            stable = _steps_of(out.glob("broadcasts/step_*/STABLE"))
            run.stable_seen |= stable
            for step in rollouts - run.stable_at_rollout.keys():
                run.stable_at_rollout[step] = stable
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    with log.open("wb") as fh:
        # The smoke example exactly as a user runs it from the repository root; only where it
        # writes, the (already built) model and a free port differ, plus faster polling.
        proc = subprocess.run(
            [
                PY, "-m", "prime_rl.launcher.rl", "@", "examples/smoke/rl.toml",
                "--output-dir", str(out),
                "--model", str(tiny_model_dir),
                "--inference.server.host", "127.0.0.1",
                "--inference.server.port", str(free_port()),
                "--orchestrator.poll-interval-s", "0.1",
                "--trainer.rollouts.poll-interval", "0.1",
            ],
            cwd=REPO,
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=child_env(),
            timeout=900,
        )  # fmt: skip
    done.set()
    watcher.join()
    run.returncode = proc.returncode
    return run


def test_rl_launcher_exits_zero_when_training_completes(rl_run: RlRun) -> None:
    assert rl_run.returncode == 0, log_tail(rl_run.log, 80)
    text = rl_run.log.read_text(errors="replace")
    for prefix in ("[inference] ", "[orchestrator] ", "[trainer] "):
        assert prefix in text
    assert "[rl] training finished; stopping inference" in text


def test_every_rollout_broadcast_and_metric_line_appears(rl_run: RlRun) -> None:
    assert rl_run.returncode == 0, log_tail(rl_run.log, 80)
    out = rl_run.out
    # Every step's rollouts appeared (files no trainer can still need are pruned later), none torn.
    assert set(rl_run.stable_at_rollout) == set(range(STEPS))
    assert not list((out / "rollouts").rglob("*.tmp"))
    assert rl_run.stable_seen == set(range(1, STEPS + 1))
    # max_async_level = 1, seen from outside: step n's rollouts only once broadcast n - 1 was stable.
    for step in range(2, STEPS):
        assert step - 1 in rl_run.stable_at_rollout[step], rl_run.stable_at_rollout
    orchestrator = read_jsonl(out / "logs" / "orchestrator" / "metrics.jsonl")
    assert [m["step"] for m in orchestrator] == list(range(STEPS))
    assert all(m["async_level"] <= 1 and m["off_policy_level"] <= 1 for m in orchestrator)
    assert all(m["samples"] == 16 for m in orchestrator)
    for m in orchestrator:  # every record, zeros included
        assert m["filtered_groups"] >= 0 and 0.0 <= m["solve_all"] <= 1.0 and 0.0 <= m["solve_none"] <= 1.0
        assert 0.0 <= m["truncated_rollouts"] <= 1.0
    trainer = read_jsonl(out / "logs" / "trainer" / "metrics.jsonl")
    assert [m["step"] for m in trainer] == list(range(1, STEPS + 1))


def test_sampler_and_trainer_score_every_token_alike(rl_run: RlRun) -> None:
    """The tiny model's generation config truncates (top_k 2, top_p 0.3): only pinned sampling keeps
    the sampler's logprobs those of the full distribution the trainer scores."""
    assert rl_run.returncode == 0, log_tail(rl_run.log, 80)
    trainer = read_jsonl(rl_run.out / "logs" / "trainer" / "metrics.jsonl")
    assert len(trainer) == STEPS
    for record in trainer:
        assert math.isfinite(record["mismatch_kl"]) and record["mismatch_kl"] < 1e-3, record
        assert 0.0 <= record["masked_low"] <= 1.0 and 0.0 <= record["masked_high"] <= 1.0
    assert "mismatch_kl " in rl_run.log.read_text(errors="replace")


def test_resolved_component_configs_are_written(rl_run: RlRun) -> None:
    configs = rl_run.out / "configs"
    names = sorted(p.name for p in configs.iterdir())
    assert names == ["inference.toml", "orchestrator.toml", "trainer.toml"]
    assert "num_train_workers = 1" in (configs / "orchestrator.toml").read_text()


def test_update_weights_changes_served_logprobs_and_reload_restores_them(
    base_server: InferenceServer, tmp_path: Path
) -> None:
    """A perturbed copy of the base weights, published like a broadcast, changes every logprob."""
    import torch
    from safetensors.torch import load_file

    prompt = [1, 10, 20, 30, 40, 50]
    base = base_server.greedy_logprobs(prompt)
    weights = load_file(str(base_server.model_dir / "model.safetensors"))
    generator = torch.Generator().manual_seed(0)
    perturbed = {k: v + 0.05 * torch.randn(v.shape, generator=generator) for k, v in weights.items()}
    broadcast = publish_broadcast(tmp_path / "broadcasts" / "step_1", perturbed)

    status, body = post_json(f"{base_server.root_url}/update_weights", {"weight_dir": str(broadcast)})
    assert status == 200, body
    updated = base_server.greedy_logprobs(prompt)
    assert max(abs(a - b) for a, b in zip(base, updated, strict=True)) > 1e-2
    base_server.reload_base()
    assert base_server.greedy_logprobs(prompt) == pytest.approx(base, abs=1e-4)


def test_every_inference_url_gets_every_weight_update(base_server: InferenceServer, tmp_path: Path) -> None:
    """Two URLs (two names of the shared server): both pass the checks and receive every broadcast."""
    out = tmp_path / "outputs"
    second = f"http://localhost:{base_server.port}/v1"
    (tmp_path / "orch.toml").write_text(orchestrator_toml(out, base_server.model_dir, base_server.v1_url))
    (tmp_path / "train.toml").write_text(trainer_toml(out, base_server.model_dir))
    logs = {"orchestrator": tmp_path / "orchestrator.log", "trainer": tmp_path / "trainer.log"}
    procs = {
        "orchestrator": spawn(
            [
                PY, "-m", "prime_rl.orchestrator.orchestrator", "@", str(tmp_path / "orch.toml"),
                "--client.urls", f'["{base_server.v1_url}", "{second}"]',
            ],
            logs["orchestrator"],
        ),
        "trainer": spawn(
            [PY, "-m", "prime_rl.trainer.rl.train", "@", str(tmp_path / "train.toml")], logs["trainer"]
        ),
    }  # fmt: skip
    assert wait_exit(procs, timeout=600, logs=logs) == {"orchestrator": 0, "trainer": 0}
    text = logs["orchestrator"].read_text()
    assert "2 server(s)" in text
    assert re.search(r"loaded policy version \d+ into 2 server\(s\)", text)
    metrics = read_jsonl(out / "logs" / "orchestrator" / "metrics.jsonl")
    assert [m["step"] for m in metrics] == list(range(4))
