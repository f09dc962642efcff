"""`inference @ infer.toml [--key value]... [-- <vLLM flags>...]`: vLLM's OpenAI server plus weight routes.

The config is parsed and checked before anything heavy is imported; the process then becomes
``python -m vllm.entrypoints.openai.api_server`` (exec, so signals and the exit code are vLLM's own)
with two public extension points filled in: ``--worker-extension-cls`` (loads weights inside every
worker) and ``--middleware`` (serves ``POST /update_weights`` and ``POST /reload_weights``).
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from prime_rl.config import parse_config
from prime_rl.inference.config import InferenceConfig, check_vllm_args

WORKER_EXTENSION = "prime_rl.inference.worker_extension.WeightUpdateExtension"
MIDDLEWARE = "prime_rl.inference.admin.WeightRoutesMiddleware"
VLLM_SERVER_MODULE = "vllm.entrypoints.openai.api_server"
EXIT_CONFIG_ERROR = 2


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~")) or os.path.exists(name)


def vllm_argv(config: InferenceConfig, passthrough: Sequence[str] = ()) -> list[str]:
    """vLLM server flags for ``config``; pass-through flags come last so they win."""
    model = config.model
    name = str(Path(model.name).expanduser()) if _looks_like_path(model.name) else model.name
    argv = [
        "--model", name,
        "--served-model-name", model.served_name,
        "--host", config.server.host,
        "--port", str(config.server.port),
        "--dtype", model.dtype,
        "--tensor-parallel-size", str(config.parallel.tensor_parallel_size),
        "--data-parallel-size", str(config.parallel.data_parallel_size),
        "--gpu-memory-utilization", str(config.gpu_memory_utilization),
        "--seed", str(config.seed),
        "--logprobs-mode", config.logprobs_mode,
        # Sampling defaults come from vLLM, never the model's generation_config.json, whose
        # top_k/top_p would truncate what the trainer scores in full (requests pin them too).
        "--generation-config", "vllm",
        "--enable-prefix-caching" if model.enable_prefix_caching else "--no-enable-prefix-caching",
        "--worker-extension-cls", WORKER_EXTENSION,
        "--middleware", MIDDLEWARE,
    ]  # fmt: skip
    if model.max_model_len is not None:
        argv += ["--max-model-len", str(model.max_model_len)]
    if model.enforce_eager:
        argv.append("--enforce-eager")
    if model.trust_remote_code:
        argv.append("--trust-remote-code")
    if config.kv_cache_memory_bytes is not None:
        argv += ["--kv-cache-memory-bytes", str(config.kv_cache_memory_bytes)]
    if config.max_num_seqs is not None:
        argv += ["--max-num-seqs", str(config.max_num_seqs)]
    return [*argv, *config.vllm_args, *passthrough]


def _fail(message: str) -> None:
    print(f"inference: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_CONFIG_ERROR)


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    passthrough: list[str] = []
    if "--" in args:
        cut = args.index("--")
        args, passthrough = args[:cut], args[cut + 1 :]
    config = parse_config(InferenceConfig, args, prog="inference")
    try:
        check_vllm_args(passthrough, "arguments after '--'")
    except ValueError as exc:
        _fail(str(exc))
    name = config.model.name
    if _looks_like_path(name) and not (Path(name).expanduser() / "config.json").is_file():
        _fail(f"model.name {name!r} is a local path but holds no model (no config.json there)")
    command = [sys.executable, "-m", VLLM_SERVER_MODULE, *vllm_argv(config, passthrough)]
    print(f"inference: serving {config.model.served_name!r}: {shlex.join(command)}", flush=True)
    os.execv(sys.executable, command)


if __name__ == "__main__":
    main()
