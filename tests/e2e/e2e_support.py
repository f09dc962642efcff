"""Running the real components as subprocesses: a restartable vLLM server and config writers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(**extra: str) -> dict[str, str]:
    """The test's environment without manifest variables that would change component defaults."""
    manifest = ("TRAINER_WORLD_SIZE", "INFERENCE_URLS", "INFERENCE_URL", "OUTPUT_DIR")
    env = {k: v for k, v in os.environ.items() if k not in manifest}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def spawn(argv: list[str], log: Path, **env: str) -> subprocess.Popen[bytes]:
    """Starts a process in its own process group, output appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as fh:
        return subprocess.Popen(
            argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=child_env(**env),
            start_new_session=True,
        )  # fmt: skip


def kill_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def wait_exit(
    procs: dict[str, subprocess.Popen[bytes]], timeout: float, logs: dict[str, Path]
) -> dict[str, int]:
    """Waits for all processes; on a failure or timeout kills the rest and reports the logs' tails."""
    deadline = time.monotonic() + timeout
    codes: dict[str, int] = {}
    while len(codes) < len(procs):
        for name, proc in procs.items():
            code = proc.poll()
            if code is not None and name not in codes:
                codes[name] = code
                if code != 0:
                    break
        if any(code != 0 for code in codes.values()) or time.monotonic() > deadline:
            for proc in procs.values():
                kill_group(proc)
            tails = "\n".join(f"--- {n} ---\n{tail(logs[n])}" for n in procs)
            raise AssertionError(f"exit codes {codes} (timeout {timeout} s)\n{tails}")
        time.sleep(0.2)
    return codes


def tail(path: Path, n: int = 40) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-n:])


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


def post(url: str, payload: dict[str, Any], timeout: float = 120) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


INFERENCE_TOML = """\
kv_cache_memory_bytes = 67108864
max_num_seqs = 64
[model]
name = "{model}"
dtype = "float32"
enforce_eager = true
max_model_len = 1024
[server]
host = "127.0.0.1"
port = {port}
"""


class VllmServer:
    """``inference @ infer.toml`` on the tiny model; can be killed and started again on the same port."""

    def __init__(self, model_dir: Path, workdir: Path) -> None:
        self.model_dir = model_dir
        self.port = free_port()
        self.workdir = workdir
        self.config = workdir / "infer.toml"
        self.config.write_text(INFERENCE_TOML.format(model=model_dir, port=self.port))
        self.log = workdir / "inference.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = spawn([PY, "-m", "prime_rl.inference.server", "@", str(self.config)], self.log)

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.root}/health", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def wait_healthy(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"inference exited with {self.proc.returncode}:\n{tail(self.log)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"inference not healthy after {timeout} s:\n{tail(self.log)}")
            time.sleep(0.5)

    def kill(self) -> None:
        if self.proc is not None:
            kill_group(self.proc)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            kill_group(self.proc, signal.SIGTERM)
            self.proc = None

    def reload_base(self) -> None:
        status, body = post(f"{self.root}/reload_weights", {})
        assert status == 200, body

    def greedy_logprobs(self, prompt_ids: list[int], n: int = 8) -> list[float]:
        """Log-probabilities of a greedy continuation of a fixed prompt (a fingerprint of the weights)."""
        status, body = post(
            f"{self.url}/completions",
            {
                "model": str(self.model_dir),
                "prompt": prompt_ids,
                "max_tokens": n,
                "temperature": 0.0,
                "logprobs": 0,
                "ignore_eos": True,
            },
        )
        assert status == 200, body
        return [float(x) for x in body["choices"][0]["logprobs"]["token_logprobs"]]


def orchestrator_toml(out: Path, model: Path, url: str, **over: Any) -> str:
    """A small orchestrator config for the tiny model (override top-level keys with ``over``)."""
    top = {
        "output_dir": str(out),
        "batch_size": 16,
        "rollouts_per_example": 4,
        "seq_len": 512,
        "max_steps": 4,
        "poll_interval_s": 0.1,
        **over,
    }
    lines = [f"{k} = {json.dumps(v)}" for k, v in top.items()]
    lines += ["[model]", f"name = {json.dumps(str(model))}", "[client]", f"urls = [{json.dumps(url)}]"]
    return "\n".join(lines) + "\n"


def trainer_toml(out: Path, model: Path, **over: Any) -> str:
    top = {"output_dir": str(out), "max_steps": 4, **over}
    lines = [f"{k} = {json.dumps(v)}" for k, v in top.items()]
    lines += ["[model]", f"name = {json.dumps(str(model))}", "[rollouts]", "poll_interval = 0.1"]
    return "\n".join(lines) + "\n"
