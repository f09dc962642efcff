"""The tiny model loads with transformers, stays tiny, and its chat template is prefix-stable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from prime_rl.tiny_model import MODEL_FILES, build_tiny_model


def test_param_count_is_under_one_million(tiny_model_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert model.config.model_type == "qwen3"
    assert 50_000 < sum(p.numel() for p in model.parameters()) < 1_000_000


def test_forward_gives_logits_over_the_tokenizer_vocab(tiny_model_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    ids = tokenizer("Reverse <reversed_text>hello</reversed_text>", return_tensors="pt").input_ids
    with torch.no_grad():
        logits = model(ids).logits
    assert logits.shape == (1, ids.shape[1], len(tokenizer))
    assert torch.isfinite(logits).all()


def test_tokenizer_round_trips_any_text_and_knows_chatml(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    text = "Hello, <guess>crane</guess> ünïcode 🙂\n\ttabs"
    assert tokenizer.decode(tokenizer.encode(text)) == text
    assert tokenizer.eos_token == "<|im_end|>"
    assert tokenizer.pad_token == "<|endoftext|>"
    for special in ("<|im_start|>", "<|im_end|>", "<|endoftext|>"):
        assert len(tokenizer.encode(special)) == 1


def test_chat_template_earlier_turns_are_a_prefix(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    messages = [
        {"role": "system", "content": "Guess the word."},
        {"role": "user", "content": "Start."},
        {"role": "assistant", "content": "<think>hm</think><guess>crane</guess>"},
        {"role": "user", "content": "c is green"},
        {"role": "assistant", "content": "<guess>cloud</guess>"},
    ]
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    assert full.startswith("<|im_start|>system\nGuess the word.<|im_end|>\n")
    for k in range(1, len(messages)):
        assert full.startswith(tokenizer.apply_chat_template(messages[:k], tokenize=False))
        if messages[k]["role"] == "assistant":
            prompt = tokenizer.apply_chat_template(messages[:k], tokenize=False, add_generation_prompt=True)
            assert prompt.endswith("<|im_start|>assistant\n")
            assert full.startswith(prompt + messages[k]["content"] + "<|im_end|>")


def test_build_is_idempotent_and_deterministic(tmp_path: Path, tiny_model_dir: Path) -> None:
    first = build_tiny_model(tmp_path / "m", seed=0)
    mtimes = {name: (first / name).stat().st_mtime_ns for name in MODEL_FILES}
    assert build_tiny_model(first, seed=0) == first
    assert {name: (first / name).stat().st_mtime_ns for name in MODEL_FILES} == mtimes
    for name in MODEL_FILES:
        assert (first / name).read_bytes() == (tiny_model_dir / name).read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_build_into_an_existing_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    assert all((build_tiny_model(tmp_path / "m") / name).is_file() for name in MODEL_FILES)


@pytest.mark.slow
def test_three_processes_building_one_directory_at_once_all_succeed(tmp_path: Path) -> None:
    """As every pod of the smoke example does on the shared volume: one rename wins, the others use
    its model, and nobody sees or leaves a half-written one."""
    script = Path(sys.executable).with_name("prime-rl-tiny-model")
    target = tmp_path / "models" / "tiny"
    procs = [
        subprocess.Popen(
            [str(script), str(target)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    results = [(proc.wait(timeout=300), *proc.communicate()) for proc in procs]
    assert [code for code, _, _ in results] == [0, 0, 0], [err for _, _, err in results]
    assert [out.strip() for _, out, _ in results] == [str(target)] * 3
    assert [p.name for p in target.parent.iterdir()] == ["tiny"]  # no temporary directory left

    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(target)
    assert model.config.model_type == "qwen3"
    assert AutoTokenizer.from_pretrained(target).eos_token == "<|im_end|>"


def test_a_builder_that_loses_the_rename_uses_the_winners_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prime_rl import tiny_model

    target = tmp_path / "m"
    write = tiny_model._write_model

    def write_while_another_builder_wins(tmp: Path, *args: int) -> None:
        write(tmp, *args)
        winner = tmp_path / "winner"
        winner.mkdir()
        write(winner, *args)
        (winner / "marker").touch()
        os.rename(winner, target)

    monkeypatch.setattr(tiny_model, "_write_model", write_while_another_builder_wins)
    assert build_tiny_model(target) == target
    assert (target / "marker").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_console_script_prints_the_path(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "prime_rl.tiny_model", str(tmp_path / "m")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == str(tmp_path / "m")


def test_fails_on_a_non_empty_directory_without_a_model(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "notes.txt").write_text("keep me")
    out = subprocess.run(
        [sys.executable, "-m", "prime_rl.tiny_model", str(tmp_path / "m")], capture_output=True, text=True
    )
    assert out.returncode == 2
    assert "does not hold a complete model" in out.stderr
    assert "Traceback" not in out.stderr
    assert (tmp_path / "m" / "notes.txt").read_text() == "keep me"


def test_generation_config_truncates_like_real_models_only_harsher(tiny_model_dir: Path) -> None:
    """So every run on the tiny model shows it when sampling is not pinned to the full distribution."""
    generation = json.loads((tiny_model_dir / "generation_config.json").read_text())
    assert (generation["top_k"], generation["top_p"]) == (2, 0.3)


def test_a_wider_deeper_model_builds_offline(tmp_path: Path) -> None:
    path = build_tiny_model(tmp_path / "wide", seed=0, hidden_size=128, num_layers=3)
    config = json.loads((path / "config.json").read_text())
    assert (config["hidden_size"], config["num_hidden_layers"], config["num_attention_heads"]) == (128, 3, 4)
    assert config["head_dim"] == 32


def test_fails_on_a_width_that_is_not_a_multiple_of_64(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "prime_rl.tiny_model", str(tmp_path / "m"), "--hidden-size", "100"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "hidden_size must be a positive multiple of 64" in result.stderr
    assert not (tmp_path / "m").exists()
