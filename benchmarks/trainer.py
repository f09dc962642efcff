"""Throughput of the RL trainer step against a plain transformers training loop on the same batch.

    python benchmarks/trainer.py                       # tiny model, built offline
    python benchmarks/trainer.py --hidden-size 256 --layers 4 --seq-len 512
    python benchmarks/trainer.py --model Qwen/Qwen3-0.6B --seq-len 2048   # on a GPU, prints MFU too

Ours = `rl_train_step` (forward per packed micro-batch, importance-masked loss, entropy, backward,
clip, AdamW). Baseline = `model(input_ids, labels=...)`, backward, AdamW. Both see the same tokens;
the ratio ours/baseline is the overhead of the RL loss and bookkeeping. Also times one broadcast
publish. On CUDA, MFU = 6 * N * tokens/s / peak FLOP/s (peak from a table by device name, or
--peak-tflops).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch

# Dense bf16 tensor-core peaks (TFLOP/s) by a substring of torch.cuda.get_device_name().
PEAK_TFLOPS = {
    "H200": 989.0,
    "H100": 989.0,
    "H800": 989.0,
    "A100": 312.0,
    "A800": 312.0,
    "L40S": 362.0,
    "L40": 181.0,
    "A10G": 125.0,
    "A10": 125.0,
    "L4": 121.0,
    "RTX 4090": 165.0,
    "RTX 3090": 71.0,
    "B200": 2250.0,
}


def _model_dir(args: argparse.Namespace, workdir: Path) -> str:
    """The model to benchmark: --model, else the tiny model (optionally widened/deepened)."""
    if args.model:
        return args.model
    from prime_rl.tiny_model import build_tiny_model

    return str(build_tiny_model(workdir / "tiny", hidden_size=args.hidden_size, num_layers=args.layers))


def _micro_batches(vocab: int, seq_len: int, count: int, sample_len: int, seed: int) -> list:
    """Packed micro-batches like the orchestrator writes: samples end to end, half prompt, half completion."""
    from prime_rl.trainer.rollouts import MicroBatch

    generator = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(count):
        per_row = max(1, seq_len // sample_len)
        input_ids = torch.randint(3, vocab, (1, per_row * sample_len), generator=generator)
        position_ids = torch.arange(sample_len).repeat(per_row)[None]
        loss_mask = (position_ids >= sample_len // 2).clone()
        advantages = (
            torch.randn(1, per_row, generator=generator).repeat_interleave(sample_len, dim=1) * loss_mask
        )
        batches.append(
            MicroBatch(
                input_ids=input_ids,
                position_ids=position_ids,
                loss_mask=loss_mask,
                advantages=advantages.float(),
                inference_logprobs=torch.full(input_ids.shape, -6.0) * loss_mask,
                temperature=1.0,
            )
        )
    return batches


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", help="HF name or local dir (default: the offline tiny model)")
    parser.add_argument("--hidden-size", type=int, default=64, help="tiny model width, a multiple of 64")
    parser.add_argument("--layers", type=int, default=2, help="tiny model depth")
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--sample-len", type=int, default=64, help="tokens per packed sample")
    parser.add_argument("--micro-batches", type=int, default=4)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds; medians are reported")
    parser.add_argument("--peak-tflops", type=float, help="device peak for MFU (default: table by GPU name)")
    args = parser.parse_args()

    from transformers import AutoModelForCausalLM

    from prime_rl.trainer.config import ModelConfig, OptimConfig
    from prime_rl.trainer.model import prepare_model, resolve_dtype
    from prime_rl.trainer.optim import build_optimizer
    from prime_rl.trainer.parallel import World
    from prime_rl.trainer.rl.config import RLLossConfig
    from prime_rl.trainer.rl.loop import rl_train_step
    from prime_rl.trainer.weights import gather_full_state_dict, publish_broadcast

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    world = World(rank=0, world_size=1, local_rank=0, device=device)
    workdir = Path(tempfile.mkdtemp(prefix="trainer-bench-"))
    try:
        name = _model_dir(args, workdir)
        optim_config = OptimConfig(lr=1e-6)
        ours = prepare_model(ModelConfig(name=name), device, 1)
        ours_optim = build_optimizer(ours, optim_config)
        dtype = resolve_dtype("auto", device)
        plain = AutoModelForCausalLM.from_pretrained(name, dtype=dtype, attn_implementation="sdpa").to(device)
        plain_optim = torch.optim.AdamW(plain.parameters(), lr=optim_config.lr, betas=optim_config.betas)
        n_params = sum(p.numel() for p in ours.parameters())
        batches = _micro_batches(ours.config.vocab_size, args.seq_len, args.micro_batches, args.sample_len, 0)
        tokens = sum(mb.input_ids.numel() for mb in batches)

        def our_step() -> None:
            rl_train_step(ours, ours_optim, batches, RLLossConfig(), world, max_norm=1.0)

        def plain_step() -> None:
            plain.train()
            for mb in batches:
                input_ids = mb.input_ids.to(device)
                position_ids = mb.position_ids.to(device)
                plain(input_ids=input_ids, position_ids=position_ids, labels=input_ids).loss.backward()
            plain_optim.step()
            plain_optim.zero_grad(set_to_none=True)

        def rate(step: object) -> float:
            _sync(device)
            start = time.perf_counter()
            for _ in range(args.steps):
                step()  # type: ignore[operator]
            _sync(device)
            return tokens * args.steps / (time.perf_counter() - start)

        for _ in range(args.warmup):
            our_step()
            plain_step()
        ours_rates, plain_rates = [], []
        for _ in range(args.rounds):
            ours_rates.append(rate(our_step))
            plain_rates.append(rate(plain_step))
        ours_tps, plain_tps = statistics.median(ours_rates), statistics.median(plain_rates)
        # Each round's ratio shares that round's machine state: their median is what to act on.
        ratios = sorted(o / p for o, p in zip(ours_rates, plain_rates, strict=True))

        _sync(device)
        start = time.perf_counter()
        state = gather_full_state_dict(ours, None)
        publish_broadcast(state, workdir / "out", 1, None)
        publish_s = time.perf_counter() - start
        size_gb = (workdir / "out" / "broadcasts" / "step_1" / "model.safetensors").stat().st_size / 1e9

        print(f"device: {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}")
        print(f"model: {name} ({n_params / 1e6:.2f}M parameters, {dtype})")
        print(f"batch: {args.micro_batches} micro-batches x {args.seq_len} tokens = {tokens} tokens/step")
        print(f"ours (rl_train_step):        {ours_tps:12.0f} tokens/s")
        print(f"plain transformers loop:     {plain_tps:12.0f} tokens/s")
        print(
            f"ratio ours / plain:          {statistics.median(ratios):12.3f}  "
            f"(median of {args.rounds} interleaved rounds; range {ratios[0]:.3f} to {ratios[-1]:.3f})"
        )
        print(f"broadcast publish:           {publish_s:12.3f} s for {size_gb:.3f} GB")
        if device.type == "cuda":
            peak = args.peak_tflops
            if peak is None:
                device_name = torch.cuda.get_device_name(device)
                peak = next((v for k, v in PEAK_TFLOPS.items() if k in device_name), None)
            if peak is None:
                print("mfu: unknown peak for this GPU; pass --peak-tflops")
            else:
                for label, tps in (("ours", ours_tps), ("plain", plain_tps)):
                    print(f"mfu {label}: {6 * n_params * tps / (peak * 1e12):.1%} of {peak:g} TFLOP/s")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
