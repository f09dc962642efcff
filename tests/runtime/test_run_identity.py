"""Run identity on a volume that outlives runs: run.json, stamped files, and where a restart begins."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import torch
from rollout_files import write_rollout

from prime_rl import layout
from prime_rl.config import ConfigError, load_config
from prime_rl.orchestrator.config import OrchestratorConfig
from prime_rl.orchestrator.orchestrator import save_checkpoint, start_run, write_rollouts
from prime_rl.trainer.errors import TrainerError
from prime_rl.trainer.rl.config import RLTrainerConfig
from prime_rl.trainer.rollouts import ForeignRunError, await_run_id, load_rollout, wait_for_rollout


def _broadcast(out: Path, step: int, run_id: str | None) -> None:
    directory = layout.broadcast_dir(out, step)
    directory.mkdir(parents=True)
    layout.write_stable(directory, run_id)


def _micro_batch() -> dict:
    return {
        "input_ids": torch.zeros(1, 4, dtype=torch.long),
        "position_ids": torch.arange(4)[None],
        "loss_mask": torch.ones(1, 4, dtype=torch.bool),
        "advantages": torch.zeros(1, 4),
        "inference_logprobs": torch.zeros(1, 4),
        "temperature": 1.0,
    }


def test_run_file_round_trips_and_is_whole(tmp_path: Path) -> None:
    assert layout.read_run(tmp_path) is None
    layout.write_run(tmp_path, "exp-1")
    assert layout.read_run(tmp_path)["run_id"] == "exp-1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]


def test_broadcasts_and_checkpoints_of_another_run_are_not_listed(tmp_path: Path) -> None:
    _broadcast(tmp_path, 1, "old")
    _broadcast(tmp_path, 2, "new")
    _broadcast(tmp_path, 3, None)
    assert layout.stable_broadcasts(tmp_path) == [1, 2, 3]
    assert layout.stable_broadcasts(tmp_path, "new") == [2]
    save_checkpoint(tmp_path, 4, 40, 0, "old")
    save_checkpoint(tmp_path, 2, 20, 0, "new")
    assert layout.checkpoint_steps(tmp_path, "orchestrator", "new") == [2]
    assert layout.checkpoint_steps(tmp_path, "orchestrator") == [2, 4]


def test_fresh_start_clears_the_earlier_run_and_names_the_new_one(tmp_path: Path) -> None:
    layout.write_run(tmp_path, "old")
    _broadcast(tmp_path, 1, "old")
    write_rollouts(tmp_path, 0, [[_micro_batch()]], "old")
    start = start_run(tmp_path, "new", resume_step=-1, groups_per_step=8)
    assert (start.run_id, start.step, start.position, start.fresh) == ("new", 0, 0, True)
    assert layout.read_run(tmp_path)["run_id"] == "new"
    assert not (tmp_path / "rollouts").exists() and not (tmp_path / "broadcasts").exists()


def test_restart_without_a_checkpoint_continues_from_the_trainers_progress(tmp_path: Path) -> None:
    layout.write_run(tmp_path, "run-a")
    for step in (1, 2, 3):
        _broadcast(tmp_path, step, "run-a")
    write_rollouts(tmp_path, 3, [[_micro_batch()]], "run-a")
    for configured in (None, "run-a"):
        start = start_run(tmp_path, configured, resume_step=-1, groups_per_step=8)
        assert (start.run_id, start.step, start.position, start.fresh) == ("run-a", 3, 24, False)
        assert start.source == "trainer progress"
    # Nothing the trainer may still wait for is deleted.
    assert layout.stable_broadcasts(tmp_path, "run-a") == [1, 2, 3]
    assert (tmp_path / "rollouts" / "step_3" / "rank_0.pt").is_file()


def test_restart_prefers_its_own_checkpoint_of_the_same_run(tmp_path: Path) -> None:
    layout.write_run(tmp_path, "run-a")
    _broadcast(tmp_path, 7, "run-a")
    save_checkpoint(tmp_path, 5, 123, 0, "run-a")
    save_checkpoint(tmp_path, 9, 999, 0, "other")
    start = start_run(tmp_path, None, resume_step=-1, groups_per_step=8)
    assert (start.step, start.position, start.source) == (5, 123, "checkpoint")


def test_no_resume_always_starts_a_new_run(tmp_path: Path) -> None:
    layout.write_run(tmp_path, "run-a")
    start = start_run(tmp_path, None, resume_step=None, groups_per_step=8)
    assert start.fresh and start.run_id != "run-a"
    assert layout.RUN_ID.match(start.run_id)


def test_rollouts_of_another_run_are_refused_by_name(tmp_path: Path) -> None:
    path = write_rollout(tmp_path, 0, 0, 1, [_micro_batch()], run_id="old")
    with pytest.raises(ForeignRunError, match=r"belongs to run 'old', not to this run 'new'"):
        load_rollout(path, 0, 0, 1, run_id="new")
    unstamped = write_rollout(tmp_path, 1, 0, 1, [_micro_batch()], run_id=None)
    with pytest.raises(ForeignRunError, match=r"belongs to run None"):
        load_rollout(unstamped, 1, 0, 1, run_id="new")
    assert issubclass(ForeignRunError, TrainerError)
    assert len(load_rollout(path, 0, 0, 1, run_id="old")) == 1


def test_waiting_past_a_foreign_file_until_it_is_replaced(tmp_path: Path) -> None:
    path = write_rollout(tmp_path, 0, 0, 1, [_micro_batch()], run_id="old")
    seen = path.stat().st_mtime_ns

    def replace() -> None:
        time.sleep(0.3)
        write_rollout(tmp_path, 0, 0, 1, [_micro_batch()], run_id="new")

    threading.Thread(target=replace).start()
    assert wait_for_rollout(path, 0.02, timeout=10, not_version=seen)
    assert len(load_rollout(path, 0, 0, 1, run_id="new")) == 1


def test_waiting_stops_when_the_trainer_is_terminated(tmp_path: Path) -> None:
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    assert not wait_for_rollout(tmp_path / "rollouts" / "step_0" / "rank_0.pt", 0.02, None, stop=stop)
    stop.clear()
    threading.Timer(0.2, stop.set).start()
    assert await_run_id(tmp_path, None, 0.02, stop) is None


def test_trainer_adopts_the_orchestrators_run(tmp_path: Path) -> None:
    threading.Timer(0.2, layout.write_run, (tmp_path, "from-orchestrator")).start()
    assert await_run_id(tmp_path, None, 0.02) == "from-orchestrator"
    assert await_run_id(tmp_path, "configured", 0.02) == "configured"


def test_run_id_comes_from_the_env_and_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUN_ID", "exp-7")
    assert load_config(OrchestratorConfig, []).run_id == "exp-7"
    assert load_config(RLTrainerConfig, []).run_id == "exp-7"
    with pytest.raises(ConfigError, match=r"run_id 'bad id' must be 1 to 63 letters"):
        load_config(RLTrainerConfig, ["--run-id", "bad id"])


def test_checkpoint_state_names_its_run(tmp_path: Path) -> None:
    save_checkpoint(tmp_path, 3, 30, 0, "run-a")
    state = json.loads((tmp_path / "checkpoints" / "step_3" / "orchestrator" / "state.json").read_text())
    assert state["run_id"] == "run-a"


def test_rollouts_are_pruned_only_below_the_async_window_and_the_trainers_checkpoint(tmp_path: Path) -> None:
    from prime_rl.orchestrator.orchestrator import prune_rollouts

    for step in range(8):
        write_rollouts(tmp_path, step, [[_micro_batch()]], "run-a")
    # No trainer checkpoint: a restarted trainer starts from step 0, so nothing may go.
    assert prune_rollouts(tmp_path, 7, 1, "run-a") == []
    (tmp_path / "checkpoints" / "step_4" / "trainer").mkdir(parents=True)
    (tmp_path / "checkpoints" / "step_4" / "trainer" / "state.json").write_text(
        json.dumps({"run_id": "run-a"})
    )
    assert prune_rollouts(tmp_path, 7, 1, "run-a") == [0, 1, 2, 3]
    assert sorted(layout.step_dirs(tmp_path / "rollouts")) == [4, 5, 6, 7]
    # The async window bounds it too: writing step 5 at async level 2 keeps step 3 and up.
    assert prune_rollouts(tmp_path, 5, 2, "run-a") == []


def test_resaving_a_checkpoint_keeps_one_complete_copy_throughout(tmp_path: Path) -> None:
    from prime_rl.trainer.weights import atomic_dir

    target = tmp_path / "step_3"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("first")
    seen: list[str] = []
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("second")
        seen.append((target / "a").read_text())  # the old copy is complete while the new one is written
    assert seen == ["first"]
    assert (target / "a").read_text() == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step_3"]
