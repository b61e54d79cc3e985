"""What ``worldgen eval dynamics -o OUT`` runs: a dynamics engine (the learned world model, or pybullet
as a sanity baseline) against pybullet on held-out episodes of scene families.

Stages and metric definitions: :mod:`worldgen.eval.dynamics_run` and
:mod:`worldgen.eval.dynamics`. Writes ``OUT/dynamics_eval.json``, ``OUT/error_vs_horizon.png``,
``OUT/energy.png`` and ``OUT/side_by_side_{i}.mp4`` (left pybullet, right the engine), and
prints a table. dynamics_eval.json (m, rad, mm, J; horizons in frames; null = unmeasured)::

    {"format": "worldgen.eval_dynamics/1", "arguments": {option: value}, "engine": NAME,
     "checkpoint": PATH or null, "horizons": [1, 6, 12, 24],
     "families": {FAMILY: {"episodes", "split", "fps", "frames", "bodies" (dynamic, pooled),
        "translation_m" | "rotation_rad" | "light_position_m" | "moving_light_position_m":
            {"engine" | "chaos_floor" | "ratio": {"1", "6", "12", "24", "whole"},
             "per_frame": {"engine" | "chaos_floor": [25 means]}},
        "moving_lights": count, "non_finite_values": count of the engine's,
        "light_intensity_relative" | "light_color": {"engine", "chaos_floor"} (whole rollout),
        "penetration_mm": {"engine" | "pybullet": {"mean", "max"}},
        "rest": {"frames", "engine" | "pybullet": {"displacement_mean_m", "displacement_median_m", "displacement_max_m",
                                                  "rotation_mean_rad", "rotation_max_rad"}},
        "long": {"episodes", "frames", "engine" | "pybullet": {"explosions", "explosions_by_frame": {"24", "240"},
                 "reasons": ["episode i, frame t: why"],
                 "finite_energy_episodes", "energy_relative": {"0", "24", "240", "end"},
                 "energy_growth": {"mean", "max"}, "energy_jump_frames", "energy_curve": [frames]}},
        "seconds": {stage: wall seconds}}},
     "collision": {"ball_into_box": {SPEED: {"engine" | "pybullet": {"max_penetration_m", "box_moved_m",
        "ball_end_x_m"}}}} (:mod:`worldgen.eval.collision`),
     "goals": {"family": "objects_drop", "checks": {name: {"value", "threshold", "met", "pybullet"}}, "met"} or null,
     "seconds": {stage: wall seconds}, "files": [paths]}"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

from worldgen.eval.collision import ball_into_box
from worldgen.eval.dynamics import HORIZONS
from worldgen.eval.dynamics_run import FamilyRun, Settings, evaluate_family, goals
from worldgen.io.json_file import write_json
from worldgen.scene import SceneError

FORMAT = "worldgen.eval_dynamics/1"
DEFAULT_FAMILIES = ("objects_drop", "moving_lights")


def load_families(names: list[str], settings: Settings) -> dict:
    """Family name -> FamilySpec, checked against the split and episode count."""
    from worldgen.dataset.family import load_family

    families = {}
    for name in names:
        try:
            family, _, _ = load_family(name)
        except SceneError as err:
            if err.field in ("FAMILY", ""):
                err.field = "--family"
            raise
        split = family.splits.get(settings.split)
        if split is None:
            raise SceneError("--split", f"family {family.name} has no split {settings.split!r}; expected one of "
                             f"{', '.join(family.splits)}", "command line")
        most = max(settings.episodes, settings.long_episodes)
        if most > split.size:
            raise SceneError("--episodes", f"split {settings.split!r} of {family.name} has {split.size} episodes, "
                             f"asked for {most}", "command line")
        families[family.name] = family
    return families


def evaluate_engine(engine, families: dict, settings: Settings, out: Path, videos: int = 3,
                    resolution: tuple[int, int] = (128, 128), spp: int = 8, arguments: dict | None = None,
                    checkpoint: str | None = None) -> dict:
    """Evaluate ``engine`` on ``families`` (name -> FamilySpec, see :func:`load_families`):
    every stage of the module docstring, ``videos`` side-by-side videos of the first family
    at ``resolution`` (width, height) and ``spp``, the plots; writes them and
    ``dynamics_eval.json`` into ``out`` and returns the report."""
    from worldgen.eval.plots import plot_energy, plot_error_vs_horizon

    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    runs: dict[str, FamilyRun] = {}
    for name, family in families.items():
        print(f"{name}: {settings.episodes} episodes, {settings.long_episodes} long rollouts ...", file=sys.stderr)
        runs[name] = evaluate_family(engine, family, settings)
        seconds[name] = sum(runs[name].report["seconds"].values())
    reports = {name: run.report for name, run in runs.items()}
    stage = time.perf_counter()
    collision = {"ball_into_box": ball_into_box(engine)}
    seconds["collision"] = time.perf_counter() - stage
    files = []
    stage = time.perf_counter()
    first = next(iter(families))
    for i in range(videos):
        files.append(write_side_by_side(runs[first], i, resolution, spp, families[first].max_depth, engine.name,
                                        out / f"side_by_side_{i}.mp4"))
    seconds["videos"] = time.perf_counter() - stage
    stage = time.perf_counter()
    files.append(plot_error_vs_horizon(reports, engine.name, out / "error_vs_horizon.png"))
    files.append(plot_energy(reports, engine.name, out / "energy.png"))
    seconds["plots"] = time.perf_counter() - stage
    seconds["total"] = time.perf_counter() - start
    report = {"format": FORMAT, "arguments": arguments or {},
              "engine": engine.name, "checkpoint": checkpoint, "horizons": list(HORIZONS), "families": reports,
              "collision": collision,
              "goals": goals(reports.get("objects_drop")), "seconds": seconds}
    report["files"] = [str(p) for p in [*files, out / "dynamics_eval.json"]]
    write_json(out / "dynamics_eval.json", report)
    return report


def write_side_by_side(run: FamilyRun, i: int, resolution: tuple[int, int], spp: int, max_depth: int,
                       engine: str, path: Path) -> Path:
    """Episode ``i`` rendered through the scene's first camera at ``resolution`` (width,
    height): pybullet left, the engine right (its states in pybullet's static description
    of the scene), labelled, at the scene's fps."""
    from renderer.pbr.render import RenderSettings, render_trajectory
    from worldgen.io.video import to_uint8, write_video

    truth = run.truth[i]
    camera = run.scenes[i].cameras[0].model_copy(update={"resolution": resolution})
    settings = RenderSettings(spp=spp, max_depth=max_depth)
    halves = []
    for trajectory, label in ((truth, "pybullet"), (dataclasses.replace(truth, states=run.model[i].states), f"engine: {engine}")):
        rgb = render_trajectory(trajectory, camera, settings).rgb
        halves.append(_label(to_uint8(rgb.transpose(0, 2, 3, 1)), label))
    write_video(path, np.concatenate(halves, axis=2), truth.fps)
    return path


