"""`sft @ train.toml`: supervised fine-tuning entry point.

Also runs as a script under torchrun (`torchrun ... src/prime_rl/trainer/sft/train.py @ x.toml`),
so it imports the installed package by absolute name. The config (and the pod settings
HEARTBEAT_FILE / IDLE_WHEN_DONE / METRICS_PORT, see `prime_rl.lifecycle`) is parsed before torch
and prometheus_client load.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    from prime_rl.config import parse_config
    from prime_rl.lifecycle import lifecycle_from_env
    from prime_rl.trainer.errors import TrainerError
    from prime_rl.trainer.sft.config import SFTConfig

    config = parse_config(SFTConfig, argv, prog="sft")
    lifecycle = lifecycle_from_env("sft")
    from prime_rl.metrics import MetricsServerError
    from prime_rl.trainer.sft.loop import train

    try:
        train(config, lifecycle)
    except (TrainerError, MetricsServerError) as e:
        print(f"sft: error: {e}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
