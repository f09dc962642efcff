"""PRIME-RL runtime: trainer, orchestrator, inference server and environments.

Importing this package is cheap on purpose: entry points parse their configuration before any
heavy library (torch, transformers, vLLM) is imported.
"""

__version__ = "0.1.0"
