"""A tiny, randomly initialised Qwen3-architecture model for tests and CPU smoke runs.

Everything is generated offline (no model hub): a byte-level BPE tokenizer trained on a small
synthetic corpus, a ChatML chat template, and a random-init causal LM of about 0.2M parameters that
both transformers and vLLM (CPU build) load. Building is idempotent and atomic so several pods or
test processes can race on the same output directory.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

# Earlier turns render to an exact prefix of later ones: nothing is stripped or rewritten.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
EOS_TOKEN = "<|im_end|>"
PAD_TOKEN = "<|endoftext|>"
VOCAB_SIZE = 768
MAX_POSITION_EMBEDDINGS = 4096

# Files whose presence means a directory already holds a complete tiny model.
MODEL_FILES = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json")

_WORDS_TEXT = (
    "the a an and or of to in on for with is are was be it this that you we they he she "
    "reverse text sort names alphabet word guess wordle green yellow gray letter answer "
    "system user assistant please think step first last name yes no correct wrong turn "
    "hello world model train learn reward policy sample token prompt example data"
)
_TAGS = (
    "reversed_text",
    "guess",
    "alphabetical_sorted",
    "combined_alphabetical_sorted",
    "answer",
    "think",
)
_ROLES = ("system", "user", "assistant")


def _corpus(seed: int, n_lines: int = 4000) -> Iterator[str]:
    """Yield deterministic chat-shaped text covering words, tags, letters, digits and punctuation."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    vocabulary = _WORDS_TEXT.split()
    for _ in range(n_lines):
        words = [rng.choice(vocabulary) for _ in range(rng.randint(3, 12))]
        junk = "".join(rng.choice(letters) for _ in range(rng.randint(3, 10)))
        tag = rng.choice(_TAGS)
        role = rng.choice(_ROLES)
        body = " ".join(words)
        number = rng.randint(0, 9999)
        yield (
            f"<|im_start|>{role}\n{body.capitalize()}, {junk}! <{tag}>\n{body[::-1]} {number}.\n</{tag}>"
            f"<|im_end|>\n"
        )
    yield "".join(chr(c) for c in range(32, 127)) + "\n\t"


def _train_tokenizer(seed: int):  # -> transformers.PreTrainedTokenizerFast
    """Train a byte-level BPE tokenizer (any byte sequence encodes) on the synthetic corpus."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(seed), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        unk_token=None,
        bos_token=None,
        chat_template=CHAT_TEMPLATE,
        model_max_length=MAX_POSITION_EMBEDDINGS,
        clean_up_tokenization_spaces=False,
    )


def _make_portable_tokenizer_config(path: Path) -> None:
    """Name the generic fast-tokenizer class and inline the template so older transformers load it too."""
    config = json.loads(path.read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config["chat_template"] = CHAT_TEMPLATE
    path.write_text(json.dumps(config, indent=2) + "\n")


def _make_readable(root: Path) -> None:
    """Open permissions up (mkdtemp makes 0700) so pods running as other users can read the model."""
    root.chmod(0o755)
    for child in root.iterdir():
        child.chmod(0o644)


def _is_complete(path: Path) -> bool:
    return all((path / name).is_file() for name in MODEL_FILES)


#: Every attention head is this wide: the smallest head size the vLLM CPU attention backend supports.
HEAD_DIM = 32


def _write_model(tmp: Path, seed: int, hidden_size: int, num_layers: int) -> None:
    """Write tokenizer, config, generation config and random weights into `tmp`."""
    import torch
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    tokenizer = _train_tokenizer(seed)
    tokenizer.save_pretrained(tmp)
    _make_portable_tokenizer_config(tmp / "tokenizer_config.json")
    eos_id = tokenizer.convert_tokens_to_ids(EOS_TOKEN)
    pad_id = tokenizer.convert_tokens_to_ids(PAD_TOKEN)
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=hidden_size // HEAD_DIM,
        num_key_value_heads=max(hidden_size // HEAD_DIM // 2, 1),
        head_dim=HEAD_DIM,
        max_position_embeddings=MAX_POSITION_EMBEDDINGS,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        rms_norm_eps=1e-6,
        rope_theta=10000.0,
    )
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config).to(torch.float32)
    model.config.dtype = torch.float32
    # Truncating defaults like every real model's (Qwen3: top_k 20, top_p 0.95), only harsher: if any
    # request or server let them apply, the sampled logprobs would no longer match the trainer's
    # and every run on this model would show it in mismatch_kl.
    model.generation_config = GenerationConfig(
        eos_token_id=[eos_id, pad_id],
        pad_token_id=pad_id,
        do_sample=True,
        temperature=1.0,
        top_k=2,
        top_p=0.3,
    )
    model.save_pretrained(tmp)
    _make_readable(tmp)


def build_tiny_model(outdir: str | Path, seed: int = 0, hidden_size: int = 64, num_layers: int = 2) -> Path:
    """Build the tiny model into `outdir` unless it is already there; return `outdir`.

    `hidden_size` (a multiple of 64) and `num_layers` make it wider or deeper, still offline: at
    hidden size 2048 and 4 layers it holds about 150M parameters (600 MB in float32), enough for
    figures that are not just fixed costs.

    The model is built in a temporary sibling directory and renamed into place, so readers never
    see a half-written model and concurrent builders simply let the first rename win.
    """
    if hidden_size < 64 or hidden_size % (2 * HEAD_DIM) or num_layers < 1:
        raise ValueError(
            f"hidden_size must be a positive multiple of {2 * HEAD_DIM} and num_layers at least 1, "
            f"got {hidden_size} and {num_layers}"
        )
    out = Path(outdir).absolute()
    # A directory only ever goes from absent or empty to complete (by one rename), so a non-empty
    # one is checked for completeness after it was seen non-empty: a builder that won the race
    # between the two checks is then recognised instead of reported as foreign content.
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if _is_complete(out):
            return out
        raise FileExistsError(
            f"tiny model: output path {str(out)!r} exists but does not hold a complete model "
            f"(expected {', '.join(MODEL_FILES)}); remove it or choose another path"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        _write_model(tmp, seed, hidden_size, num_layers)
        try:
            # Replaces an empty directory atomically; fails if another builder won the race.
            os.rename(tmp, out)
        except OSError:
            if not _is_complete(out):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> None:
    """Console script `prime-rl-tiny-model OUTDIR [--seed N]`."""
    parser = argparse.ArgumentParser(
        prog="prime-rl-tiny-model",
        description="Build a tiny random Qwen3-architecture model and tokenizer offline (idempotent).",
    )
    parser.add_argument("outdir", help="directory to create (left as is if it already holds the model)")
    parser.add_argument("--seed", type=int, default=0, help="seed for tokenizer corpus and weights")
    parser.add_argument("--hidden-size", type=int, default=64, help="width, a multiple of 64 (default 64)")
    parser.add_argument("--layers", type=int, default=2, help="decoder layers (default 2)")
    args = parser.parse_args(argv)
    try:
        path = build_tiny_model(
            args.outdir, seed=args.seed, hidden_size=args.hidden_size, num_layers=args.layers
        )
    except (FileExistsError, PermissionError, NotADirectoryError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    print(path)


if __name__ == "__main__":
    main()
