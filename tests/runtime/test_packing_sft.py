"""SFT packing, micro-batching, assistant-only masks, and packed attention boundaries in the model."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch

from prime_rl.trainer.data import (
    Sample,
    build_row,
    pack_samples,
    packed_row_stream,
    split_micro_batches,
    tokenize_conversation,
)
from prime_rl.trainer.errors import TrainerError
from prime_rl.trainer.loss import shifted_logprobs


def _sample(n: int, start: int = 1, trained_from: int = 1) -> Sample:
    return Sample(list(range(start, start + n)), [i >= trained_from for i in range(n)])


def test_next_fit_packing_keeps_order_and_truncates() -> None:
    samples = [_sample(3), _sample(4), _sample(2), _sample(8)]
    rows = pack_samples(samples, seq_len=6)
    assert [[len(s.input_ids) for s in row] for row in rows] == [[3], [4, 2], [6]]
    assert rows[2][0].input_ids == list(range(1, 7))
    assert len(rows[2][0].loss_mask) == 6


def test_row_restarts_positions_per_sample_and_pads_without_loss() -> None:
    row = build_row([_sample(3, start=10), _sample(2, start=20)], seq_len=7, pad_token_id=0)
    assert row["input_ids"].tolist() == [10, 11, 12, 20, 21, 0, 0]
    assert row["position_ids"].tolist() == [0, 1, 2, 0, 1, 0, 1]
    assert row["loss_mask"].tolist() == [False, True, True, False, True, False, False]


def test_micro_batches_stack_rows() -> None:
    rows = [build_row([_sample(2)], 4, 0) for _ in range(4)]
    batches = split_micro_batches(rows, micro_batch_size=2)
    assert len(batches) == 2
    assert batches[0]["input_ids"].shape == (2, 4)
    assert batches[1]["loss_mask"].dtype == torch.bool


def test_fails_when_rows_do_not_split_into_micro_batches() -> None:
    rows = [build_row([_sample(2)], 4, 0) for _ in range(3)]
    with pytest.raises(ValueError, match="3 rows do not split into micro-batches of 2"):
        split_micro_batches(rows, 2)


def test_fails_when_samples_overflow_a_row() -> None:
    with pytest.raises(ValueError, match="more than seq_len=4"):
        build_row([_sample(3), _sample(2)], 4, 0)


def test_row_stream_is_deterministic_so_resume_can_skip_rows() -> None:
    samples = [_sample(n) for n in (2, 3, 4, 5, 1)]
    first = list(itertools.islice(packed_row_stream(samples, 6, seed=3), 10))
    again = list(itertools.islice(packed_row_stream(samples, 6, seed=3), 10))
    assert first == again
    resumed = list(itertools.islice(itertools.islice(packed_row_stream(samples, 6, seed=3), 4, None), 6))
    assert resumed == first[4:]
    epoch_tokens = sum(len(s.input_ids) for row in pack_samples(samples, 6) for s in row)
    assert epoch_tokens == 15


def test_fails_on_empty_dataset() -> None:
    with pytest.raises(TrainerError, match="empty"):
        next(packed_row_stream([], 6, 0))


def test_chat_template_loss_only_on_assistant_turns(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "yes"},
        {"role": "user", "content": "again"},
        {"role": "assistant", "content": "no"},
    ]
    [sample] = tokenize_conversation(tokenizer, messages)
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    assert tokenizer.decode(sample.input_ids) == full
    assert _trained_text(tokenizer, sample) == "yes<|im_end|>\nno<|im_end|>\n"


def _trained_text(tokenizer: object, sample: Sample) -> str:
    return tokenizer.decode([t for t, m in zip(sample.input_ids, sample.loss_mask, strict=True) if m])


# Like Qwen3's template: assistant turns after the last user message open with a <think> block,
# earlier ones are rendered without it, so history is rewritten when a user turn follows.
THINKING_TEMPLATE = (
    "{%- set ns = namespace(last_user=-1) %}"
    "{%- for m in messages %}{%- if m['role'] == 'user' %}{%- set ns.last_user = loop.index0 %}{%- endif %}"
    "{%- endfor %}"
    "{%- for m in messages %}"
    "{{- '<|im_start|>' + m['role'] + '\\n' }}"
    "{%- if m['role'] == 'assistant' and loop.index0 > ns.last_user %}{{- '<think>\\n\\n</think>\\n\\n' }}"
    "{%- endif %}"
    "{{- m['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def test_template_that_rewrites_history_gives_one_sample_per_assistant_turn(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    tokenizer.chat_template = THINKING_TEMPLATE
    messages = [
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "yes"},
        {"role": "user", "content": "again"},
        {"role": "assistant", "content": "no"},
    ]
    first, second = tokenize_conversation(tokenizer, messages)
    # Each sample is the prompt as rendered for generating that turn, then the turn itself.
    assert tokenizer.decode(first.input_ids) == tokenizer.apply_chat_template(messages[:2], tokenize=False)
    assert tokenizer.decode(second.input_ids) == tokenizer.apply_chat_template(messages, tokenize=False)
    assert _trained_text(tokenizer, first) == "<think>\n\n</think>\n\nyes<|im_end|>\n"
    assert _trained_text(tokenizer, second) == "<think>\n\n</think>\n\nno<|im_end|>\n"
    assert "<think>" not in tokenizer.decode(second.input_ids).split("again")[0]


def test_first_token_of_a_sample_is_never_trained(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    [sample] = tokenize_conversation(tokenizer, [{"role": "assistant", "content": "hi"}])
    assert sample.loss_mask[0] is False
    assert _trained_text(tokenizer, sample) == "assistant\nhi<|im_end|>\n"


def test_fails_on_template_whose_prompt_is_not_a_prefix_of_the_turn(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    tokenizer.chat_template = "{{ messages[-1]['content'] }}{% if add_generation_prompt %}>{% endif %}"
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yes"}]
    with pytest.raises(TrainerError, match="prefix"):
        tokenize_conversation(tokenizer, messages)


def test_packed_samples_do_not_attend_across_boundaries(tiny_model_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(
        tiny_model_dir, dtype=torch.float32, attn_implementation="sdpa"
    )
    model.eval()
    a = torch.tensor([[5, 17, 33, 8, 91]])
    b = torch.tensor([[44, 2, 70, 12, 6, 150, 9]])
    packed = torch.cat([a, b], dim=1)
    positions = torch.cat([torch.arange(5), torch.arange(7)])[None]
    with torch.no_grad():
        lp_packed = shifted_logprobs(
            model(input_ids=packed, position_ids=positions, use_cache=False).logits, packed
        )
        lp_a = shifted_logprobs(model(input_ids=a, use_cache=False).logits, a)
        lp_b = shifted_logprobs(model(input_ids=b, use_cache=False).logits, b)
        flat = torch.arange(12)[None]
        lp_unpacked = shifted_logprobs(
            model(input_ids=packed, position_ids=flat, use_cache=False).logits, packed
        )
    # Position 0 of each sample is a prompt token with no in-sample prediction; all others must match.
    torch.testing.assert_close(lp_packed[:, 1:5], lp_a[:, 1:], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(lp_packed[:, 6:], lp_b[:, 1:], atol=1e-5, rtol=1e-5)
    # Without restarting positions the second sample sees the first: the check above is not vacuous.
    assert not torch.allclose(lp_unpacked[:, 6:], lp_b[:, 1:], atol=1e-4)
