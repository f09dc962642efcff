"""SFT on the tiny model: the loss falls, exported weights load back, bad input is rejected clearly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from prime_rl.trainer.errors import TrainerError
from prime_rl.trainer.sft.config import SFTDataConfig
from prime_rl.trainer.sft.loop import check_batch_divisibility
from prime_rl.trainer.sft.train import main

REPO = Path(__file__).resolve().parents[2]


def _args(model_dir: Path, out: Path, *extra: str) -> list[str]:
    return [
        "--model.name", str(model_dir), "--output-dir", str(out), "--data.seq-len", "96",
        "--data.batch-size", "4", "--data.micro-batch-size", "2", *extra,
    ]  # fmt: skip


def _losses(out: Path) -> list[float]:
    lines = (out / "logs" / "sft" / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["loss"] for line in lines]


def test_sft_lowers_loss_and_exports_weights_that_load(tiny_model_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    main(
        _args(
            tiny_model_dir, tmp_path, "--data.env", "fixed-answer", "--data.num-examples", "64",
            "--max-steps", "8", "--optim.lr", "5e-3",
        )
    )  # fmt: skip
    losses = _losses(tmp_path)
    assert len(losses) == 8
    assert losses[-1] < 0.7 * losses[0]
    exported = tmp_path / "weights" / "step_8"
    model = AutoModelForCausalLM.from_pretrained(exported, dtype=torch.float32)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    assert set(model.state_dict()) == set(base.state_dict())
    assert not torch.equal(model.state_dict()["lm_head.weight"], base.state_dict()["lm_head.weight"])
    tokenizer = AutoTokenizer.from_pretrained(exported)
    assert tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)


def test_sft_from_jsonl_with_answer_template_env(tiny_model_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "conversations.jsonl"
    with data.open("w") as f:
        for i in range(12):
            messages = [{"role": "user", "content": f"number {i}"}, {"role": "assistant", "content": "yes"}]
            f.write(json.dumps({"messages": messages}) + "\n")
    main(_args(tiny_model_dir, tmp_path / "out", "--data.path", str(data), "--max-steps", "2"))
    assert len(_losses(tmp_path / "out")) == 2
    assert (tmp_path / "out" / "weights" / "step_2" / "model.safetensors").is_file()


def test_sft_on_reverse_text_environment(tiny_model_dir: Path, tmp_path: Path) -> None:
    main(
        _args(
            tiny_model_dir, tmp_path, "--data.env", "reverse-text", "--data.num-examples", "8",
            "--data.answer-template", "<reversed_text>{answer}</reversed_text>", "--max-steps", "1",
        )
    )  # fmt: skip
    assert len(_losses(tmp_path)) == 1


def _expect_failure(capsys: pytest.CaptureFixture[str], argv: list[str], code: int) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_fails_when_batch_size_not_divisible_by_micro_batch_size(capsys: pytest.CaptureFixture[str]) -> None:
    err = _expect_failure(
        capsys, ["--data.env", "fixed-answer", "--data.batch-size", "5", "--data.micro-batch-size", "2"], 2
    )
    assert "data.batch_size=5 is not divisible by data.micro_batch_size=2" in err


def test_fails_when_batch_size_not_divisible_by_world_size() -> None:
    data = SFTDataConfig(env="fixed-answer", batch_size=6, micro_batch_size=2)
    check_batch_divisibility(data, world_size=3)
    with pytest.raises(
        TrainerError,
        match=r"data\.batch_size=6 is not divisible by data\.micro_batch_size=2 x world size 2 = 4",
    ):
        check_batch_divisibility(data, world_size=2)


def test_fails_with_both_or_no_data_source(capsys: pytest.CaptureFixture[str]) -> None:
    err = _expect_failure(capsys, ["--data.env", "fixed-answer", "--data.path", "x.jsonl"], 2)
    assert "set exactly one of data.env" in err
    err = _expect_failure(capsys, ["--data.env", "None"], 2)
    assert "set exactly one of data.env (got None) and data.path (got None)" in err


def test_fails_on_missing_jsonl(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "none.jsonl"
    err = _expect_failure(capsys, _args(tiny_model_dir, tmp_path / "out", "--data.path", str(missing)), 1)
    assert f"data.path: file '{missing}' does not exist" in err
    assert not (tmp_path / "out" / "weights").exists()


def test_fails_on_malformed_jsonl_line(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n{"messages": "oops"}\n')
    err = _expect_failure(capsys, _args(tiny_model_dir, tmp_path / "out", "--data.path", str(data)), 1)
    assert f"{data}:2: expected an object with 'messages'" in err


def test_fails_on_unknown_environment(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _expect_failure(capsys, _args(tiny_model_dir, tmp_path / "out", "--data.env", "chess"), 1)
    assert "data.env: cannot build examples of 'chess'" in err


def test_fails_on_missing_model_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _expect_failure(capsys, _args(tmp_path / "nope", tmp_path / "out", "--data.env", "fixed-answer"), 1)
    assert "model.name:" in err and "is not a model directory" in err


def test_script_path_help_is_fast_and_imports_no_torch() -> None:
    script = REPO / "src" / "prime_rl" / "trainer" / "sft" / "train.py"
    code = (
        "import runpy, sys\n"
        f"sys.argv = [{str(script)!r}, '--help']\n"
        "try:\n"
        f"    runpy.run_path({str(script)!r}, run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        "assert 'torch' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--data.batch_size" in result.stdout
    direct = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=60
    )
    assert direct.returncode == 0, direct.stderr


def test_step_averages_over_all_loss_tokens_however_it_is_split(tiny_model_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    from prime_rl.trainer.data import Sample, build_row, split_micro_batches
    from prime_rl.trainer.loss import shifted_logprobs
    from prime_rl.trainer.parallel import World
    from prime_rl.trainer.sft.loop import sft_train_step

    # Row 0 trains on 2 tokens, row 1 on 9: a per-micro-batch mean would weigh them differently.
    rows = [
        build_row([Sample(list(range(5, 15)), [False] * 8 + [True] * 2)], 12, 0),
        build_row([Sample(list(range(30, 42)), [False] * 3 + [True] * 9)], 12, 0),
    ]
    world = World(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)

    def nll(row: dict[str, torch.Tensor]) -> float:
        ids = row["input_ids"][None]
        with torch.no_grad():
            logprobs = shifted_logprobs(base(input_ids=ids).logits, ids)[0]
        return -float(logprobs[row["loss_mask"]].sum())

    expected = (nll(rows[0]) + nll(rows[1])) / 11

    def step(micro_batch_size: int) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
        model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
        optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
        metrics = sft_train_step(model, optimizer, split_micro_batches(rows, micro_batch_size), world, 1e9)
        return metrics, model.state_dict()

    one_metrics, one_state = step(1)
    two_metrics, two_state = step(2)
    assert one_metrics["loss"] == pytest.approx(expected, rel=1e-5)
    assert two_metrics["loss"] == pytest.approx(expected, rel=1e-5)
    assert one_metrics["grad_norm"] == pytest.approx(two_metrics["grad_norm"], rel=1e-4)
    for key, value in one_state.items():
        torch.testing.assert_close(value, two_state[key], atol=1e-5, rtol=1e-4)
