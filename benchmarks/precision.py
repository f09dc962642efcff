"""Do small updates survive? 3 RL steps at lr 1e-6 with bfloat16 compute on the CPU.

    .venv/bin/python benchmarks/precision.py [--steps 3] [--lr 1e-6] [--device cuda]

Runs the real trainer step (`prepare_model` + `rl_train_step` + AdamW) on the tiny model twice:
with float32 master weights (the default `model.optimization_dtype`) and with bfloat16 ones, both
computing in bfloat16 through FSDP2's mixed-precision policy on one rank. Prints, for each, the
fraction of attention-projection entries (q/k/v/o_proj) of the master weights that changed; the
last line is the default's: `changed_fraction=<x>`.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

ATTENTION_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj")


def _micro_batches(model: torch.nn.Module, vocab: int, seed: int) -> list:
    """Random sequences scored by the model itself, so every importance ratio starts at 1."""
    from prime_rl.trainer.loss import shifted_logprobs
    from prime_rl.trainer.rollouts import MicroBatch

    generator = torch.Generator().manual_seed(seed)
    batches = []
    for index in range(2):
        input_ids = torch.randint(0, vocab, (1, 64), generator=generator)
        device = next(model.parameters()).device
        with torch.no_grad():
            logits = model(
                input_ids=input_ids.to(device),
                position_ids=torch.arange(64, device=device)[None],
                use_cache=False,
            ).logits.cpu()
        batches.append(
            MicroBatch(
                input_ids=input_ids,
                position_ids=torch.arange(64)[None],
                loss_mask=torch.ones(1, 64, dtype=torch.bool),
                advantages=torch.full((1, 64), 1.0 if index % 2 == 0 else -1.0),
                inference_logprobs=shifted_logprobs(logits, input_ids).detach(),
                temperature=1.0,
            )
        )
    return batches


def changed_fraction(
    model_dir: Path, optimization_dtype: str, steps: int, lr: float, device: torch.device
) -> float:
    """Fraction of attention-projection master-weight entries that `steps` RL steps changed."""
    from prime_rl.trainer.config import ModelConfig, OptimConfig
    from prime_rl.trainer.model import prepare_model
    from prime_rl.trainer.optim import build_optimizer
    from prime_rl.trainer.parallel import World
    from prime_rl.trainer.rl.config import RLLossConfig
    from prime_rl.trainer.rl.loop import rl_train_step
    from prime_rl.trainer.weights import gather_full_state_dict

    world = World(rank=0, world_size=1, local_rank=0, device=device)
    config = ModelConfig(name=str(model_dir), dtype="bfloat16", optimization_dtype=optimization_dtype)
    model = prepare_model(config, device, world_size=1)
    optimizer = build_optimizer(model, OptimConfig(lr=lr, weight_decay=0.0))
    before = {k: v.clone() for k, v in gather_full_state_dict(model, None).items() if k.endswith(".weight")}
    batches = _micro_batches(model, model.config.vocab_size, seed=0)
    for _ in range(steps):
        rl_train_step(model, optimizer, batches, RLLossConfig(), world, max_norm=1.0)
    after = gather_full_state_dict(model, None)
    changed = total = 0
    for key, old in before.items():
        if any(f".{name}." in key for name in ATTENTION_PROJECTIONS):
            if str(after[key].dtype) != f"torch.{optimization_dtype}":
                raise RuntimeError(f"{key} is kept in {after[key].dtype}, not {optimization_dtype}")
            changed += int((after[key] != old).sum())
            total += old.numel()
    return changed / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--lr", type=float, default=1e-6)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    from prime_rl.tiny_model import build_tiny_model
    from prime_rl.trainer.parallel import close_world

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_tiny_model(Path(tmp) / "tiny", seed=0)
        try:
            figures = {
                dtype: changed_fraction(model_dir, dtype, args.steps, args.lr, device)
                for dtype in ("bfloat16", "float32")
            }
        finally:
            close_world()
    print(f"{args.steps} RL steps at lr {args.lr:g}, bfloat16 compute, one rank on {args.device}")
    for dtype, fraction in figures.items():
        print(f"master weights in {dtype}: {fraction:.4f} of attention-projection entries changed")
    print(f"changed_fraction={figures['float32']:.4f}")


if __name__ == "__main__":
    main()
