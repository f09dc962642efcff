#!/usr/bin/env bash
# Synthesize every example app into dist/ (construct library only: no torch, no GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install --quiet -e .
.venv/bin/python -m apps