def _label(frames: np.ndarray, text: str) -> np.ndarray:
    """uint8 (T, H, W, 3) frames with ``text`` written in their top-left corner."""
    from PIL import Image, ImageDraw

    labelled = []
    for frame in frames:
        image = Image.fromarray(frame)
        ImageDraw.Draw(image).text((2, 1), text, fill=(255, 255, 255), stroke_width=1, stroke_fill=(0, 0, 0))
        labelled.append(np.asarray(image))
    return np.stack(labelled)


def _num(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    return f"{value:.3g}"


def format_table(report: dict) -> str:
    """The report's headline numbers as text, a block per family."""
    keys = [str(h) for h in HORIZONS] + ["whole"]
    lines = []
    for name, fam in report["families"].items():
        lines.append(f"{name}: {fam['episodes']} {fam['split']} episodes, {fam['bodies']} dynamic bodies, "
                     f"{fam['fps']} fps; engine {report['engine']}")
        lines.append(f"{'':<31}" + "".join(f"{'h' + k if k != 'whole' else k:>10}" for k in keys))
        for key, label in (("translation_m", "translation (m)"), ("rotation_rad", "rotation (rad)"),
                           ("light_position_m", "light position (m)"),
                           ("moving_light_position_m", f"moving lights ({fam['moving_lights']}) (m)")):
            for row, who in (("engine", "engine"), ("chaos_floor", "chaos"), ("ratio", "ratio")):
                cells = fam[key][row]
                lines.append(f"{label if row == 'engine' else '':<24}{who:<7}" + "".join(f"{_num(cells.get(k)):>10}" for k in keys))
        lines.append(f"{'by shape, whole (m / rad)':<31}" + ", ".join(
            f"{shape} ({r['bodies']}) {_num(r['translation_m'])} / {_num(r['rotation_rad'])}" for shape, r in fam["by_shape"].items()))
        for key, label in (("light_intensity_relative", "light intensity rel. err"), ("light_color", "light colour err")):
            lines.append(f"{label:<31}engine {_num(fam[key]['engine'])}, chaos {_num(fam[key]['chaos_floor'])}")
        pen = fam["penetration_mm"]
        lines.append(f"{'penetration (mm)':<31}engine mean {_num(pen['engine']['mean'])} max {_num(pen['engine']['max'])}; "
                     f"pybullet mean {_num(pen['pybullet']['mean'])} max {_num(pen['pybullet']['max'])}")
        rest = fam["rest"]
        for who in ("engine", "pybullet"):
            r = rest[who]
            lines.append(f"{'rest, ' + str(rest['frames']) + ' frames' if who == 'engine' else '':<31}{who} moved "
                         f"mean {_num(r['displacement_mean_m'])} median {_num(r['displacement_median_m'])} max {_num(r['displacement_max_m'])} m, turned "
                         f"mean {_num(r['rotation_mean_rad'])} max {_num(r['rotation_max_rad'])} rad")
        long = fam["long"]
        for who in ("engine", "pybullet") if long["episodes"] else ():
            r = long[who]
            energy = ", ".join(f"{k} {_num(v)}" for k, v in r["energy_relative"].items())
            by = ", ".join(f"{n} by frame {t}" for t, n in r["explosions_by_frame"].items()) or "none by frame 24"
            lines.append(f"{str(long['episodes']) + ' x ' + str(long['frames']) + ' frames' if who == 'engine' else '':<31}"
                         f"{who}: {r['explosions']} explosions ({by}), E/E0 at {energy}; growth mean "
                         f"{_num(r['energy_growth']['mean'])} max {_num(r['energy_growth']['max'])}, "
                         f"{r['energy_jump_frames']} frames +1% E0")
        lines.append("")
    for speed, outcome in report["collision"]["ball_into_box"].items():
        lines.append(f"{'ball into box at ' + speed + ' m/s':<31}" + "; ".join(
            f"{who} penetration {_num(r['max_penetration_m'])} m, box moved {_num(r['box_moved_m'])} m, "
            f"ball ends at x {_num(r['ball_end_x_m'])} m" for who, r in outcome.items()))
    lines.append("")
    if report["goals"] is not None:
        checks = report["goals"]["checks"]
        met = {True: "met", False: "NOT met", None: "not measured"}
        lines.append(f"goals on {report['goals']['family']}: {met[report['goals']['met']]}: " + "; ".join(
            f"{k} {_num(c['value'])} <= {c['threshold']} {met[c['met']]}"
            + (f" (pybullet {_num(c['pybullet'])})" if c["pybullet"] is not None else "") for k, c in checks.items()))
    return "\n".join(lines)
