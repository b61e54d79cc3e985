#!/usr/bin/env bash
# Creates .venv with the CPU build of torch and worldgen (editable) with the renderer (mitsuba,
# PyAV, matplotlib), pose extraction (mediapipe), the metrics (scikit-image), the learned world model (safetensors, accelerate), the diffusion renderer (diffusers), Ray (parallel dataset generation) and its test tools.
# Usage: bash scripts/install.sh            (idempotent; safe to re-run)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first, pinned: 2.13.0 resolves to the local CPU wheel here; an unpinned torch
# (or one pulled in by another package) would fetch the multi-GB CUDA build.
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[render,pose,metrics,cluster,dynamics,diffusion,test]"
