"""SFT data: chat-template tokenisation with assistant-only loss, packing to `seq_len`, micro-batching.

Packing puts several samples end to end in one row; `position_ids` restart at 0 at every sample
start, which is what keeps packed samples from attending to each other.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from prime_rl.trainer.errors import TrainerError


@dataclass(frozen=True)
class Sample:
    """One tokenised conversation; `loss_mask[t]` says whether token t is trained on."""

    input_ids: list[int]
    loss_mask: list[bool]


def _render(tokenizer: Any, messages: list[dict[str, Any]], add_generation_prompt: bool) -> str:
    if not messages:
        return ""
    return tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=add_generation_prompt
    )


def _to_sample(segments: Sequence[tuple[str, bool]], tokenizer: Any) -> Sample:
    """Tokenise segments one by one, so the loss boundary is exact even where BPE would merge across it.

    The first token is never trained: it has no in-sample prediction once samples are packed.
    """
    input_ids: list[int] = []
    loss_mask: list[bool] = []
    for text, trained in segments:
        if text:
            ids = tokenizer(text, add_special_tokens=False)["input_ids"]
            input_ids.extend(ids)
            loss_mask.extend([trained] * len(ids))
    if loss_mask:
        loss_mask[0] = False
    return Sample(input_ids=input_ids, loss_mask=loss_mask)


def tokenize_conversation(tokenizer: Any, messages: list[dict[str, Any]]) -> list[Sample]:
    """Tokenise a conversation so that only assistant turns carry loss.

    The text an assistant turn adds to the rendered prompt (generation prompt included) is its
    completion. When the template renders earlier turns as a prefix of later ones (ChatML), the
    conversation is one sample. Templates that rewrite history (Qwen3 drops the <think> block of
    assistant turns before the last user message) give one sample per assistant turn instead, each
    with its context exactly as the model sees it when generating that turn.
    """
    turns: list[tuple[str, str]] = []  # (prompt, completion) of every assistant turn
    for i, message in enumerate(messages):
        if message.get("role") != "assistant":
            continue
        prompt = _render(tokenizer, messages[:i], add_generation_prompt=True)
        full = _render(tokenizer, messages[: i + 1], add_generation_prompt=False)
        if not full.startswith(prompt):
            raise TrainerError(
                "the tokenizer's chat template does not render the prompt of an assistant turn as a prefix "
                "of the conversation with that turn, so assistant tokens cannot be located"
            )
        turns.append((prompt, full[len(prompt) :]))
    per_turn = [[(prompt, False), (completion, True)] for prompt, completion in turns]
    segments: list[tuple[str, bool]] = []
    rendered = ""
    for prompt, completion in turns:
        if not prompt.startswith(rendered):
            return [_to_sample(turn, tokenizer) for turn in per_turn]
        segments += [(prompt[len(rendered) :], False), (completion, True)]
        rendered = prompt + completion
    final = _render(tokenizer, messages, add_generation_prompt=False)
    if not final.startswith(rendered):
        return [_to_sample(turn, tokenizer) for turn in per_turn]
    segments.append((final[len(rendered) :], False))
    return [_to_sample(segments, tokenizer)]


def pack_samples(samples: Sequence[Sample], seq_len: int) -> list[list[Sample]]:
    """Greedy next-fit packing in order; samples longer than `seq_len` are truncated to it."""
    rows: list[list[Sample]] = []
    current: list[Sample] = []
    used = 0
    for sample in samples:
        if len(sample.input_ids) > seq_len:
            sample = Sample(sample.input_ids[:seq_len], sample.loss_mask[:seq_len])
        if current and used + len(sample.input_ids) > seq_len:
            rows.append(current)
            current, used = [], 0
        current.append(sample)
        used += len(sample.input_ids)
    if current:
        rows.append(current)
    return rows


def build_row(samples: Sequence[Sample], seq_len: int, pad_token_id: int) -> dict[str, torch.Tensor]:
    """Concatenate samples into one row of exactly `seq_len` tokens.

    Each sample's positions run 0..n-1; padding gets its own restarting positions and no loss.
    """
    input_ids: list[int] = []
    position_ids: list[int] = []
    loss_mask: list[bool] = []
    for sample in samples:
        input_ids.extend(sample.input_ids)
        position_ids.extend(range(len(sample.input_ids)))
        loss_mask.extend(sample.loss_mask)
    if len(input_ids) > seq_len:
        raise ValueError(f"samples hold {len(input_ids)} tokens, more than seq_len={seq_len}")
    pad = seq_len - len(input_ids)
    input_ids.extend([pad_token_id] * pad)
    position_ids.extend(range(pad))
    loss_mask.extend([False] * pad)
    return {
        "input_ids": torch.tensor(input_ids, dtype=torch.long),
        "position_ids": torch.tensor(position_ids, dtype=torch.long),
        "loss_mask": torch.tensor(loss_mask, dtype=torch.bool),
    }


def split_micro_batches(
    rows: Sequence[dict[str, torch.Tensor]], micro_batch_size: int
) -> list[dict[str, torch.Tensor]]:
    """Stack consecutive rows into micro-batches of `micro_batch_size` rows each."""
    if len(rows) % micro_batch_size != 0:
        raise ValueError(f"{len(rows)} rows do not split into micro-batches of {micro_batch_size}")
    return [
        {key: torch.stack([row[key] for row in rows[i : i + micro_batch_size]]) for key in rows[0]}
        for i in range(0, len(rows), micro_batch_size)
    ]


def packed_row_stream(samples: Sequence[Sample], seq_len: int, seed: int) -> Iterator[list[Sample]]:
    """Endless packed rows: each epoch reshuffles the samples with `seed + epoch`, then packs them.

    Deterministic, so a resumed run skips the rows it already consumed and sees the same data.
    """
    if not samples:
        raise TrainerError("the SFT dataset is empty")
    epoch = 0
    while True:
        order = list(range(len(samples)))
        random.Random(seed + epoch).shuffle(order)
        yield from pack_samples([samples[i] for i in order], seq_len)
        epoch += 1


def load_jsonl_conversations(path: Path) -> list[list[dict[str, Any]]]:
    """Read `{"messages": [...]}` lines; a malformed line is an error naming file and line."""
    if not path.is_file():
        raise TrainerError(f"data.path: file '{path}' does not exist")
    conversations = []
    with path.open() as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise TrainerError(f"{path}:{number}: not valid JSON ({e.msg})") from None
            messages = record.get("messages") if isinstance(record, dict) else None
            if not isinstance(messages, list) or not all(
                isinstance(m, dict) and "role" in m and "content" in m for m in messages
            ):
                raise TrainerError(
                    f"{path}:{number}: expected an object with 'messages': a list of {{'role', 'content'}}"
                )
            conversations.append(messages)
    return conversations


def environment_conversations(
    env_name: str, env_args: dict[str, Any], answer_template: str, seed: int
) -> list[list[dict[str, Any]]]:
    """Conversations built from an environment's offline examples, its answer as the assistant turn."""
    from prime_rl.envs import load_environment

    env = load_environment(env_name, **env_args)
    return [
        [
            *env.initial_messages(example),
            {"role": "assistant", "content": answer_template.format(answer=example.answer)},
        ]
        for example in env.examples(seed=seed)
    ]
