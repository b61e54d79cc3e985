"""``worldgen eval dynamics -o OUT``: a dynamics engine (the learned world model, or pybullet
as a sanity baseline) against pybullet on held-out episodes of scene families.

Stages and metric definitions: :mod:`worldgen.eval_dynamics_run` and
:mod:`worldgen.eval_dynamics`. Writes ``OUT/dynamics_eval.json``, ``OUT/error_vs_horizon.png``,
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
        "ball_end_x_m"}}}} (:mod:`worldgen.eval_collision`),
     "goals": {"family": "objects_drop", "checks": {name: {"value", "threshold", "met", "pybullet"}}, "met"} or null,
     "seconds": {stage: wall seconds}, "files": [paths]}"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

from worldgen.eval_collision import ball_into_box
from worldgen.eval_dynamics import HORIZONS
from worldgen.eval_dynamics_run import FamilyRun, Settings, evaluate_family, goals
from worldgen.eval_video import parse_count, write_json
from worldgen.scene import SceneError

FORMAT = "worldgen.eval_dynamics/1"
DEFAULT_FAMILIES = ("objects_drop", "moving_lights")
DEFAULT_CHECKPOINT = "checkpoints/dynamics"
CHECKPOINT_HELP = "a checkpoint folder (config.json + *.safetensors)"
ENGINES = ("learned", "pybullet")


def load_engine(name: str, checkpoint: str | None, sleep: bool = True, floor: bool = True):
    """(engine, checkpoint path or None) for ``--engine`` / ``--checkpoint`` (``sleep``:
    whether the learned engine deactivates bodies at rest; ``floor``: whether it lifts
    bodies out of the floor); SceneError on a name or checkpoint that cannot be used."""
    from simulation.pybullet_engine import PybulletEngine

    if name not in ENGINES:
        raise SceneError("--engine", f"expected one of {', '.join(ENGINES)}, got {name!r}", "command line")
    if name == "pybullet":
        if checkpoint is not None:
            raise SceneError("--checkpoint", "only --engine learned loads a checkpoint", "command line")
        if not sleep:
            raise SceneError("--no-sleep", "only --engine learned deactivates bodies", "command line")
        if not floor:
            raise SceneError("--no-floor-projection", "only --engine learned projects bodies out of the floor", "command line")
        return PybulletEngine(contacts=False), None
    if checkpoint is not None:
        path = Path(checkpoint)
        if not path.is_dir():
            raise SceneError("--checkpoint", f"no such folder; expected {CHECKPOINT_HELP}", checkpoint)
        if not (path / "config.json").is_file():
            raise SceneError("--checkpoint", f"the folder has no config.json; expected {CHECKPOINT_HELP}", checkpoint)
    try:
        from simulation.dynamics import LearnedEngine
        from simulation.dynamics.sleep import SleepRule

        engine = LearnedEngine.from_pretrained(checkpoint, sleep=SleepRule() if sleep else None, floor=floor)
    except ImportError as err:
        raise SceneError("--engine", f"the learned engine is not available here ({_first_line(err)}); "
                         "try --engine pybullet", "command line") from None
    except (OSError, ValueError, RuntimeError) as err:  # missing or unreadable files, wrong shapes
        raise SceneError("--checkpoint", f"cannot load {checkpoint or DEFAULT_CHECKPOINT + ' (the default)'}: "
                         f"{_first_line(err)}; expected {CHECKPOINT_HELP}", "command line") from None
    return engine, str(Path(checkpoint).resolve()) if checkpoint else str(getattr(engine, "checkpoint", DEFAULT_CHECKPOINT))


def _first_line(err: BaseException) -> str:
    text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    return text.strip().splitlines()[0] if text.strip() else type(err).__name__


def parse_resolution(text: str) -> tuple[int, int]:
    """(width, height) of ``WxH``, both >= 1; a SceneError on --resolution otherwise."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
        if width < 1 or height < 1:
            raise ValueError
    except ValueError:
        raise SceneError("--resolution", f"expected WIDTHxHEIGHT such as 128x128, got {text!r}", "command line") from None
    return width, height


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


