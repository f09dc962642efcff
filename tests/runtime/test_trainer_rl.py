"""The RL trainer on the tiny model: rollouts in, broadcasts and exports out, bad input rejected."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from rollout_files import RUN_ID, make_micro_batch, write_rollout, write_steps

from prime_rl.trainer.loss import shifted_logprobs
from prime_rl.trainer.rl.train import main


def _args(model_dir: Path, out: Path, *extra: str, run_id: str | None = RUN_ID) -> list[str]:
    """Trainer arguments; the run is given, as a deployment gives it, unless `run_id` is None."""
    run = ["--run-id", run_id] if run_id is not None else []
    return [
        "--model.name",
        str(model_dir),
        "--output-dir",
        str(out),
        "--rollouts.poll-interval",
        "0.05",
        *run,
        *extra,
    ]


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


def test_trains_on_rollouts_and_publishes_complete_broadcasts(tiny_model_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    write_steps(tiny_model_dir, tmp_path, range(3))
    stale = tmp_path / "broadcasts" / "step_7"  # left by an earlier run: a fresh start removes it
    stale.mkdir(parents=True)
    (stale / "STABLE").touch()
    main(_args(tiny_model_dir, tmp_path, "--max-steps", "3", "--optim.lr", "1e-2", "--max-async-level", "1"))

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    broadcasts = tmp_path / "broadcasts"
    # Only the newest max_async_level + 1 broadcasts are kept.
    assert sorted(p.name for p in broadcasts.iterdir()) == ["step_2", "step_3"]
    for step_dir in broadcasts.iterdir():
        assert sorted(p.name for p in step_dir.iterdir()) == ["STABLE", "model.safetensors"]
        assert (step_dir / "STABLE").read_text() == RUN_ID
        published = _load_safetensors(step_dir / "model.safetensors")
        assert set(published) == set(base.state_dict())
        assert not torch.equal(
            published["model.layers.0.self_attn.q_proj.weight"],
            base.state_dict()["model.layers.0.self_attn.q_proj.weight"],
        )
    metrics = (tmp_path / "logs" / "trainer" / "metrics.jsonl").read_text().splitlines()
    assert len(metrics) == 3
    exported = AutoModelForCausalLM.from_pretrained(tmp_path / "weights" / "step_3", dtype=torch.float32)
    torch.testing.assert_close(
        exported.state_dict()["model.norm.weight"],
        _load_safetensors(broadcasts / "step_3" / "model.safetensors")["model.norm.weight"],
    )


def test_step_raises_logprobs_of_positively_rewarded_tokens(tiny_model_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    generator = torch.Generator().manual_seed(1)
    mb = make_micro_batch(base, generator, base.config.vocab_size, samples=1, advantage=1.0)
    write_rollout(tmp_path, 0, 0, 1, [mb])
    main(_args(tiny_model_dir, tmp_path, "--max-steps", "1", "--optim.lr", "1e-2"))

    trained = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    trained.load_state_dict(_load_safetensors(tmp_path / "broadcasts" / "step_1" / "model.safetensors"))
    with torch.no_grad():
        after = shifted_logprobs(trained(input_ids=mb["input_ids"]).logits, mb["input_ids"])
    mask = mb["loss_mask"]
    assert after[mask].sum() > mb["inference_logprobs"][mask].sum()


def test_lora_broadcast_has_base_model_keys(tiny_model_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    write_steps(tiny_model_dir, tmp_path, range(1), micro_batches=1)
    lora = ["--model.lora.rank", "4", "--model.lora.alpha", "8", "--model.activation-checkpointing"]
    main(
        _args(
            tiny_model_dir,
            tmp_path,
            "--max-steps",
            "1",
            "--optim.lr",
            "1e-2",
            "--weights.dtype",
            "bfloat16",
            *lora,
        )
    )
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).state_dict()
    published = _load_safetensors(tmp_path / "broadcasts" / "step_1" / "model.safetensors")
    assert set(published) == set(base)
    assert {t.dtype for t in published.values()} == {torch.bfloat16}
    # Embeddings and norms are frozen under LoRA; the projections moved.
    embed = base["model.embed_tokens.weight"].to(torch.bfloat16)
    torch.testing.assert_close(published["model.embed_tokens.weight"], embed)
    down = base["model.layers.1.mlp.down_proj.weight"].to(torch.bfloat16)
    assert not torch.equal(published["model.layers.1.mlp.down_proj.weight"], down)


def _expect_failure(capsys: pytest.CaptureFixture[str], argv: list[str], code: int) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == code
    return capsys.readouterr().err


def test_fails_on_malformed_rollout_without_publishing(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_rollout(tmp_path, 0, 0, 1, [{"input_ids": torch.zeros(1, 4, dtype=torch.long)}])
    err = _expect_failure(capsys, _args(tiny_model_dir, tmp_path, "--max-steps", "1"), 1)
    assert f"rollout file {path}: micro_batches[0] lacks key(s)" in err
    assert "Traceback" not in err
    assert not (tmp_path / "broadcasts" / "step_1").exists()


def test_fails_on_unreadable_rollout(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "rollouts" / "step_0" / "rank_0.pt"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a torch file")
    err = _expect_failure(capsys, _args(tiny_model_dir, tmp_path, "--max-steps", "1"), 1)
    assert f"rollout file {path}: cannot be read" in err
    assert not (tmp_path / "broadcasts" / "step_1").exists()


def test_fails_on_mismatched_shapes(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mb = make_micro_batch(None, torch.Generator().manual_seed(0), 100)
    mb["advantages"] = mb["advantages"][:, :-1]
    path = write_rollout(tmp_path, 0, 0, 1, [mb])
    err = _expect_failure(capsys, _args(tiny_model_dir, tmp_path, "--max-steps", "1"), 1)
    assert f"rollout file {path}: micro_batches[0]: 'advantages' has length 19, 'input_ids' has 20" in err


def test_fails_on_rollout_world_size_mismatch(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mb = make_micro_batch(None, torch.Generator().manual_seed(0), 100)
    path = write_rollout(tmp_path, 0, 0, 2, [mb])
    err = _expect_failure(capsys, _args(tiny_model_dir, tmp_path, "--max-steps", "1"), 1)
    assert f"rollout file {path}: written for world_size=2 but the trainer runs 1 process(es)" in err


def test_fails_on_num_train_workers_mismatch(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _expect_failure(capsys, _args(tiny_model_dir, tmp_path, "--num-train-workers", "4"), 1)
    assert "num_train_workers=4 but the trainer runs 1 process(es)" in err


def test_fails_on_missing_model_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no-such-model"
    err = _expect_failure(capsys, _args(missing, tmp_path / "out"), 1)
    assert f"model.name: '{missing}' is not a model directory" in err
    assert not (tmp_path / "out" / "broadcasts").exists()


def test_fails_on_unknown_config_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    toml = tmp_path / "train.toml"
    toml.write_text("[optim]\nlearning_rate = 1e-5\n")
    err = _expect_failure(capsys, ["@", str(toml)], 2)
    assert "unknown key 'optim.learning_rate'" in err


def test_fails_on_rollout_timeout(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _expect_failure(capsys, _args(tiny_model_dir, tmp_path, "--rollouts.timeout", "0.2"), 1)
    assert "rollouts.timeout: no rollout file at" in err
    assert "step_0/rank_0.pt" in err


def test_fails_on_timeout_waiting_for_a_run(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _args(tiny_model_dir, tmp_path, "--rollouts.timeout", "0.2", run_id=None)
    err = _expect_failure(capsys, args, 1)
    assert "rollouts.timeout: no" in err and "run.json after 0.2 s" in err


def test_fails_on_inverted_mask_bounds(capsys: pytest.CaptureFixture[str]) -> None:
    err = _expect_failure(capsys, ["--loss.mask-low", "9"], 2)
    assert "loss.mask_low=9.0 must be smaller than loss.mask_high=8.0" in err


def test_step_normalises_over_all_loss_tokens_however_it_is_split(tiny_model_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    from prime_rl.trainer.parallel import World
    from prime_rl.trainer.rl.config import RLLossConfig
    from prime_rl.trainer.rl.loop import rl_train_step
    from prime_rl.trainer.rollouts import MicroBatch

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    generator = torch.Generator().manual_seed(2)
    vocab = base.config.vocab_size
    # 2 loss tokens with advantage +1, then 3 samples of 8 tokens with advantages +1, -1, +1.
    small = make_micro_batch(base, generator, vocab, samples=1, completion_len=2)
    large = make_micro_batch(base, generator, vocab, samples=3, completion_len=8)
    joined = {k: torch.cat([small[k], large[k]], dim=1) for k in small if k != "temperature"}
    world = World(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))

    def step(micro_batches: list[dict]) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
        model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
        optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
        batches = [MicroBatch(**{"temperature": 1.0, **mb}) for mb in micro_batches]
        metrics = rl_train_step(model, optimizer, batches, RLLossConfig(), world, max_norm=1e9)
        return metrics, model.state_dict()

    split_metrics, split_state = step([small, large])
    joined_metrics, joined_state = step([joined])
    # Policy equals the inference policy, so every ratio is 1: loss = -(2 + 8 - 8 + 8) / 26.
    assert split_metrics["loss"] == pytest.approx(-10 / 26, abs=1e-5)
    assert joined_metrics["loss"] == pytest.approx(-10 / 26, abs=1e-5)
    assert split_metrics["loss_tokens"] == joined_metrics["loss_tokens"] == 26
    assert split_metrics["mean_ratio"] == pytest.approx(1.0, abs=1e-5)
    assert split_metrics["grad_norm"] == pytest.approx(joined_metrics["grad_norm"], rel=1e-4)
    for key, value in split_state.items():
        torch.testing.assert_close(value, joined_state[key], atol=1e-5, rtol=1e-4)
