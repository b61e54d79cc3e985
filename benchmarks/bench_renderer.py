"""Generation speed of the diffusion renderer against the path tracer, side by side in one run.

On one scene at 64 x 64 (``--frames`` frames, default 16): frames per second of
- ``pbr``: mitsuba's RGB pass at 8 spp (what the reference renderer costs per frame);
- ``buffers``: the geometry pass + exact flow + control maps + state tokens (what painting
  needs instead of path tracing);
- ``paint N steps``: the diffusion renderer painting the clip with N sampling steps (1, 2,
  4, 10), and ``generate N steps`` = buffers + paint, the whole job's per-frame cost;
- ``paint 4 steps + MECHANISM``: the cost of each coherence mechanism of ``generate``:
  warped noise (``--noise warped``), static locking (``--lock-static``) and a frame buffer
  of a quarter window (``--context``; it paints more windows when the clip is longer
  than one, hence the default of 32 frames).
The timings are interleaved round by round (best of ``--repeats``). Peak memory: the
largest resident set of a fresh process that does only that one thing (MiB). Without a
trained renderer (``--checkpoint`` missing) the small architecture is timed untrained:
the cost of a forward pass does not depend on the weights.

    .venv/bin/python benchmarks/bench_renderer.py [--checkpoint checkpoints/renderer] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
from pathlib import Path

import numpy as np
import torch
from results_io import best_seconds_interleaved, machine, write_results

SCENE = "stacked_blocks"
STEPS = (1, 2, 4, 10)
SIZE = 64


def setup(checkpoint: str | None, frames: int):
    """(trajectory, camera, renderer, renderer description)."""
    from simulation.engines import make_engine
    from worldgen.pipelines.generate import DEFAULT_RENDERER
    from worldgen.scene import load_scene

    scene = load_scene(SCENE)
    trajectory = make_engine("pybullet").rollout(scene, num_frames=frames)
    camera = scene.cameras[0].model_copy(update={"resolution": (SIZE, SIZE)})
    folder = Path(checkpoint) if checkpoint else DEFAULT_RENDERER
    if folder.is_dir():
        from renderer.diffusion.pipeline import VideoRenderer

        return trajectory, camera, VideoRenderer.from_pretrained(folder), str(folder)
    from omegaconf import OmegaConf

    from renderer.diffusion.pipeline import VideoRenderer
    from worldgen.pipelines.state_tokens import TOKEN_FEATURES
    from worldgen.pipelines.train_renderer import PRESETS, build_model

    torch.manual_seed(0)
    preset = OmegaConf.to_container(OmegaConf.load(PRESETS / "small.yaml"))
    model = build_model(preset, len(TOKEN_FEATURES)).eval()
    return trajectory, camera, VideoRenderer(model, sample_size=SIZE, clip_length=16), "small, untrained"


def jobs(trajectory, camera, renderer):
    """The timed jobs by name (zero-argument callables)."""
    from renderer.pbr.render import RenderSettings, render_trajectory
    from worldgen.pipelines.clip import render_controls
    from worldgen.pipelines.generate import GenerateOptions, paint_windows
    from worldgen.pipelines.renderer_inputs import clip_inputs

    frames = np.arange(len(trajectory))

    def buffers():
        rendered = render_controls(trajectory, camera, RenderSettings(rgb=False), frames=frames)
        return clip_inputs(trajectory, frames, rendered), rendered.flow

    (stack, tokens), flow = buffers()
    out = {"pbr": lambda: render_trajectory(trajectory, camera, RenderSettings(spp=8), frames=frames),
           "buffers": buffers}
    for n in STEPS:
        out[f"paint {n} steps"] = lambda n=n: paint_windows(renderer, stack, tokens, GenerateOptions(steps=n))
    mechanisms = {"warped noise": {"noise": "warped"}, "static locking": {"lock": True},
                  "frame buffer": {"context": renderer.clip_length // 4}}
    for name, option in mechanisms.items():
        out[f"paint 4 steps + {name}"] = lambda option=option: paint_windows(
            renderer, stack, tokens, GenerateOptions(steps=4, **option), flow=flow)
    return out


def _peak_rss(name: str, checkpoint: str | None, frames: int, queue) -> None:
    trajectory, camera, renderer, _ = setup(checkpoint, frames)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    jobs(trajectory, camera, renderer)[name]()
    queue.put((before / 1024, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def peak_memory(name: str, checkpoint: str | None, frames: int) -> dict:
    """Resident set (MiB) of a fresh process after setting up and after running ``name``."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_peak_rss, args=(name, checkpoint, frames, queue))
    process.start()
    before, after = queue.get()
    process.join()
    return {"peak_mib": round(after, 1), "set_up_mib": round(before, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="renderer folder (default: checkpoints/renderer, else the small "
                        "architecture untrained)")
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/bench_renderer.json")
    args = parser.parse_args()
    trajectory, camera, renderer, described = setup(args.checkpoint, args.frames)
    timed = jobs(trajectory, camera, renderer)
    seconds = best_seconds_interleaved(timed, args.repeats)
    fps = {name: args.frames / s for name, s in seconds.items()}
    for n in STEPS:
        fps[f"generate {n} steps"] = args.frames / (seconds["buffers"] + seconds[f"paint {n} steps"])
    memory = {name: peak_memory(name, args.checkpoint, args.frames) for name in ("pbr", "buffers", "paint 4 steps")}
    results = {"machine": machine(), "scene": SCENE, "size": SIZE, "frames": args.frames, "renderer": described,
               "threads": torch.get_num_threads(), "seconds": seconds, "frames_per_second": fps, "memory": memory,
               "generate_4_steps_over_pbr": fps["generate 4 steps"] / fps["pbr"],
               "mechanism_cost": {name.split(" + ")[1]: seconds[name] / seconds["paint 4 steps"]
                                  for name in seconds if " + " in name}}
    print(json.dumps({k: results[k] for k in ("frames_per_second", "memory", "generate_4_steps_over_pbr",
                                              "mechanism_cost")}, indent=1))
    write_results(args.out, results)


if __name__ == "__main__":
    main()
