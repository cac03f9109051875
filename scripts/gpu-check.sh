#!/usr/bin/env bash
# COGMEN, the graph agent and the fusion agent for a few epochs on CUDA and on the CPU: test
# metrics and times of both (benchmarks/gpu_check.py; its last line is JSON). Run it on a GPU
# machine whose Python has a CUDA build of torch (PYTHON=..., default .venv/bin/python; this
# repository's constraints.txt pins the CPU wheel, so there install affectrl without it):
#     scripts/gpu-check.sh [--epochs 5] [--agent-iterations 50] [--runs-dir runs/gpu-check]
# Without CUDA it says so and exits with status 2. Record the figures in docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-.venv/bin/python}" benchmarks/gpu_check.py "$@"
