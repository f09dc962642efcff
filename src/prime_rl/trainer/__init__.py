"""Trainer runtime: SFT and RL training of causal language models."""
