#!/usr/bin/env bash
# The device script: checks every CUDA path and trains a real-size HoT model in one time budget.
#   bash tools/gpu_check.sh [--minutes 12] [--out DIR] [--export DIR] [--data ROOT] [--dry-run] [--skip STAGE ...]
# Stages and outputs: python -m tools.gpu_check --help. Uses $PYTHON, else python3 (an active venv's).
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python3}" -m tools.gpu_check "$@"
