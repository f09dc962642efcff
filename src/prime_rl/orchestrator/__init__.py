"""Orchestrator: turns environment prompts into scored, packed rollout batches for the trainer."""
