"""Per-step logging: a console line, a metrics.jsonl record, a progress bar on a TTY, optional wandb."""

from __future__ import annotations

import json
import logging
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import torch

from prime_rl.trainer.config import LogConfig

logger = logging.getLogger("prime_rl.trainer")


def setup_console(level: str, rank: int) -> None:
    """Rank 0 logs at the configured level; other ranks only warnings, so lines are not repeated."""
    logging.basicConfig(
        level=level.upper() if rank == 0 else "WARNING",
        format=f"%(asctime)s [trainer rank {rank}] %(levelname)s %(message)s",
        stream=sys.stderr,
        force=True,
    )


def peak_memory_gib(device: torch.device) -> float:
    """Peak GPU memory allocated, or the process's peak resident memory on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def add_step_timing(metrics: dict[str, float], started: float, device: torch.device) -> None:
    """Add throughput, step time and peak memory for a step that began at `started` (perf_counter)."""
    elapsed = time.perf_counter() - started
    metrics["tokens_per_s"] = metrics["tokens"] / elapsed
    metrics["step_time_s"] = elapsed
    metrics["peak_memory_gib"] = peak_memory_gib(device)


def format_line(step: int, max_steps: int, metrics: dict[str, float]) -> str:
    """The console line of a step; RL steps also show how far sampler and trainer disagree."""
    mismatch = ""
    if "mismatch_kl" in metrics:
        mismatch = (
            f" | mismatch_kl {metrics['mismatch_kl']:.2e} | masked_low {metrics['masked_low']:.3f}"
            f" | masked_high {metrics['masked_high']:.3f}"
        )
    return (
        f"step {step}/{max_steps} | loss {metrics['loss']:.4f} | entropy {metrics['entropy']:.4f} | "
        f"grad_norm {metrics['grad_norm']:.4f} | lr {metrics['lr']:.2e}{mismatch} | "
        f"tokens/s {metrics['tokens_per_s']:.0f} | peak_mem {metrics['peak_memory_gib']:.2f} GiB"
    )


class StepLogger:
    """Writes every step's metrics on rank 0; `close` finishes the progress bar and wandb run."""

    def __init__(
        self,
        config: LogConfig,
        output_dir: Path,
        name: str,
        rank: int,
        max_steps: int,
        start_step: int,
        run_config: dict[str, Any],
    ) -> None:
        self.enabled = rank == 0
        self.max_steps = max_steps
        self.metrics_path = output_dir / "logs" / name / "metrics.jsonl"
        self._bar = None
        self._wandb = None
        if not self.enabled:
            return
        self.metrics_path.parent.mkdir(parents=True, exist_ok=True)
        if sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=max_steps, initial=start_step, desc=name, dynamic_ncols=True)
        if config.wandb.project is not None:
            try:
                import wandb
            except ImportError:
                logger.warning("log.wandb.project is set but wandb is not installed; logging locally only")
            else:
                self._wandb = wandb.init(
                    project=config.wandb.project,
                    name=config.wandb.name,
                    entity=config.wandb.entity,
                    config=run_config,
                    resume="allow",
                    id=os.environ.get("WANDB_RUN_ID"),
                )

    def log(self, step: int, metrics: dict[str, float]) -> None:
        """`step` is the number of completed steps."""
        if not self.enabled:
            return
        line = format_line(step, self.max_steps, metrics)
        if self._bar is not None:
            self._bar.update(1)
            self._bar.write(line, file=sys.stderr)
        else:
            logger.info(line)
        with self.metrics_path.open("a") as f:
            f.write(json.dumps({"step": step, **metrics}) + "\n")
        if self._wandb is not None:
            self._wandb.log(metrics, step=step)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        if self._wandb is not None:
            self._wandb.finish()
