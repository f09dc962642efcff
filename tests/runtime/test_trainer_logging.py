"""Trainer step logging: console line, metrics.jsonl, a progress bar only on a terminal, optional wandb."""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from prime_rl.trainer.config import LogConfig, WandbConfig
from prime_rl.trainer.logging import StepLogger, format_line

METRICS = {
    "loss": -0.125,
    "entropy": 2.5,
    "grad_norm": 0.75,
    "lr": 3e-6,
    "tokens_per_s": 1234.4,
    "peak_memory_gib": 1.5,
    "tokens": 64.0,
}


def test_line_names_every_figure() -> None:
    assert format_line(3, 20, METRICS) == (
        "step 3/20 | loss -0.1250 | entropy 2.5000 | grad_norm 0.7500 | lr 3.00e-06 | "
        "tokens/s 1234 | peak_mem 1.50 GiB"
    )


def test_rank_zero_writes_metrics_jsonl_and_the_line_without_a_bar(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from prime_rl.trainer.logging import setup_console

    setup_console("info", 0)
    logger = StepLogger(LogConfig(), tmp_path, "trainer", 0, 2, 0, {})
    logger.log(1, METRICS)
    logger.log(2, METRICS)
    logger.close()
    StepLogger(LogConfig(), tmp_path / "other", "trainer", 1, 2, 0, {}).log(1, METRICS)
    lines = (tmp_path / "logs" / "trainer" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [{"step": 1, **METRICS}, {"step": 2, **METRICS}]
    assert not (tmp_path / "other").exists()  # other ranks write nothing
    err = capsys.readouterr().err
    assert "step 2/2 | loss -0.1250" in err
    assert "it/s" not in err and "\r" not in err  # no progress bar when stderr is not a terminal


def test_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    code = (
        "from pathlib import Path\n"
        "from prime_rl.trainer.config import LogConfig\n"
        "from prime_rl.trainer.logging import StepLogger\n"
        f"m = {METRICS!r}\n"
        f"s = StepLogger(LogConfig(), Path({str(tmp_path)!r}), 'trainer', 0, 2, 0, {{}})\n"
        "s.log(1, m)\n"
        "s.log(2, m)\n"
        "s.close()\n"
    )
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # a real size, not 0x0
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=slave, stdout=subprocess.DEVNULL)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the terminal closes when the child exits
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.wait(timeout=60) == 0
    out = b"".join(chunks).decode(errors="replace")
    assert "trainer: 100%|" in out  # the bar, named after the trainer, reached the end
    assert "step 2/2 | loss -0.1250" in out  # the line is written above the bar


@pytest.mark.skipif(importlib.util.find_spec("wandb") is not None, reason="wandb is installed")
def test_wandb_requested_but_not_installed_logs_locally(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from prime_rl.trainer.logging import setup_console

    setup_console("info", 0)
    logger = StepLogger(LogConfig(wandb=WandbConfig(project="demo")), tmp_path, "sft", 0, 1, 0, {})
    logger.log(1, METRICS)
    logger.close()
    assert "log.wandb.project is set but wandb is not installed" in capsys.readouterr().err
    assert (tmp_path / "logs" / "sft" / "metrics.jsonl").is_file()
