"""Asynchronous RL trainer: consumes rollout files, publishes policy broadcasts."""
