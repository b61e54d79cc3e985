"""Simulation speed of every bundled scene, and what recording the state costs.

For each scene, measured side by side in one run (interleaved repeats, median):
- ``bare``: the physics loop alone, ``PybulletWorld.step()`` for every physics step
  (humanoids are driven along their clips: that is part of simulating);
- ``state``: ``PybulletEngine(contacts=False).rollout`` minus the world's build time: the
  same loop plus reading bodies and humanoids every frame and deriving lights;
- ``full``: ``PybulletEngine().rollout`` minus build time: also contact events, read
  after every physics step.
Reports physics steps per second and the real-time factor of the full rollout, the state
recording overhead ``state / bare - 1`` (goal: under 10 %) and the contact recording
overhead ``(full - state) / bare``.

    .venv/bin/python benchmarks/bench_simulation.py [--repeats 5] [--out benchmarks/results/bench_simulation.json]
"""

from __future__ import annotations

import argparse
import statistics
import time

from results_io import machine, write_results

from simulation.pybullet_engine import PybulletEngine, PybulletWorld
from worldgen.scene import bundled_scenes, load_scene


def time_bare(scene) -> tuple[float, float]:
    """(build seconds, stepping seconds) for one fresh world."""
    start = time.perf_counter()
    world = PybulletWorld(scene)
    built = time.perf_counter()
    try:
        for _ in range((scene.frame_count - 1) * scene.substeps):
            world.step()
        return built - start, time.perf_counter() - built
    finally:
        world.close()


def time_rollout(scene, contacts: bool) -> float:
    """Seconds of a recorded rollout (world build included)."""
    start = time.perf_counter()
    PybulletEngine(contacts=contacts).rollout(scene)
    return time.perf_counter() - start


def bench_scene(name: str, repeats: int) -> dict:
    scene = load_scene(name)
    time_rollout(scene, True)  # warm-up: caches (convex decompositions), imports
    builds, bares, states, fulls = [], [], [], []
    for _ in range(repeats):
        build, bare = time_bare(scene)
        builds.append(build)
        bares.append(bare)
        states.append(time_rollout(scene, False))
        fulls.append(time_rollout(scene, True))
    build, bare = statistics.median(builds), statistics.median(bares)
    state, full = statistics.median(states) - build, statistics.median(fulls) - build
    steps = (scene.frame_count - 1) * scene.substeps
    simulated = (scene.frame_count - 1) / scene.fps
    return {
        "scene": name,
        "bodies": len(scene.objects),
        "humanoids": len(scene.humanoids),
        "frames": scene.frame_count,
        "physics_steps": steps,
        "build_seconds": build,
        "bare_seconds": bare,
        "state_recorded_seconds": state,
        "full_recorded_seconds": full,
        "bare_steps_per_second": steps / bare,
        "full_steps_per_second": steps / full,
        "real_time_factor": simulated / full,
        "state_recording_overhead": state / bare - 1,
        "contact_recording_overhead": (full - state) / bare,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--scenes", nargs="*", help="default: every bundled scene")
    parser.add_argument("--out", default="benchmarks/results/bench_simulation.json")
    args = parser.parse_args()
    results = [bench_scene(name, args.repeats) for name in (args.scenes or bundled_scenes())]
    report = {
        "benchmark": "simulation",
        "machine": machine(),
        "repeats": args.repeats,
        "goal": "state_recording_overhead < 0.10",
        "scenes": results,
    }
    write_results(args.out, report)
    print(f"{'scene':<18}{'steps/s':>9}{'RTF':>7}{'state rec.':>12}{'contacts':>10}")
    for r in results:
        print(
            f"{r['scene']:<18}{r['full_steps_per_second']:>9.0f}{r['real_time_factor']:>7.1f}"
            f"{r['state_recording_overhead']:>12.1%}{r['contact_recording_overhead']:>10.1%}"
        )


if __name__ == "__main__":
    main()
