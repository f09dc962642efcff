"""``rl @ rl.toml``: inference, orchestrator and trainer as subprocesses sharing one output dir.

The launcher validates all three configs first (nothing starts on a config error), writes the
resolved configs to ``<output_dir>/configs/``, starts the inference server and waits for its
``/health``, then starts orchestrator and trainer. Their output is streamed with a ``[name]``
prefix. When any component fails, all are stopped (SIGTERM to each process group, SIGKILL after a
grace period) and the launcher exits 1; when orchestrator and trainer both finish, inference is
stopped and the launcher exits 0. The pod-only settings ``IDLE_WHEN_DONE`` and ``HEARTBEAT_FILE``
are never passed on, so the components exit when they are done.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from pydantic import BaseModel

from prime_rl.config import ConfigError, dump, parse_config
from prime_rl.launcher.config import RLConfig, component_config

EXIT_FAILED = 1
EXIT_CONFIG_ERROR = 2
#: Never passed to the components: with IDLE_WHEN_DONE they would idle instead of exiting (the
#: launcher waits for them to exit), and with one METRICS_PORT two of them would share a port.
POD_ONLY_ENV = ("IDLE_WHEN_DONE", "HEARTBEAT_FILE", "METRICS_PORT")
_print_lock = threading.Lock()


def say(message: str) -> None:
    with _print_lock:
        sys.stdout.write(f"[rl] {message}\n")
        sys.stdout.flush()


@dataclass
class Plan:
    """Everything needed to start the three components."""

    output_dir: Path
    configs: dict[str, Path]
    commands: dict[str, list[str]]
    envs: dict[str, dict[str, str]]
    health_url: str
    fresh: bool
    resolved: dict[str, BaseModel] = field(default_factory=dict)


def _local_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def build_plan(config: RLConfig) -> Plan:
    """Validates the three component configs with the shared keys applied; raises ConfigError."""
    from prime_rl.inference.config import InferenceConfig
    from prime_rl.orchestrator.config import OrchestratorConfig
    from prime_rl.trainer.rl.config import RLTrainerConfig

    out = Path(config.output_dir)
    world = config.trainer_processes
    shared: list[str] = []
    if config.max_steps is not None:
        shared += ["--max-steps", str(config.max_steps)]
    if config.max_async_level is not None:
        shared += ["--max-async-level", str(config.max_async_level)]

    inference_overrides = ["--model.name", config.model] if config.model else []
    inference = component_config(config.inference, InferenceConfig, "inference", inference_overrides)
    host, port = _local_host(inference.server.host), inference.server.port
    base_url = f"http://{host}:{port}/v1"

    orchestrator = component_config(
        config.orchestrator,
        OrchestratorConfig,
        "orchestrator",
        [
            *shared,
            "--output-dir", str(out),
            "--model.name", inference.model.served_name,
            "--model.tokenizer", inference.model.name,
            "--client.urls", json.dumps([base_url]),
            "--num-train-workers", str(world),
        ],
    )  # fmt: skip
    trainer_overrides = [*shared, "--output-dir", str(out), "--num-train-workers", str(world)]
    if config.model:
        trainer_overrides += ["--model.name", config.model]
    trainer = component_config(config.trainer, RLTrainerConfig, "trainer", trainer_overrides)

    if (orchestrator.ckpt.resume_step is None) != (trainer.ckpt.resume_step is None):
        raise ConfigError(
            "orchestrator.ckpt.resume_step and trainer.ckpt.resume_step must both be set (resume) "
            f"or both unset (fresh start); got {orchestrator.ckpt.resume_step!r} and "
            f"{trainer.ckpt.resume_step!r}"
        )
    if orchestrator.max_steps != trainer.max_steps:
        raise ConfigError(
            f"orchestrator max_steps={orchestrator.max_steps} and trainer max_steps={trainer.max_steps} "
            "differ; set max_steps in the rl config"
        )

    if orchestrator.run_id != trainer.run_id:
        raise ConfigError(
            f"orchestrator run_id={orchestrator.run_id!r} and trainer run_id={trainer.run_id!r} differ; "
            "set one run id for both (or neither)"
        )
    if orchestrator.ckpt.resume_step is None and orchestrator.run_id is None:
        # A fresh local run: both components get the same new id, so neither waits on the other's.
        from prime_rl.layout import new_run_id

        orchestrator.run_id = trainer.run_id = new_run_id()

    configs = {
        "inference": out / "configs" / "inference.toml",
        "orchestrator": out / "configs" / "orchestrator.toml",
        "trainer": out / "configs" / "trainer.toml",
    }
    py = sys.executable
    trainer_module = ["-m", "prime_rl.trainer.rl.train"]
    torchrun = [py, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={world}"]
    trainer_cmd = [py, *trainer_module] if world == 1 else [*torchrun, *trainer_module]
    commands = {
        "inference": [py, "-m", "prime_rl.inference.server", "@", str(configs["inference"])],
        "orchestrator": [py, "-m", "prime_rl.orchestrator.orchestrator", "@", str(configs["orchestrator"])],
        "trainer": [*trainer_cmd, "@", str(configs["trainer"])],
    }
    # Pod settings (see prime_rl.lifecycle): local children exit when done and share no heartbeat.
    inherited = {k: v for k, v in os.environ.items() if k not in POD_ONLY_ENV}
    base_env = {
        **inherited,
        "OUTPUT_DIR": str(out),
        "TRAINER_WORLD_SIZE": str(world),
        "PYTHONUNBUFFERED": "1",
    }
    base_env["INFERENCE_URLS"] = base_url
    envs = {role: dict(base_env) for role in commands}
    for role, ids in (("inference", config.inference_gpu_ids), ("trainer", config.trainer_gpu_ids)):
        if ids is not None:
            envs[role]["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in ids)
    plan = Plan(
        output_dir=out,
        configs=configs,
        commands=commands,
        envs=envs,
        health_url=f"http://{host}:{port}/health",
        fresh=orchestrator.ckpt.resume_step is None,
        resolved={"inference": inference, "orchestrator": orchestrator, "trainer": trainer},
    )
    return plan


class Component:
    """One subprocess in its own process group, its output streamed with a prefix."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self._pump: threading.Thread | None = None

    def start(self) -> None:
        say(f"starting {self.name}: {' '.join(self.argv)}")
        self.proc = subprocess.Popen(
            self.argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            start_new_session=True,
        )
        self._pump = threading.Thread(target=self._stream, args=(self.proc.stdout,), daemon=True)
        self._pump.start()

    def _stream(self, pipe: IO[bytes]) -> None:
        for raw in iter(pipe.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            with _print_lock:
                sys.stdout.write(f"[{self.name}] {line}\n")
                sys.stdout.flush()

    def poll(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def stop(self, timeout: float) -> None:
        """SIGTERM to the whole process group, SIGKILL after ``timeout`` seconds."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                say(f"{self.name} did not stop within {timeout:g} s; killing it")
                self._signal(signal.SIGKILL)
                self.proc.wait()
        else:
            # The leader is gone; stragglers of its group (vLLM workers, torchrun ranks) go too.
            self._signal(signal.SIGKILL)
        if self._pump is not None:
            self._pump.join(timeout=5)

    def _signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)


class Failure(Exception):
    """A component failed; the message says which and how."""


class Interrupted(Exception):
    """The launcher itself was asked to stop (SIGTERM); ``code`` is its exit status."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def wait_healthy(inference: Component, url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not _healthy(url):
        code = inference.poll()
        if code is not None:
            raise Failure(f"inference exited with code {code} before it became healthy")
        if time.monotonic() > deadline:
            raise Failure(f"inference did not answer 200 on {url} within {timeout:g} s")
        time.sleep(0.5)
    say(f"inference is healthy at {url}")


def supervise(components: dict[str, Component]) -> None:
    """Returns once orchestrator and trainer both exited 0; raises Failure on any other exit."""
    while True:
        codes = {name: c.poll() for name, c in components.items()}
        for name in ("orchestrator", "trainer"):
            if codes[name] not in (None, 0):
                raise Failure(f"{name} exited with code {codes[name]}")
        if codes["inference"] is not None:
            raise Failure(f"inference exited with code {codes['inference']} while training was running")
        if codes["orchestrator"] == 0 and codes["trainer"] == 0:
            return
        time.sleep(0.25)


def clear_stale(output_dir: Path) -> None:
    """Fresh run: no component may pick up an older run's rollouts or weights."""
    for name in ("rollouts", "broadcasts"):
        shutil.rmtree(output_dir / name, ignore_errors=True)


def run(config: RLConfig, plan: Plan) -> int:
    if config.build_tiny_model and config.model and not Path(config.model, "config.json").is_file():
        from prime_rl.tiny_model import build_tiny_model

        say(f"building the tiny test model at {config.model}")
        build_tiny_model(config.model)
    for role, path in plan.configs.items():
        dump(plan.resolved[role], path)
    if plan.fresh:
        clear_stale(plan.output_dir)
    components = {name: Component(name, plan.commands[name], plan.envs[name]) for name in plan.commands}

    def on_sigterm(signum: int, frame: object) -> None:
        raise Interrupted(128 + signum)

    signal.signal(signal.SIGTERM, on_sigterm)
    order = ["trainer", "orchestrator", "inference"]
    try:
        components["inference"].start()
        wait_healthy(components["inference"], plan.health_url, config.health_timeout_s)
        components["orchestrator"].start()
        components["trainer"].start()
        supervise(components)
        say("training finished; stopping inference")
        return 0
    except Failure as exc:
        say(f"error: {exc}; stopping all components")
        return EXIT_FAILED
    except KeyboardInterrupt:
        say("interrupted; stopping all components")
        return 128 + signal.SIGINT
    except Interrupted as exc:
        say("terminated; stopping all components")
        return exc.code
    finally:
        for name in order:
            components[name].stop(config.stop_timeout_s)


def main(argv: list[str] | None = None) -> None:
    config = parse_config(RLConfig, argv, prog="rl")
    try:
        plan = build_plan(config)
    except ConfigError as exc:
        print(f"rl: error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG_ERROR) from None
    raise SystemExit(run(config, plan))


if __name__ == "__main__":
    main()
