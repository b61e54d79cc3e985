"""Rendering speed and the exact-flow warp floor, measured side by side in one run.

For each scene and resolution (64^2, 128^2, 256^2), frames per second of:
- ``rgb``: the mitsuba RGB pass at the default spp (re-posing included);
- ``buffers``: the geometry-only pass (z-depth, normals, instance ids);
- ``tinyrenderer``: pybullet's own ``getCameraImage`` with ER_TINY_RENDERER (RGB, depth and
  segmentation of the collision shapes), the peer a user might pick instead;
- ``annotated`` (128^2 only): the full annotated frame = RGB + buffers + exact forward and
  backward flow + depth, skeleton, segmentation and normal maps + the stacked controls.
Plus, per scene, the warp floor: warping frame t+1 back with the exact flow, the fraction of
non-occluded pixels whose instance id agrees and the mean |RGB| error (0..255) at 64^2 with
``--floor-spp`` samples per pixel.

    .venv/bin/python benchmarks/bench_render.py [--frames 12] [--out benchmarks/results/bench_render.json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pybullet
from results_io import machine, write_results

from control.flow import warp
from renderer.pbr.render import RenderSettings, render_trajectory
from simulation.engines import make_engine
from simulation.pybullet_engine import PybulletWorld
from worldgen.pipelines.clip import render_controls
from worldgen.pipelines.render import RenderOptions
from worldgen.scene import load_scene
from worldgen.scene.cameras import extrinsics

SCENES = ("dominoes", "humanoid_walk", "pendulum_lamp")
SIZES = (64, 128, 256)


def fps(frames: int, seconds: float) -> float:
    return round(frames / seconds, 2)


def tinyrenderer_fps(scene, camera, size: int, frames: int) -> float:
    """pybullet's TinyRenderer on the scene's first state, the camera's pose per frame."""
    world = PybulletWorld(scene)
    try:
        E = extrinsics(camera, np.arange(frames) / scene.fps, scene.frame_count / scene.fps)
        projection = world.client.computeProjectionMatrixFOV(camera.fov, 1.0, 0.05, 100.0)
        start = time.perf_counter()
        for i in range(frames):
            eye = -E[i, :3, :3].T @ E[i, :3, 3]
            forward, down = E[i, 2, :3], E[i, 1, :3]
            view = world.client.computeViewMatrix(eye.tolist(), (eye + forward).tolist(), (-down).tolist())
            world.client.getCameraImage(size, size, view, projection, renderer=pybullet.ER_TINY_RENDERER)
        return fps(frames, time.perf_counter() - start)
    finally:
        world.close()


def annotated_fps(trajectory, camera, frames: np.ndarray, spp: int) -> float:
    start = time.perf_counter()
    render_controls(trajectory, camera, RenderSettings(spp=spp), frames=frames).maps.stack()
    return fps(len(frames), time.perf_counter() - start)


def warp_floor(trajectory, camera, frames: np.ndarray, spp: int) -> dict:
    rendered = render_controls(trajectory, camera.model_copy(update={"resolution": (64, 64)}),
                               RenderSettings(spp=spp), frames=frames)
    clip, flow = rendered.clip, rendered.flow
    agree, error = [], []
    for t in range(len(frames) - 1):
        visible = ~flow.forward_occluded[t]
        ids = warp(clip.instance[t + 1][None].astype(float), flow.forward[t], order=0)[0]
        agree.append(float((ids[visible] == clip.instance[t][visible]).mean()))
        error.append(float(np.abs(warp(clip.rgb[t + 1], flow.forward[t]) - clip.rgb[t]).mean(0)[visible].mean() * 255))
    return {"spp": spp, "id_agreement": round(min(agree), 5), "rgb_error_255": round(float(np.mean(error)), 3),
            "non_occluded_fraction": round(float((~flow.forward_occluded[:-1]).mean()), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=12, help="frames rendered per measurement")
    parser.add_argument("--floor-spp", type=int, default=128)
    parser.add_argument("--out", default="benchmarks/results/bench_render.json")
    args = parser.parse_args()
    spp = RenderOptions().spp
    results = {"machine": machine(), "default_spp": spp, "frames": args.frames, "scenes": {}}
    for name in SCENES:
        scene = load_scene(name)
        trajectory = make_engine("pybullet").rollout(scene, num_frames=args.frames + 8)
        frames = np.arange(8, 8 + args.frames)
        row: dict = {}
        for size in SIZES:
            camera = scene.cameras[0].model_copy(update={"resolution": (size, size)})
            start = time.perf_counter()
            render_trajectory(trajectory, camera, RenderSettings(rgb=False), frames=frames)
            buffers = time.perf_counter() - start
            start = time.perf_counter()
            render_trajectory(trajectory, camera, RenderSettings(spp=spp), frames=frames)
            both = time.perf_counter() - start
            row[f"{size}"] = {
                "rgb_fps": fps(len(frames), max(both - buffers, 1e-9)),
                "buffers_fps": fps(len(frames), buffers),
                "tinyrenderer_fps": tinyrenderer_fps(scene, camera, size, len(frames)),
            }
            if size == 128:
                row["128"]["annotated_fps"] = annotated_fps(trajectory, camera, frames, spp)
        row["warp_floor"] = warp_floor(trajectory, scene.cameras[0], frames[:4], args.floor_spp)
        results["scenes"][name] = row
        print(name, json.dumps(row))
    write_results(args.out, results)


if __name__ == "__main__":
    main()
