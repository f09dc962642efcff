"""vLLM inference server with hot weight updates for the RL loop."""
