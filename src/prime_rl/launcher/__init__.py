"""Local launcher: inference, orchestrator and trainer on one machine (`rl @ rl.toml`)."""
