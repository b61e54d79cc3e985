"""Learned world model vs pybullet: wall time to produce 2-second trajectories of many
scenes, measured side by side in one run.

The scenes are episodes 0 .. N-1 of the ``objects_drop`` test split (3-10 tossed
primitives each), 25 frames at 12 fps (2 s; frame 0 is the initial state), built before
any timing. Three ways to produce the trajectories:

* pybullet, one scene after another (240 Hz physics, contact recording off);
* pybullet, one process per core (a warm ``multiprocessing`` pool; sending the scenes and
  trajectories between processes is counted);
* the learned model, every scene in one batch (``LearnedEngine.rollout_batch``: building
  the entity tables, 24 batched network steps, assembling the Trajectory objects), on the
  CPU with torch using every core, and on a GPU when there is one.

Each is timed ``--repeats`` times, in rounds that run each once in turn so that all sample
the same spells of the machine, and the best is kept (machines here are noisy). The
learned model's speed-up = pybullet time / learned time, for both pybullet columns. The
learned engine sets the process's malloc to keep freed memory
(:mod:`simulation.dynamics.allocator`); the benchmark sets it first, in this process and in
the pool's workers, so that pybullet runs under the same allocator.

    .venv/bin/python benchmarks/bench_dynamics.py [--scenes 256] [--checkpoint checkpoints/dynamics]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os

import torch
from results_io import best_seconds_interleaved, machine, write_results

from simulation.dynamics import DEFAULT_CHECKPOINT, LearnedEngine
from simulation.dynamics.allocator import retain_freed_memory
from simulation.pybullet_engine import PybulletEngine
from worldgen.dataset.family import episode_scene, load_family

FRAMES = 25  # 2 s at 12 fps, frame 0 included


def _pybullet(scene):
    return PybulletEngine(contacts=False).rollout(scene, num_frames=FRAMES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    parser.add_argument("--out", default="benchmarks/results/bench_dynamics.json")
    args = parser.parse_args()
    retained = retain_freed_memory()

    family, _, _ = load_family("objects_drop", [f"num_frames={FRAMES}"])
    scenes = [episode_scene(family, family.seed("test", i)) for i in range(args.scenes)]
    cores = os.cpu_count() or 1
    results = {"machine": machine(), "scenes": args.scenes, "frames": FRAMES, "fps": family.fps,
               "physics_hz": family.physics_hz, "bodies": sum(len(s.objects) for s in scenes),
               "torch_threads": torch.get_num_threads(), "repeats": args.repeats,
               "malloc_retains_freed_memory": retained, "seconds": {}}
    seconds = results["seconds"]

    engine = LearnedEngine.from_pretrained(args.checkpoint)
    engine.rollout_batch(scenes[:8], FRAMES)  # warm-up
    runs = {"pybullet_sequential": lambda: [_pybullet(s) for s in scenes],
            "learned_cpu_batched": lambda: engine.rollout_batch(scenes, FRAMES)}
    if torch.cuda.is_available():
        gpu = LearnedEngine.from_pretrained(args.checkpoint, device="cuda")
        gpu.rollout_batch(scenes[:8], FRAMES)
        runs["learned_gpu_batched"] = lambda: gpu.rollout_batch(scenes, FRAMES)
    with multiprocessing.get_context("spawn").Pool(cores, initializer=retain_freed_memory) as pool:
        pool.map(_pybullet, scenes[:cores])  # warm the workers
        runs[f"pybullet_{cores}_processes"] = lambda: pool.map(_pybullet, scenes, chunksize=8)
        seconds.update(best_seconds_interleaved(runs, args.repeats))

    results["speedup"] = {f"{learned} vs {reference}": seconds[reference] / seconds[learned]
                          for learned in seconds if learned.startswith("learned")
                          for reference in seconds if reference.startswith("pybullet")}
    for name, value in seconds.items():
        print(f"{name:28s} {value:7.3f} s  ({args.scenes / value:7.1f} scenes/s)")
    for name, value in results["speedup"].items():
        print(f"speed-up {name}: {value:.1f}x")
    write_results(args.out, results)


if __name__ == "__main__":
    main()
