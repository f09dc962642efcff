"""Supervised fine-tuning on chat conversations with loss on assistant tokens."""
