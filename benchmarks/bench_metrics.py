"""Speed of the temporal metrics on 128x128 x 240-frame clips (target: >= 200 frames/s).

Frames per second (clip frames / seconds, best of ``--repeats``) of each metric and of
``worldgen.metrics.report.evaluate`` with everything on: flow, occlusion, instance ids, a
reference and chunks, i.e. what ``worldgen eval video`` computes after decoding. The clip is
seeded random data (uint8 frames as decoded from a video, flow of a fraction of a pixel
with a drift, 1 % occlusion per frame so that the drift tracks points through all 240
frames, 12 instances): otherwise the cost of these metrics does not depend on the content.

    .venv/bin/python benchmarks/bench_metrics.py [--frames 240] [--size 128] [--threads 1]
                                                 [--out benchmarks/results/bench_metrics.json]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from results_io import best_seconds, machine, write_results

from worldgen.io.flow_file import FlowFile
from worldgen.metrics import (
    composed_drift,
    frame_differences,
    instance_color_drift,
    psnr,
    seam_score,
    ssim,
    vbench_temporal_flickering,
    warping_errors,
)
from worldgen.metrics.frames import as_float_frames
from worldgen.metrics.report import evaluate

TARGET_FPS = 200.0


def clip(frames: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, FlowFile]:
    """(uint8 (T, H, W, 3) frames, uint8 reference, flow file) of seeded random data."""
    rng = np.random.default_rng(seed)
    video = rng.integers(0, 256, (frames, size, size, 3), dtype=np.uint8)
    reference = rng.integers(0, 256, (frames, size, size, 3), dtype=np.uint8)
    flow = FlowFile(
        source="random", forward=(rng.normal(0, 0.5, (frames, 2, size, size)) + 0.2).astype(np.float32),
        forward_occluded=rng.uniform(size=(frames, size, size)) < 0.01, backward=None, backward_occluded=None,
        instance=rng.integers(0, 12, (frames, size, size)), instance_names={},
    )
    return video, reference, flow


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: on a shared 2-core machine a second thread that is not "
                        "scheduled stalls every small parallel op)")
    parser.add_argument("--out", default="benchmarks/results/bench_metrics.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    video, reference, flow = clip(args.frames, args.size)
    floats, reference_floats = as_float_frames(video), as_float_frames(reference)
    everything = "evaluate (all of the above, with a reference)"
    runs = {
        "warping_errors (E_warp + temporal variance)":
            lambda: warping_errors(floats, flow.forward, flow.forward_occluded),
        "frame_differences + vbench_temporal_flickering":
            lambda: (frame_differences(video), vbench_temporal_flickering(video)),
        "composed_drift": lambda: composed_drift(floats, flow.forward, flow.forward_occluded),
        "instance_color_drift": lambda: instance_color_drift(floats, flow.instance),
        "psnr (scikit-image)": lambda: psnr(floats, reference_floats),
        "ssim (scikit-image)": lambda: ssim(floats, reference_floats),
        "seam_score": lambda: seam_score(torch.rand(args.frames - 1), 16),
        "evaluate without a reference (no PSNR, SSIM)": lambda: evaluate(video, flow, chunk=16),
        everything: lambda: evaluate(video, flow, reference, chunk=16),
    }
    results = {
        "machine": machine(), "torch_threads": torch.get_num_threads(),
        "frames": args.frames, "size": args.size, "repeats": args.repeats, "target_fps": TARGET_FPS, "fps": {},
    }
    for name, run in runs.items():
        results["fps"][name] = round(args.frames / best_seconds(run, args.repeats), 1)
        print(f"{name:<48} {results['fps'][name]:>10.1f} frames/s")
    results["meets_target"] = results["fps"][everything] >= TARGET_FPS
    print(f"target {TARGET_FPS:g} frames/s for everything: {'met' if results['meets_target'] else 'NOT met'}")
    write_results(args.out, results)


if __name__ == "__main__":
    main()
