"""A real `inference` server (vLLM CPU build) for tests, on 127.0.0.1 with a fixed port.

Usage::

    server = start_inference_server(model_dir, workdir, served_model_name="tiny-policy")
    try:
        ...  # server.root_url (/health, admin routes), server.v1_url, server.served_model_name
    finally:
        server.stop()

The server runs in its own process group so that stopping it also ends vLLM's engine processes.
``kill()`` then ``start()`` brings it back on the same port, as a restarted pod comes back on its
address, which the fault tests rely on.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Small and CPU-friendly: float32 matches the trainer on CPU, a fixed 64 MiB KV cache.
CPU_TEST_ARGS = (
    "--model.dtype",
    "float32",
    "--model.enforce-eager",
    "--model.max-model-len",
    "1024",
    "--kv-cache-memory-bytes",
    str(64 * 1024 * 1024),
    "--max-num-seqs",
    "64",
)
# Variables the manifests set; a test's components must not inherit them from the CI machine.
MANIFEST_ENV = (
    "TRAINER_WORLD_SIZE",
    "INFERENCE_URLS",
    "INFERENCE_URL",
    "OUTPUT_DIR",
    "RUN_ID",
    "MAX_ASYNC_LEVEL",
    "IDLE_WHEN_DONE",
    "HEARTBEAT_FILE",
    "INFERENCE_PORT",
    "METRICS_PORT",
)


def free_port() -> int:
    """A TCP port that is free right now on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_env(**extra: str) -> dict[str, str]:
    """The test's environment without manifest variables that would change component defaults."""
    env = {k: v for k, v in os.environ.items() if k not in MANIFEST_ENV}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def log_tail(path: Path, lines: int = 40) -> str:
    if not path.is_file():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def stop_group(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout_s: float = 60.0) -> None:
    """Sends ``sig`` to the process group, SIGKILLs it if the leader outlives ``timeout_s``.

    vLLM's engine processes and torchrun's ranks share the group; none may outlive a test.
    """
    if process.poll() is None:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def post_json(url: str, payload: dict[str, Any], timeout: float = 120) -> tuple[int, dict[str, Any]]:
    """POSTs JSON; returns the status and the decoded body, also for 4xx/5xx answers."""
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def publish_broadcast(root: Path, tensors: dict[str, Any], stable: bool = True) -> Path:
    """Writes a broadcast as the trainer lays it out: ``model.safetensors``, then ``STABLE`` (optional)."""
    from safetensors.torch import save_file

    root.mkdir(parents=True)
    save_file(tensors, str(root / "model.safetensors"))
    if stable:
        (root / "STABLE").touch()
    return root


def inference_command() -> list[str]:
    """The `inference` console script of this environment (module form if it is not installed)."""
    script = Path(sys.executable).with_name("inference")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "prime_rl.inference.server"]


class InferenceServer:
    """``inference`` on the tiny model; ``start()`` again after ``kill()`` reuses the same port."""

    def __init__(
        self,
        model_dir: str | Path,
        workdir: Path,
        *,
        served_model_name: str | None = None,
        args: Sequence[str] = CPU_TEST_ARGS,
        vllm_args: Sequence[str] = (),
        port: int | None = None,
    ) -> None:
        self.model_dir = Path(model_dir)
        self.port = port or free_port()
        self.served_model_name = served_model_name or str(model_dir)
        self.log_path = workdir / "inference.log"
        workdir.mkdir(parents=True, exist_ok=True)
        self.command = [
            *inference_command(),
            "--model.name", str(model_dir),
            "--server.host", "127.0.0.1",
            "--server.port", str(self.port),
            *args,
        ]  # fmt: skip
        if served_model_name is not None:
            self.command += ["--model.served-model-name", served_model_name]
        if vllm_args:
            self.command += ["--", *vllm_args]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def root_url(self) -> str:
        """Where /health and the admin routes live."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def v1_url(self) -> str:
        """The OpenAI base URL, as the orchestrator's ``client.urls`` takes it."""
        return f"{self.root_url}/v1"

    def start(self) -> None:
        """Starts the process (output appended to the log); returns at once, see ``wait_healthy``."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=child_env(),
            )

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.root_url}/health", timeout=5) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def wait_healthy(self, timeout_s: float = 600.0) -> None:
        """Polls /health until it answers 200; fails early (with the log) if the process exits."""
        deadline = time.monotonic() + timeout_s
        while not self.healthy():
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"inference server exited with code {self.process.returncode} before it was healthy:\n"
                    f"{log_tail(self.log_path)}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"inference server not healthy after {timeout_s:.0f} s:\n{log_tail(self.log_path)}"
                )
            time.sleep(0.5)

    def kill(self) -> None:
        """SIGKILL, as a crashed pod: nothing gets to clean up."""
        if self.process is not None:
            stop_group(self.process, signal.SIGKILL)
            self.process = None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if vLLM does not exit within a minute."""
        if self.process is not None:
            stop_group(self.process)
            self.process = None

    def update_weights(self, weight_dir: Path) -> None:
        status, body = post_json(f"{self.root_url}/update_weights", {"weight_dir": str(weight_dir)})
        assert status == 200, body

    def reload_base(self) -> None:
        status, body = post_json(f"{self.root_url}/reload_weights", {})
        assert status == 200, body

    def greedy_logprobs(self, prompt_ids: list[int], n: int = 8) -> list[float]:
        """Log-probabilities of a greedy continuation of a fixed prompt (a fingerprint of the weights)."""
        status, body = post_json(
            f"{self.v1_url}/completions",
            {
                "model": self.served_model_name,
                "prompt": prompt_ids,
                "max_tokens": n,
                "temperature": 0.0,
                "logprobs": 0,
                "ignore_eos": True,
            },
        )
        assert status == 200, body
        return [float(x) for x in body["choices"][0]["logprobs"]["token_logprobs"]]


def start_inference_server(model_dir: str | Path, workdir: Path, **options: Any) -> InferenceServer:
    """An ``InferenceServer`` started and healthy; stopped again if it never gets there."""
    server = InferenceServer(model_dir, workdir, **options)
    server.start()
    try:
        server.wait_healthy()
    except BaseException:
        server.stop()
        raise
    return server