def cmd_eval_dynamics(args) -> int:
    """Run ``eval dynamics``; user mistakes raise :class:`SceneError`."""
    start = time.perf_counter()
    settings = Settings(
        episodes=parse_count(args.episodes, "--episodes", 1), split=args.split,
        long_frames=parse_count(args.long_frames, "--long-frames", 2),
        long_episodes=parse_count(args.long_episodes, "--long-episodes", 0), seed=parse_count(args.seed, "--seed", 0),
    )
    videos = parse_count(args.videos, "--videos", 0, settings.episodes)
    spp = parse_count(args.spp, "--spp", 1)
    resolution = parse_resolution(args.resolution)
    families = load_families(args.family or list(DEFAULT_FAMILIES), settings)
    engine, checkpoint = load_engine(args.engine, args.checkpoint, not args.no_sleep, not args.no_floor_projection)
    out = Path(args.output)
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
    from worldgen.eval_plots import plot_energy, plot_error_vs_horizon

    files.append(plot_error_vs_horizon(reports, engine.name, out / "error_vs_horizon.png"))
    files.append(plot_energy(reports, engine.name, out / "energy.png"))
    seconds["plots"] = time.perf_counter() - stage
    seconds["total"] = time.perf_counter() - start
    arguments = {"output": str(out), "engine": args.engine, "checkpoint": args.checkpoint, "family": list(families),
                 **dataclasses.asdict(settings), "videos": videos, "resolution": list(resolution), "spp": spp,
                 "sleep": None if args.engine != "learned" or args.no_sleep else dataclasses.asdict(engine.sleep),
                 "floor_projection": args.engine == "learned" and not args.no_floor_projection}
    report = {"format": FORMAT, "arguments": arguments,
              "engine": engine.name, "checkpoint": checkpoint, "horizons": list(HORIZONS), "families": reports,
              "collision": collision,
              "goals": goals(reports.get("objects_drop")), "seconds": seconds}
    report["files"] = [str(p) for p in [*files, out / "dynamics_eval.json"]]
    write_json(out / "dynamics_eval.json", report)
    print(format_table(report))
    print("\n".join(f"wrote {p}" for p in report["files"]))
    return 0


def write_side_by_side(run: FamilyRun, i: int, resolution: tuple[int, int], spp: int, max_depth: int,
                       engine: str, path: Path) -> Path:
    """Episode ``i`` rendered through the scene's first camera at ``resolution`` (width,
    height): pybullet left, the engine right (its states in pybullet's static description
    of the scene), labelled, at the scene's fps."""
    from renderer.pbr.render import RenderSettings, render_trajectory
    from worldgen.video import to_uint8, write_video

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


def add_dynamics_parser(sub) -> None:
    """Add ``dynamics`` to the ``eval`` sub-parsers."""
    p = sub.add_parser(
        "dynamics",
        help="a dynamics engine (the learned world model) against pybullet: errors, chaos floor, physics checks",
        description="Roll the engine out on held-out episodes of scene families and compare with pybullet: "
        "translation, rotation and light errors at horizons 1, 6, 12, 24 frames and over the whole 25-frame "
        "rollout; the chaos floor (pybullet against itself from a start perturbed by 1 mm and 0.5 degrees per "
        "body) and the engine / floor ratios; penetration; objects at rest staying at rest; explosions and energy "
        "of long rollouts. Writes OUT/dynamics_eval.json, OUT/error_vs_horizon.png, OUT/energy.png and "
        "OUT/side_by_side_{i}.mp4 (left pybullet, right the engine).",
    )
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="output folder")
    p.add_argument("--engine", default="learned", metavar="NAME",
                   help="learned (the world model) or pybullet (a sanity baseline: error 0) (default: learned)")
    p.add_argument("--checkpoint", metavar="DIR", help=f"{CHECKPOINT_HELP} of the learned engine "
                   f"(default: {DEFAULT_CHECKPOINT})")
    p.add_argument("--no-sleep", action="store_true",
                   help="the learned engine without deactivating bodies at rest")
    p.add_argument("--no-floor-projection", action="store_true",
                   help="the learned engine without lifting bodies out of the floor after each step")
    p.add_argument("--family", nargs="+", action="extend", metavar="NAME",
                   help=f"scene families, bundled names or YAML paths (default: {' '.join(DEFAULT_FAMILIES)})")
    p.add_argument("--episodes", default="64", metavar="N", help="held-out episodes per family (default: 64)")
    p.add_argument("--split", default="validation", metavar="NAME", help="split of the episodes (default: validation)")
    p.add_argument("--long-frames", default="2000", metavar="N", help="frames of the long rollouts (default: 2000)")
    p.add_argument("--long-episodes", default="16", metavar="N", help="long rollouts per family (default: 16)")
    p.add_argument("--videos", default="3", metavar="N",
                   help="side-by-side videos of the first family's first episodes (default: 3)")
    p.add_argument("--resolution", default="128x128", metavar="WxH", help="video size (default: 128x128)")
    p.add_argument("--spp", default="8", metavar="N", help="samples per pixel of the videos (default: 8)")
    p.add_argument("--seed", default="0", metavar="N", help="seed of the chaos-floor perturbations (default: 0)")
    p.set_defaults(func=cmd_eval_dynamics)
