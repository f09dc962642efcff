"""The inference entry point turns its config into vLLM flags and rejects bad input before vLLM starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from prime_rl.config import load_config
from prime_rl.inference.config import InferenceConfig
from prime_rl.inference.server import MIDDLEWARE, WORKER_EXTENSION, vllm_argv

ROOT = Path(__file__).resolve().parents[2]


def _flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def _run_inference(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prime_rl.inference.server", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_defaults_serve_on_port_8000_with_weight_routes() -> None:
    argv = vllm_argv(InferenceConfig())
    assert _flag(argv, "--model") == "Qwen/Qwen3-0.6B"
    assert _flag(argv, "--served-model-name") == "Qwen/Qwen3-0.6B"
    assert _flag(argv, "--host") == "0.0.0.0"
    assert _flag(argv, "--port") == "8000"
    assert _flag(argv, "--dtype") == "auto"
    assert _flag(argv, "--worker-extension-cls") == WORKER_EXTENSION
    assert _flag(argv, "--middleware") == MIDDLEWARE
    assert "--enable-prefix-caching" in argv
    assert "--enforce-eager" not in argv
    assert "--max-model-len" not in argv
    # Sampling defaults never come from the model's generation_config.json.
    assert _flag(argv, "--generation-config") == "vllm"


def test_toml_and_cli_fill_every_flag(tmp_path: Path) -> None:
    toml = tmp_path / "infer.toml"
    toml.write_text(
        'seed = 7\nkv-cache-memory-bytes = 1024\nvllm_args = ["--max-logprobs", "5"]\n'
        '[model]\nname = "Qwen/Qwen3-1.7B"\nmax-model-len = 4096\nenforce_eager = true\n'
        "enable_prefix_caching = false\n[parallel]\ntensor_parallel_size = 2\n"
    )
    config = load_config(
        InferenceConfig, ["@", str(toml), "--server.port", "8123", "--model.served-model-name", "policy"]
    )
    argv = vllm_argv(config, ["--max-logprobs", "9"])
    assert _flag(argv, "--model") == "Qwen/Qwen3-1.7B"
    assert _flag(argv, "--served-model-name") == "policy"
    assert _flag(argv, "--port") == "8123"
    assert _flag(argv, "--max-model-len") == "4096"
    assert _flag(argv, "--tensor-parallel-size") == "2"
    assert _flag(argv, "--seed") == "7"
    assert _flag(argv, "--logprobs-mode") == "processed_logprobs"
    assert _flag(argv, "--kv-cache-memory-bytes") == "1024"
    assert "--enforce-eager" in argv
    assert "--no-enable-prefix-caching" in argv
    # Pass-through flags come last (TOML first, then the command line), so they win in vLLM's parser.
    assert argv[-4:] == ["--max-logprobs", "5", "--max-logprobs", "9"]


@pytest.mark.parametrize(
    "toml",
    [
        "examples/reverse_text/configs/infer.toml",
        "examples/wordle/configs/infer.toml",
        "examples/alphabet_sort/configs/infer.toml",
        "examples/smoke/infer.toml",
    ],
)
def test_example_configs_map_to_vllm_flags(toml: str) -> None:
    argv = vllm_argv(load_config(InferenceConfig, ["@", str(ROOT / toml)]))
    assert _flag(argv, "--port") == "8000"
    assert _flag(argv, "--worker-extension-cls") == WORKER_EXTENSION


def test_wordle_uses_two_way_tensor_parallelism() -> None:
    config = load_config(InferenceConfig, ["@", str(ROOT / "examples/wordle/configs/infer.toml")])
    assert config.parallel.tensor_parallel_size == 2
    assert config.model.name == "Qwen/Qwen3-1.7B"


def test_help_lists_fields() -> None:
    out = _run_inference("--help")
    assert out.returncode == 0
    assert "max_model_len" in out.stdout or "max-model-len" in out.stdout


@pytest.mark.parametrize("args", [["--help"], ["--server.port", "0"]])
def test_help_and_config_errors_import_neither_vllm_nor_torch(args: list[str]) -> None:
    probe = (
        "import sys\n"
        "from prime_rl.inference.server import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted({'vllm', 'torch', 'transformers'} & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_fails_on_unknown_key() -> None:
    out = _run_inference("--model.nme", "x")
    assert out.returncode == 2
    assert "nme" in out.stderr
    assert "Traceback" not in out.stderr


def test_fails_on_port_out_of_range() -> None:
    out = _run_inference("--server.port", "70000")
    assert out.returncode == 2
    assert "server.port" in out.stderr
    assert "70000" in out.stderr


def test_fails_on_unknown_dtype() -> None:
    out = _run_inference("--model.dtype", "fp8")
    assert out.returncode == 2
    assert "model.dtype" in out.stderr


def test_fails_on_missing_local_model(tmp_path: Path) -> None:
    out = _run_inference("--model.name", str(tmp_path / "nowhere"))
    assert out.returncode == 2
    assert "model.name" in out.stderr
    assert str(tmp_path / "nowhere") in out.stderr
    assert "Traceback" not in out.stderr


def test_fails_on_reserved_flag_in_vllm_args(tmp_path: Path) -> None:
    toml = tmp_path / "infer.toml"
    toml.write_text('vllm_args = ["--worker-extension-cls", "x.Y"]\n')
    out = _run_inference("@", str(toml))
    assert out.returncode == 2
    assert "vllm_args" in out.stderr
    assert "--worker-extension-cls" in out.stderr


def test_fails_on_generation_config_in_vllm_args(tmp_path: Path) -> None:
    toml = tmp_path / "infer.toml"
    toml.write_text('vllm_args = ["--generation-config", "auto"]\n')
    out = _run_inference("@", str(toml))
    assert out.returncode == 2
    assert "--generation-config" in out.stderr and "full distribution" in out.stderr


def test_fails_on_reserved_flag_after_double_dash() -> None:
    out = _run_inference("--", "--worker-extension-cls=x.Y")
    assert out.returncode == 2
    assert "after '--'" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.slow
@pytest.mark.vllm
def test_fails_on_a_flag_vllm_does_not_know(tiny_model_dir: Path) -> None:
    pytest.importorskip("vllm")
    out = _run_inference("--model.name", str(tiny_model_dir), "--", "--no-such-flag")
    assert out.returncode == 2
    assert "unrecognized arguments: --no-such-flag" in out.stderr
