"""Deflicker on reference renders, the metrics' floor on them, and what the mp4 codec adds.

1. Deflicker table: a clean render (stacked_blocks, blocks falling onto a pile) with
   injected global brightness flicker (gain 1 + 0.15 u_t per frame) and per-object colour
   flicker (gain 1 + 0.3 u per frame, block and channel), each left as is, through FFmpeg's
   deflicker (window 5, arithmetic mean) and through the flow-guided filter (radius 3, exact
   flow): E_warp, temporal variance, VBench flicker and PSNR against the clean render, all on
   uint8 frames in memory.
2. Codec: the same metrics for the clean render after an H.264 round trip (crf 18, yuv420p).
3. Floor: the temporal variance of a moving-object render with exact flow, in /255 units,
   next to the warp floor that benchmarks/bench_render.py measures on the same frames
   (frames 8-11 at 64^2; its own code, rendered again).

    .venv/bin/python benchmarks/bench_deflicker.py [--size 64] [--frames 32] [--spp 32] [--floor-spp 128]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from bench_render import warp_floor
from results_io import write_results

from renderer.pbr.render import RenderSettings
from simulation.engines import make_engine
from worldgen.deflicker.ffmpeg import ffmpeg_deflicker
from worldgen.deflicker.flow import flow_deflicker
from worldgen.io.video import read_video, write_video
from worldgen.metrics import psnr, vbench_temporal_flickering, warping_errors
from worldgen.metrics.flicker_injection import brightness_flicker, instance_flicker
from worldgen.metrics.frames import as_uint8_frames
from worldgen.pipelines.clip import render_controls
from worldgen.scene import load_scene

FLOOR_SCENES = ("dominoes", "humanoid_walk", "pendulum_lamp")


def render(name: str, frames: np.ndarray, size: int, spp: int):
    scene = load_scene(name)
    trajectory = make_engine("pybullet").rollout(scene, num_frames=int(frames[-1]) + 1)
    camera = scene.cameras[0].model_copy(update={"resolution": (size, size)})
    rendered = render_controls(trajectory, camera, RenderSettings(spp=spp), frames=frames)
    return rendered.clip, rendered.flow, trajectory, camera


def scores(frames: np.ndarray, clean: np.ndarray, flow) -> dict:
    """Metrics of uint8 (T, H, W, 3) frames."""
    errors = warping_errors(frames, flow.forward, flow.forward_occluded)
    return {"warp_error": errors.mean_warp_error, "temporal_variance_percent": errors.mean_temporal_variance,
            "vbench_temporal_flickering": vbench_temporal_flickering(frames),
            "psnr_db": float(np.mean(psnr(frames, clean)))}


def deflicker_table(args) -> dict:
    clip, flow, _, _ = render("stacked_blocks", np.arange(4, 4 + args.frames), args.size, args.spp)
    bodies = [int(i) for i in np.unique(clip.instance) if i >= 2]
    inputs = {
        "clean": clip.rgb,
        "global flicker": brightness_flicker(clip.rgb, amplitude=0.15, seed=0)[0].numpy(),
        "per-object flicker": instance_flicker(clip.rgb, clip.instance, bodies, amplitude=0.3, seed=1).numpy(),
    }
    table: dict = {}
    for name, frames in inputs.items():
        frames = as_uint8_frames(frames)
        table[name] = {
            "none": scores(frames, clip.rgb, flow),
            "ffmpeg": scores(ffmpeg_deflicker(frames, size=5, mode="am"), clip.rgb, flow),
            "flow": scores(as_uint8_frames(flow_deflicker(frames, flow.forward, flow.backward, flow.forward_occluded,
                                                          flow.backward_occluded, radius=3)), clip.rgb, flow),
        }
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "clean.mp4"
        write_video(path, clip.rgb, fps=24)
        decoded, _ = read_video(path)
    codec = scores(decoded, clip.rgb, flow)
    return {"scene": "stacked_blocks", "frames": args.frames, "size": args.size, "spp": args.spp,
            "table": table, "clean_through_h264": codec}


def floors(args) -> dict:
    out = {}
    for name in FLOOR_SCENES:
        frames = np.arange(8, 12)
        clip, flow, trajectory, camera = render(name, frames, 64, args.floor_spp)
        errors = warping_errors(clip.rgb, flow.forward, flow.forward_occluded)
        peer = warp_floor(trajectory, camera, frames, args.floor_spp)
        out[name] = {"warp_error": errors.mean_warp_error,
                     "temporal_variance_255": errors.mean_temporal_variance * 255 / 100,
                     "bench_render_rgb_error_255": peer["rgb_error_255"]}
    return out


def markdown(table: dict, codec: dict) -> str:
    lines = ["| input | filter | E_warp | temporal variance % | VBench flicker | PSNR vs clean dB |",
             "|---|---|---|---|---|---|"]
    rows = [(name, method, row) for name, methods in table.items() for method, row in methods.items()]
    rows.append(("clean through H.264", "none", codec))
    for name, method, row in rows:
        lines.append(f"| {name} | {method} | {row['warp_error']:.2e} | {row['temporal_variance_percent']:.3f} | "
                     f"{row['vbench_temporal_flickering']:.4f} | {row['psnr_db']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--spp", type=int, default=32)
    parser.add_argument("--floor-spp", type=int, default=128)
    parser.add_argument("--out", default="benchmarks/results/bench_deflicker.json")
    args = parser.parse_args()
    results = deflicker_table(args)
    print(markdown(results["table"], results["clean_through_h264"]))
    results["floor"] = floors(args)
    for name, row in results["floor"].items():
        print(f"floor {name}: temporal variance {row['temporal_variance_255']:.3f}/255 (bench_render's warp floor "
              f"{row['bench_render_rgb_error_255']:.3f}/255), E_warp {row['warp_error']:.2e}")
    write_results(args.out, results)


if __name__ == "__main__":
    main()
