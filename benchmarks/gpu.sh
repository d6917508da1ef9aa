#!/usr/bin/env bash
# GPU throughput of standard, PGD-10 and SimCLR training steps (see benchmarks/gpu.py).
# Usage: benchmarks/gpu.sh [extra gpu.py options]; writes the output also to benchmarks/gpu-<host>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-.venv/bin/python}"
[ -x "$python" ] || python=python
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
timeout 480 "$python" benchmarks/gpu.py "$@" 2>&1 | tee "benchmarks/gpu-$(hostname).txt"
