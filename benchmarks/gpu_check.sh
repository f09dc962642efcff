#!/usr/bin/env bash
# What only a GPU can show, on the tiny model, in a few minutes: run on a CUDA machine with the
# GPU image's environment (or a venv with the runtime and CUDA vLLM installed).
#
#   bash benchmarks/gpu_check.sh            # PYTHON=... to choose the interpreter
#
# Prints, last:
#   changed_fraction=<x>   fp32 master weights under bf16 compute keep small updates (>= 0.99)
#   mismatch_kl=<x>        the largest per-step mismatch of the bf16 RL loop (sampler vs trainer)
#   mfu=<x>                model FLOPs utilisation of the trainer step on a wider model
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  echo "gpu_check: no CUDA device visible to $PY; this check needs a GPU" >&2
  exit 2
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

echo "== 1. fp32 master weights, bf16 compute (3 RL steps at lr 1e-6)"
"$PY" benchmarks/precision.py --device cuda | tee "$WORK/precision.txt"

echo "== 2. the smoke RL loop with bf16 compute on the GPU"
"$PY" -m prime_rl.launcher.rl @ examples/smoke/rl.toml --output-dir "$WORK/loop" \
  --model "$WORK/tiny" --trainer.model.dtype bfloat16 > "$WORK/loop.log" 2>&1 \
  || { tail -40 "$WORK/loop.log"; exit 1; }
"$PY" - "$WORK/loop/logs/trainer/metrics.jsonl" > "$WORK/mismatch.txt" <<'PYTHON'
import json, sys
records = [json.loads(line) for line in open(sys.argv[1])]
worst = max(r["mismatch_kl"] for r in records)
print(f"steps: {len(records)}, mismatch_kl per step: {[round(r['mismatch_kl'], 8) for r in records]}")
print(f"mismatch_kl={worst:.3g}")
PYTHON
cat "$WORK/mismatch.txt"

echo "== 3. trainer throughput against a plain transformers loop (hidden 1024, 8 layers)"
"$PY" benchmarks/trainer.py --hidden-size 1024 --layers 8 --seq-len 2048 --micro-batches 4 \
  | tee "$WORK/trainer.txt"

echo "== summary"
tail -n 1 "$WORK/precision.txt"
tail -n 1 "$WORK/mismatch.txt"
grep -m1 '^mfu ours' "$WORK/trainer.txt" | sed 's/^mfu ours: \([0-9.]*\)%.*/mfu=\1%/'
