"""The stages of ``worldgen eval dynamics`` on one scene family, for any
:class:`~simulation.engine.Engine` (batched through ``rollout_batch`` when it has one):

1. ground truth: pybullet (no contact recording) over FRAMES frames of held-out episodes;
   the engine over the same frames from the same initial state;
2. translation / rotation / light errors at the horizons and over the whole rollout;
3. the chaos floor: pybullet from a start perturbed by 1 mm and 0.5 degrees per body,
   against the unperturbed run, and the engine / chaos ratios;
4. penetration of the engine's and pybullet's poses (pybullet closest points);
5. rest: the true final frame with zero velocities, rolled out REST_FRAMES frames;
6. long rollouts: explosions (NaN, too fast, through the floor), bodies that left the floor area, and energy.

Metric definitions: :mod:`worldgen.eval.dynamics`. Units m, rad, J; penetration in mm."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from simulation.engine import Engine
from simulation.pybullet_engine import PybulletEngine, PybulletWorld
from simulation.state import SceneState, Trajectory
from worldgen.dataset.family import FamilySpec, episode_scene
from worldgen.eval.dynamics import (
    ENERGY_SCALE,
    StateErrors,
    at_rest,
    by_horizon,
    dynamic_mask,
    energy_growth,
    energy_jumps,
    explosion_frame,
    finite_mean,
    kinetic_energy,
    left_floor,
    mass_properties,
    mechanical_energy,
    penetration_depths,
    perturb,
    ratio,
    rest_motion,
    state_errors,
)
from worldgen.scene import SceneError
from worldgen.scene.schema import Scene

FRAMES = 25  # frames per evaluated rollout: frame 0 and horizons 1..24
REST_FRAMES = 240  # frames the rest test runs
BATCH = 64  # scenes per rollout_batch call
ENERGY_FRAMES = (0, 24, 240)  # frames whose relative energy is reported, with the last


@dataclass
class Settings:
    """What to evaluate (the command's options)."""

    episodes: int = 64
    split: str = "validation"
    long_frames: int = 2000
    long_episodes: int = 16
    rest_frames: int = REST_FRAMES
    seed: int = 0


@dataclass
class FamilyRun:
    """One family's report and the rollouts the videos are made from."""

    report: dict
    scenes: list[Scene]
    truth: list[Trajectory]
    model: list[Trajectory]


class Stopwatch:
    """Wall time of named stages, seconds."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


def rollouts(engine: Engine, scenes: list[Scene], num_frames: int,
             initials: list[SceneState | None] | None = None) -> list[Trajectory]:
    """``engine``'s rollouts of ``scenes`` (``num_frames`` frames each, from ``initials`` or
    the scenes' own starts): batches of BATCH through ``rollout_batch`` if the engine has
    it, else one ``rollout`` each. A rollout of the wrong shape is a SceneError on --engine."""
    initials = list(initials) if initials is not None else [None] * len(scenes)
    batch = getattr(engine, "rollout_batch", None)
    if batch is None:
        out = [engine.rollout(scene, initial=initial, num_frames=num_frames) for scene, initial in zip(scenes, initials)]
    else:
        out = []
        for start in range(0, len(scenes), BATCH):
            part = initials[start:start + BATCH]
            out += batch(scenes[start:start + BATCH], num_frames, None if all(i is None for i in part) else part)
    for scene, trajectory in zip(scenes, out, strict=True):
        shape = trajectory.states.body_position.shape
        if shape[:2] != (num_frames, len(scene.objects)):
            raise SceneError("--engine", f"{engine.name} returned body positions of shape {shape} for {num_frames} "
                             f"frames of {len(scene.objects)} bodies (scene {scene.name}, seed {scene.seed})")
    return out


def evaluate_family(engine: Engine, family: FamilySpec, settings: Settings, name: str | None = None) -> FamilyRun:
    """Every stage on ``family`` (loaded with ``num_frames`` = FRAMES); the report's layout
    is that of ``families.NAME`` in dynamics_eval.json (see the command's docstring)."""
    reference = PybulletEngine(contacts=False)
    reuse = isinstance(engine, PybulletEngine)  # deterministic: pybullet's own runs serve as the reference
    watch = Stopwatch()
    count = max(settings.episodes, settings.long_episodes)
    scenes = [episode_scene(family, family.seed(settings.split, i)) for i in range(count)]
    for scene in scenes:
        scene.num_frames = FRAMES
    evaluated = scenes[:settings.episodes]
    masks = [dynamic_mask(scene) for scene in scenes]
    worlds = [PybulletWorld(scene) for scene in scenes]
    try:
        with watch.stage("ground_truth"):
            truth = rollouts(reference, evaluated, FRAMES)
        with watch.stage("engine"):
            model = rollouts(engine, evaluated, FRAMES)
        with watch.stage("chaos_floor"):
            starts = [perturb(t.states[0], m, np.random.default_rng([settings.seed, i]))
                      for i, (t, m) in enumerate(zip(truth, masks))]
            chaos = rollouts(reference, evaluated, FRAMES, starts)
        with watch.stage("errors"):
            report = {"episodes": settings.episodes, "split": settings.split, "fps": family.fps,
                      "frames": FRAMES, "bodies": int(sum(m.sum() for m in masks[:settings.episodes]))}
            errors = StateErrors.concatenate([state_errors(m.states, t.states, k) for m, t, k in zip(model, truth, masks)])
            report.update(_error_report(
                errors, StateErrors.concatenate([state_errors(c.states, t.states, k) for c, t, k in zip(chaos, truth, masks)])))
            shapes = np.array([obj.shape for scene, m in zip(evaluated, masks) for obj, dynamic in zip(scene.objects, m) if dynamic])
            report["by_shape"] = _shape_report(errors, shapes)
        with watch.stage("penetration"):
            report["penetration_mm"] = {label: _penetration(runs, worlds, masks)
                                        for label, runs in (("engine", model), ("pybullet", truth))}
        with watch.stage("rest"):
            report["rest"] = _rest_report(engine, reference, reuse, evaluated, truth, masks, settings.rest_frames)
        with watch.stage("long"):
            report["long"] = _long_report(engine, reference, reuse, family, scenes[:settings.long_episodes],
                                          worlds, settings.long_frames)
    finally:
        for world in worlds:
            world.close()
    report["seconds"] = watch.seconds
    return FamilyRun(report, evaluated, truth, model)


def _error_report(model: StateErrors, chaos: StateErrors) -> dict:
    """Per metric: engine and chaos floor by horizon, their ratio, and the per-frame means."""
    report = {}
    moving = model.light_moves
    for key, a, b in (("translation_m", model.translation, chaos.translation),
                      ("rotation_rad", model.rotation, chaos.rotation),
                      ("light_position_m", model.light_position, chaos.light_position),
                      ("moving_light_position_m", model.light_position[:, moving], chaos.light_position[:, moving])):
        engine, floor = by_horizon(a), by_horizon(b)
        report[key] = {"engine": engine, "chaos_floor": floor,
                       "ratio": {h: ratio(engine[h], floor.get(h)) for h in engine},
                       "per_frame": {"engine": [finite_mean(row) for row in a], "chaos_floor": [finite_mean(row) for row in b]}}
    report["moving_lights"] = int(moving.sum())
    for key, a, b in (("light_intensity_relative", model.light_intensity, chaos.light_intensity),
                      ("light_color", model.light_color, chaos.light_color)):
        report[key] = {"engine": finite_mean(a[1:]), "chaos_floor": finite_mean(b[1:])}
    report["non_finite_values"] = int(sum(np.sum(~np.isfinite(getattr(model, name)))
                                          for name in ("translation", "rotation", "light_position")))
    return report


def _shape_report(errors: StateErrors, shapes: np.ndarray) -> dict:
    """Per body shape (``shapes`` (B',) aligned with the pooled bodies): the number of
    dynamic bodies and their whole-rollout translation (m) and rotation (rad) errors."""
    return {str(shape): {"bodies": int(np.sum(shapes == shape)),
                         "translation_m": by_horizon(errors.translation[:, shapes == shape])["whole"],
                         "rotation_rad": by_horizon(errors.rotation[:, shapes == shape])["whole"]}
            for shape in sorted(set(shapes.tolist()))}


def _penetration(runs: list[Trajectory], worlds: list[PybulletWorld], masks: list[np.ndarray]) -> dict:
    """Mean and max penetration, mm, over frames >= 1 and dynamic bodies."""
    depths = np.concatenate([penetration_depths(w, r.states.body_position, r.states.body_orientation)[1:, m].ravel()
                             for r, w, m in zip(runs, worlds, masks)])
    mean = finite_mean(depths)
    finite = depths[np.isfinite(depths)]
    return {"mean": None if mean is None else 1000 * mean, "max": float(1000 * finite.max()) if finite.size else None}


def _rest_report(engine, reference, reuse: bool, scenes, truth, masks, frames: int) -> dict:
    """Displacement (m) and rotation (rad) after ``frames`` frames from the true final state
    at rest, for the engine and pybullet. Pybullet's own figure is not zero: a capsule or
    cylinder lying on its side slowly starts rolling (its speed grows by itself), hence
    the median."""
    starts = [at_rest(t.states[-1]) for t in truth]
    ours = rollouts(engine, scenes, frames + 1, starts)
    theirs = ours if reuse else rollouts(reference, scenes, frames + 1, starts)
    report: dict = {"frames": frames}
    for label, runs in (("engine", ours), ("pybullet", theirs)):
        moved = [rest_motion(r.states, m) for r, m in zip(runs, masks)]
        shift = np.concatenate([d for d, _ in moved])
        turn = np.concatenate([a for _, a in moved])
        report[label] = {"displacement_mean_m": finite_mean(shift), "displacement_median_m": _finite_median(shift),
                         "displacement_max_m": _finite_max(shift),
                         "rotation_mean_rad": finite_mean(turn), "rotation_max_rad": _finite_max(turn)}
    return report


def _finite_max(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else None


def _finite_median(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else None


def _long_report(engine, reference, reuse: bool, family: FamilySpec, scenes, worlds, frames: int) -> dict:
    """Explosions and energy of ``frames``-frame rollouts, engine and pybullet."""
    report: dict = {"episodes": len(scenes), "frames": frames}
    if not scenes:
        return report
    ours = rollouts(engine, scenes, frames)
    theirs = ours if reuse else rollouts(reference, scenes, frames)
    for label, runs in (("engine", ours), ("pybullet", theirs)):
        report[label] = _long_summary(runs, family, worlds, scenes)
    return report


def _long_summary(runs: list[Trajectory], family: FamilySpec, worlds, scenes) -> dict:
    """Explosion count, how many by frames 24 and 240, each one's first frame and reason; relative energy E(t)/E(0) (mean over the scenes whose
    energy stays finite) at ENERGY_FRAMES and the end, and per frame; energy growth (largest
    rise within ENERGY_WINDOW frames / (KE(0) + ENERGY_SCALE * total mass)), mean and max;
    frames with a rise above ENERGY_JUMP * E(0)."""
    exploded = {i: found for i, run in enumerate(runs) if (found := explosion_frame(run, family.reject)) is not None}
    relative, growth, jumps = [], [], 0
    for run, world, scene in zip(runs, worlds, scenes):
        mass, inertia = mass_properties(world)
        energy = mechanical_energy(run.states, mass, inertia, scene.gravity)
        if not np.all(np.isfinite(energy)):
            continue
        relative.append(energy / energy[0] if energy[0] != 0 else np.full_like(energy, np.nan))
        scale = float(kinetic_energy(run.states[:1], mass, inertia)[0]) + ENERGY_SCALE * float(mass.sum())
        growth.append(energy_growth(energy) / scale)
        jumps += energy_jumps(energy)
    curve = np.mean(relative, axis=0) if relative else None
    at = {str(t): float(curve[t]) for t in ENERGY_FRAMES if curve is not None and t < len(curve)}
    if curve is not None:
        at["end"] = float(curve[-1])
    frames = [frame for frame, _ in exploded.values()]
    return {"explosions": len(exploded), "left_floor": sum(left_floor(run) for run in runs),
            "explosions_by_frame": {str(t): sum(f <= t for f in frames) for t in ENERGY_FRAMES[1:] if t < len(runs[0])},
            "reasons": [f"episode {i}, frame {frame}: {reason}" for i, (frame, reason) in exploded.items()],
            "finite_energy_episodes": len(relative), "energy_relative": at,
            "energy_growth": {"mean": float(np.mean(growth)) if growth else None,
                              "max": float(np.max(growth)) if growth else None},
            "energy_jump_frames": jumps,
            "energy_curve": [] if curve is None else curve.tolist()}


GOALS = (  # (name, report path of the value, threshold, path of pybullet's own value or None)
    ("translation_whole_m", ("translation_m", "engine", "whole"), 0.04, None),
    ("rotation_whole_rad", ("rotation_rad", "engine", "whole"), 0.25, None),
    ("translation_24_over_chaos_floor", ("translation_m", "ratio", "24"), 3.0, None),
    ("penetration_mean_mm", ("penetration_mm", "engine", "mean"), 5.0, ("penetration_mm", "pybullet", "mean")),
    ("explosions", ("long", "engine", "explosions"), 0, ("long", "pybullet", "explosions")),
)


def goals(report: dict | None, family: str = "objects_drop") -> dict | None:
    """The issue's goals on ``family``'s report: per goal the value, the threshold (met when
    value <= threshold; None when not measured) and pybullet's own value where it has one;
    ``met`` overall is True when all are met, False when one is not, None when none fails
    but one was not measured. None without that family."""
    if report is None:
        return None
    checks = {}
    for name, path, threshold, reference in GOALS:
        value = _lookup(report, path)
        checks[name] = {"value": value, "threshold": threshold, "met": None if value is None else value <= threshold,
                        "pybullet": None if reference is None else _lookup(report, reference)}
    met = [c["met"] for c in checks.values()]
    overall = False if False in met else (None if None in met else True)
    return {"family": family, "checks": checks, "met": overall}


def _lookup(report: dict, path: tuple[str, ...]):
    value = report
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value
