"""Inference server configuration: what vLLM serves and how, plus flags passed through verbatim.

Imports only pydantic and ``prime_rl.config`` so that ``inference --help`` and config errors come
back before vLLM (and torch) are imported.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from prime_rl.config import BaseConfig, env_int

# Set by the server itself; a second value would replace the weight-update extension.
RESERVED_VLLM_FLAGS = ("--worker-extension-cls", "--generation-config")


class ModelConfig(BaseConfig):
    """The served model."""

    name: str = "Qwen/Qwen3-0.6B"
    """Hugging Face model name or local directory (a path must exist when the server starts)."""

    served_model_name: str | None = None
    """Name clients put in requests and /v1/models lists; defaults to `name`."""

    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    """Weight and activation dtype; `auto` takes the checkpoint's (bf16 for fp32 checkpoints on GPU)."""

    max_model_len: Annotated[int, Field(ge=1)] | None = None
    """Longest prompt + completion in tokens; None uses the model's maximum."""

    enforce_eager: bool = False
    """Skip CUDA graphs / compilation: slower decoding, faster start (useful on CPU and in tests)."""

    trust_remote_code: bool = False
    """Allow model code from the model repository."""

    enable_prefix_caching: bool = True
    """Reuse KV blocks of shared prompt prefixes (rollouts of one example share the prompt)."""

    @property
    def served_name(self) -> str:
        return self.served_model_name or self.name


class ServerConfig(BaseConfig):
    """Where the OpenAI-compatible HTTP server listens."""

    host: str = "0.0.0.0"
    """Interface to bind."""

    port: int = Field(default_factory=env_int("INFERENCE_PORT", 8000))
    """TCP port, 1 to 65535; default $INFERENCE_PORT (the manifests set the port their Services
    target), else 8000."""

    @field_validator("port")
    @classmethod
    def _tcp_port(cls, value: int) -> int:
        """Named here, not by a bare range error: the value may come from the environment."""
        if not 1 <= value <= 65535:
            raise ValueError(
                f"server.port={value} is not a TCP port (expected 1 to 65535; the default comes from "
                "$INFERENCE_PORT)"
            )
        return value


class ParallelConfig(BaseConfig):
    """How the model is split over the accelerators of one pod."""

    tensor_parallel_size: Annotated[int, Field(ge=1)] = 1
    """GPUs one model replica is sharded over."""

    data_parallel_size: Annotated[int, Field(ge=1)] = 1
    """Model replicas inside this server."""


class InferenceConfig(BaseConfig):
    """`inference @ infer.toml [--key value]... [-- <vLLM flags>...]`."""

    model: ModelConfig = Field(default_factory=ModelConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    parallel: ParallelConfig = Field(default_factory=ParallelConfig)

    gpu_memory_utilization: Annotated[float, Field(gt=0, le=1)] = 0.9
    """Fraction of accelerator memory vLLM may use (on CPU: of host memory, unless kv_cache_memory_bytes)."""

    kv_cache_memory_bytes: Annotated[int, Field(ge=1)] | None = None
    """Fixed KV-cache size in bytes instead of a memory fraction (keeps CPU runs small)."""

    max_num_seqs: Annotated[int, Field(ge=1)] | None = None
    """Most sequences decoded together; None keeps vLLM's default."""

    seed: int = 0
    """Sampling seed of the engine."""

    logprobs_mode: Literal["processed_logprobs", "raw_logprobs"] = "processed_logprobs"
    """Which logprobs come back with sampled tokens. `processed_logprobs` are taken after
    temperature scaling, i.e. from the distribution the tokens were drawn from, which is what the
    trainer's importance ratio (it scales its logits by the same temperature) compares against."""

    vllm_args: list[str] = Field(default_factory=list)
    """Extra vLLM server flags passed verbatim (command-line arguments after `--` follow these)."""

    @model_validator(mode="after")
    def _no_reserved_flags(self) -> InferenceConfig:
        check_vllm_args(self.vllm_args, "vllm_args")
        return self


def check_vllm_args(args: list[str], where: str) -> None:
    """Reject pass-through flags that would replace the weight-update extension or routes."""
    for arg in args:
        flag = arg.split("=", 1)[0]
        if flag in RESERVED_VLLM_FLAGS:
            raise ValueError(
                f"{where} may not contain {flag!r}: the inference server sets it itself (to load "
                f"weight updates, and to sample from the full distribution the trainer scores)"
            )
