"""Training frames for the 64 x 64 renderer: rendered at 64 x 64, or at 128 x 128 and
area-downsampled (what ``worldgen train renderer`` does with larger episodes)?

Generates the same ``--episodes`` validation-split objects_drop episodes four ways, timing
each ``worldgen dataset generate`` (one worker):
- ``64 spp32``: 64 x 64 at 32 spp (the shipped training set's setting);
- ``128 spp8 down``: 128 x 128 at 8 spp, downsampled (about the same path-tracing samples);
- ``128 spp32 down``: 128 x 128 at 32 spp, downsampled (four times the samples);
- ``64 spp512``: 64 x 64 at 512 spp, the converged target the others are scored against.
For each: PSNR (dB) and SSIM of its frames against the target, and its seconds per episode.
A training target's noise is what the renderer cannot learn; its cost is what the training
set costs to make.

    .venv/bin/python benchmarks/bench_renderer_data.py [--episodes 3] [--frames 24]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from results_io import machine, write_results

SETTINGS = {"64 spp32": (64, 32), "128 spp8 down": (128, 8), "128 spp32 down": (128, 32), "64 spp512": (64, 512)}
TARGET = "64 spp512"


def generate(folder: Path, size: int, spp: int, episodes: int, frames: int) -> float:
    """Seconds to generate the episodes into ``folder``."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "worldgen.cli", "dataset", "generate", "objects_drop",
                    f"resolution=[{size},{size}]", f"spp={spp}", f"num_frames={frames}", "--split", "validation",
                    "--episodes", str(episodes), "--workers", "1", "-q", "-o", str(folder)], check=True)
    return time.perf_counter() - start


def frames_at_64(folder: Path) -> list[np.ndarray]:
    """Every episode's frames (T, 3, 64, 64) float32 in [0, 1], area-downsampled when larger."""
    from worldgen.dataset.reader import EpisodeDataset

    dataset = EpisodeDataset(folder, modalities=("rgb",))
    return [F.interpolate(dataset[i]["rgb"], size=(64, 64), mode="area").numpy() for i in range(len(dataset))]


def main() -> None:
    from worldgen.metrics import psnr, ssim

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--out", default="benchmarks/results/bench_renderer_data.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seconds, clips = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (size, spp) in SETTINGS.items():
            folder = Path(tmp) / name.replace(" ", "_")
            seconds[name] = generate(folder, size, spp, args.episodes, args.frames) / args.episodes
            clips[name] = frames_at_64(folder)
    scores = {}
    for name in SETTINGS:
        if name == TARGET:
            continue
        pairs = list(zip(clips[name], clips[TARGET]))
        scores[name] = {
            "psnr_db": float(np.mean([psnr(a, b).mean() for a, b in pairs])),
            "ssim": float(np.mean([ssim(a, b).mean() for a, b in pairs])),
            "seconds_per_episode": seconds[name],
        }
    results = {"machine": machine(), "family": "objects_drop", "episodes": args.episodes, "frames": args.frames,
               "target": TARGET, "target_seconds_per_episode": seconds[TARGET], "settings": scores}
    print(json.dumps(scores, indent=1))
    write_results(args.out, results)


if __name__ == "__main__":
    main()
