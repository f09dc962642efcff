"""Start and stop a real `inference` server (vLLM CPU build) for tests.

Usage::

    server = start_inference_server(model_dir, log_path=tmp / "inference.log", args=["--seed", "1"])
    try:
        ...  # server.url ("http://127.0.0.1:PORT"), server.v1_url (".../v1"), server.served_model_name
    finally:
        server.stop()

The server runs in its own process group so that stopping it also ends vLLM's engine processes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# Small and CPU-friendly: float32 matches the trainer on CPU, a fixed 64 MiB KV cache.
CPU_TEST_ARGS = (
    "--model.dtype",
    "float32",
    "--model.enforce-eager",
    "--model.max-model-len",
    "512",
    "--kv-cache-memory-bytes",
    str(64 * 1024 * 1024),
    "--max-num-seqs",
    "32",
)


def free_port() -> int:
    """A TCP port that is free right now on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def inference_command() -> list[str]:
    """The `inference` console script of this environment (module form if it is not installed)."""
    script = Path(sys.executable).with_name("inference")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "prime_rl.inference.server"]


def log_tail(path: Path, lines: int = 40) -> str:
    if not path.is_file():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class InferenceServer:
    process: subprocess.Popen[bytes]
    port: int
    served_model_name: str
    log_path: Path

    @property
    def url(self) -> str:
        """Root URL, where /health and the admin routes live."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def v1_url(self) -> str:
        return f"{self.url}/v1"

    def stop(self, timeout_s: float = 60.0) -> None:
        """SIGTERM the process group, SIGKILL it if it does not exit within ``timeout_s``."""
        stop_process_group(self.process, timeout_s)


def stop_process_group(process: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    # vLLM's engine processes share the group; make sure none outlives the server.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def wait_healthy(url: str, process: subprocess.Popen[bytes], log_path: Path, timeout_s: float) -> None:
    """Poll ``url``/health until it answers 200; fail early (with the log) if the process exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"inference server exited with code {process.returncode} before it was healthy:\n"
                f"{log_tail(log_path)}"
            )
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(1.0)
    raise RuntimeError(f"inference server not healthy after {timeout_s:.0f} s:\n{log_tail(log_path)}")


def start_inference_server(
    model_dir: str | Path,
    *,
    log_path: Path,
    args: Sequence[str] = CPU_TEST_ARGS,
    served_model_name: str | None = None,
    vllm_args: Sequence[str] = (),
    port: int | None = None,
    env: dict[str, str] | None = None,
    timeout_s: float = 600.0,
) -> InferenceServer:
    """Run `inference` on 127.0.0.1 and wait until /health answers; stop it again on failure."""
    port = port or free_port()
    command = [
        *inference_command(),
        "--model.name",
        str(model_dir),
        "--server.host",
        "127.0.0.1",
        "--server.port",
        str(port),
        *args,
    ]
    if served_model_name is not None:
        command += ["--model.served-model-name", served_model_name]
    if vllm_args:
        command += ["--", *vllm_args]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    server = InferenceServer(process, port, served_model_name or str(model_dir), log_path)
    try:
        wait_healthy(server.url, process, log_path, timeout_s)
    except BaseException:
        server.stop()
        raise
    return server
