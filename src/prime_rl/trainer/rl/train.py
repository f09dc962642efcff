"""`trainer @ train.toml`: RL trainer entry point (also `torchrun -m prime_rl.trainer.rl.train`).

The config (and the pod settings HEARTBEAT_FILE / IDLE_WHEN_DONE / METRICS_PORT, see
`prime_rl.lifecycle`) is parsed before torch and prometheus_client are imported so that `--help`
and config errors are instant.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    from prime_rl.config import parse_config
    from prime_rl.lifecycle import lifecycle_from_env
    from prime_rl.trainer.errors import TrainerError
    from prime_rl.trainer.rl.config import RLTrainerConfig

    config = parse_config(RLTrainerConfig, argv, prog="trainer")
    lifecycle = lifecycle_from_env("trainer")
    from prime_rl.metrics import MetricsServerError
    from prime_rl.trainer.rl.loop import Terminated, train

    try:
        train(config, lifecycle)
    except (TrainerError, MetricsServerError) as e:
        print(f"trainer: error: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    except Terminated:
        raise SystemExit(143) from None


if __name__ == "__main__":
    main()
