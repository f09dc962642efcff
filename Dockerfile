# syntax=docker/dockerfile:1.7
# The image every PRIME-RL pod runs: CUDA, Python 3.12, torch, vLLM and this project's runtime
# (`trainer`, `sft`, `orchestrator`, `inference`, `rl`, `prime-rl-tiny-model`) in /app/.venv, with the
# example configs in /app/examples. Everything is installed at build time, so `uv run trainer @ ...`
# and the plain entry points work inside the container without network access.

FROM ghcr.io/astral-sh/uv:0.8.22 AS uv

FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04

ARG PYTHON_VERSION=3.12
ARG APP_UID=1000

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

# Dependencies first (the slow layer), from the project's metadata only, so source edits reuse it.
COPY pyproject.toml /app/pyproject.toml
RUN --mount=type=cache,target=/root/.cache/uv \
    uv python install "${PYTHON_VERSION}" \
    && uv venv /app/.venv --python "${PYTHON_VERSION}" \
    && uv pip install --python /app/.venv/bin/python -r pyproject.toml --extra runtime --extra gpu

# README.md is the package's readme in pyproject.toml: building the editable install needs it.
COPY README.md /app/README.md
COPY lib/ /app/lib/
COPY src/ /app/src/
COPY examples/ /app/examples/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv pip install --python /app/.venv/bin/python --no-deps --editable /app \
    && /app/.venv/bin/python -c "import prime_rl.config, prime_rl.envs" \
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
