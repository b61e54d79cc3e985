#!/usr/bin/env bash
# The training and validation sets of the small diffusion renderer (64 x 64, 24 frames,
# 32 spp): objects_drop (300 episodes), humanoid_actions and moving_lights (100 each), and
# 16 validation-split episodes of each, into data/renderer/ (about 30 minutes on 2 cores).
# Resumable: re-running finishes what a stopped run left (same episode counts).
# Usage: bash scripts/renderer_data.sh [OUT_DIR] [extra dataset-generate options, e.g. --workers 4]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-data/renderer}
shift || true
for family in objects_drop humanoid_actions moving_lights; do
  case $family in objects_drop) episodes=300 ;; *) episodes=100 ;; esac
  .venv/bin/worldgen dataset generate "$family" "resolution=[64,64]" spp=32 --split validation --episodes 16 \
      -o "$OUT/${family}_validation" "$@"
  .venv/bin/worldgen dataset generate "$family" "resolution=[64,64]" spp=32 --episodes "$episodes" \
      -o "$OUT/${family}_train" "$@"
done
