"""Running orchestrator and trainer as subprocesses, and writing their configs for the tiny model."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from vllm_server import child_env, log_tail, stop_group

PY = sys.executable


def spawn(argv: list[str], log: Path, **env: str) -> subprocess.Popen[bytes]:
    """Starts a process in its own process group, output appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as fh:
        return subprocess.Popen(
            argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=child_env(**env),
            start_new_session=True,
        )  # fmt: skip


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
                stop_group(proc, signal.SIGKILL)
            tails = "\n".join(f"--- {n} ---\n{log_tail(logs[n])}" for n in procs)
            raise AssertionError(f"exit codes {codes} (timeout {timeout} s)\n{tails}")
        time.sleep(0.2)
    return codes


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
