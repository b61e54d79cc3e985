"""The ``worldgen`` command line.

Every user mistake (bad scene, bad override, unknown name) ends in one line on stderr
naming the file, the field and what was expected, and exit code 2; never a traceback."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from worldgen.scene import RunConfig, SceneError, bundled_scenes, compose_config, scene_to_yaml

SCENE_HELP = (
    "a bundled scene name (see `worldgen scenes`) or a path to a scene YAML, followed by any "
    "overrides in Hydra syntax: scene=NAME, scene.seed=3, scene.objects.0.physics.mass=2, "
    "scene.gravity=[0,0,-3], ~scene.cameras"
)


def _split_scene_args(items: list[str]) -> tuple[str | None, list[str]]:
    """First item without '=' (and not a deletion '~key') is the scene; the rest are overrides."""
    if items and "=" not in items[0] and not items[0].startswith("~"):
        return items[0], items[1:]
    return None, items


def _load(args) -> RunConfig:
    spec, overrides = _split_scene_args(args.scene)
    for item in overrides:
        if "=" not in item and not item.startswith("~"):
            raise SceneError("", f"expected an override KEY=VALUE after the scene, got {item!r}", "command line")
    config = compose_config(spec, overrides)
    from simulation.engine import make_engine

    try:
        make_engine(str(config.options.get("dynamics", "pybullet")))
    except (KeyError, ValueError) as err:
        raise SceneError("dynamics", err.args[0], "command line") from None
    return config


def cmd_simulate(args) -> int:
    from worldgen.pipeline import simulate

    config = _load(args)
    out = Path(args.output) if args.output else Path("out") / config.scene.name
    try:
        report = simulate(config, out, progress=not args.quiet)
    except SceneError as err:
        err.source = err.source or config.source
        raise
    print(report.summary())
    return 0


def _resolution(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SceneError("--resolution", f"expected WIDTHxHEIGHT such as 128x128, got {text!r}", "command line") from None
    return width, height


def cmd_render(args) -> int:
    from worldgen.render_job import render, render_options

    config = _load(args)
    options = render_options(
        config, camera=args.camera, frames=args.frames, resolution=_resolution(args.resolution), spp=args.spp
    )
    out = Path(args.output) if args.output else Path("out") / config.scene.name
    report = render(config, out, options, progress=not args.quiet)
    print(report.summary())
    return 0


def cmd_validate(args) -> int:
    config = _load(args)
    sys.stdout.write(scene_to_yaml(config.scene))
    print(f"# {config.source}: valid ({config.scene.frame_count} frames, {len(config.scene.objects)} objects)", file=sys.stderr)
    return 0


def cmd_scenes(args) -> int:
    from worldgen.scene import load_scene
    from worldgen.scene.assets import CURATED_ASSETS, mocap_clips

    print("Bundled scenes (configs/scene):")
    for name in bundled_scenes():
        scene = load_scene(name)
        print(f"  {name:<18} {scene.description or '(no description)'}")
    print("Mocap clips (humanoids[].motion, from pybullet_data/data/motions):")
    from simulation.mocap import MocapClip

    for name in mocap_clips():
        clip = MocapClip.load(name)
        print(f"  {name:<18} {clip.duration:5.2f} s{'  loops' if clip.wraps else ''}")
    print("Object assets (objects[].asset; any single-body pybullet_data URDF path works too):")
    print("  " + ", ".join(CURATED_ASSETS) + ", random_urdfs/000 ... random_urdfs/999")
    return 0


def _add_run_arguments(p: argparse.ArgumentParser) -> None:
    """SCENE [OVERRIDE ...], -o OUT and -q, shared by the commands that run a scene."""
    p.add_argument("scene", nargs="*", metavar="SCENE [OVERRIDE ...]", help=SCENE_HELP)
    p.add_argument("-o", "--output", metavar="OUT", help="output folder (default: out/SCENE_NAME)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="worldgen",
        description="Physics-conditioned world-model video generator: YAML scenes simulated with pybullet, "
        "rendered with mitsuba, with exact control maps and optical flow.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "simulate",
        help="simulate a scene and write its trajectory",
        description="Simulate a scene with the chosen dynamics (dynamics=pybullet) and write "
        "OUT/trajectory.npz (per-frame state arrays) and OUT/trajectory.json (entities, contact events, "
        "the concrete scene). Prints frames, bodies, contacts and the real-time factor.",
    )
    _add_run_arguments(p)
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser(
        "render",
        help="simulate a scene and render it with control maps",
        description="Simulate a scene, render it through one camera with the mitsuba reference renderer and "
        "write OUT/rgb.mp4, depth.mp4, skeleton.mp4, segmentation.mp4, normals.mp4, flow.mp4 (colour wheel), "
        "buffers.npz (metric depth, exact forward/backward flow and occlusion, instance ids, normals, camera), "
        "controls.npz (the stacked control tensor), instances.json and contact_sheet.png. Defaults come from "
        "the render: block of configs/config.yaml (override with render.spp=64 and the like).",
    )
    _add_run_arguments(p)
    p.add_argument("--camera", metavar="NAME", help="camera to render through (default: the scene's first)")
    p.add_argument("--frames", metavar="A:B", help="frame range, end exclusive (default: all)")
    p.add_argument("--resolution", metavar="WxH", help="image size, e.g. 256x256 (default: the camera's)")
    p.add_argument("--spp", type=int, metavar="N", help="samples per pixel of the RGB pass")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser(
        "validate",
        help="check a scene and print it fully resolved",
        description="Check a scene (types, ranges, names, files, references) and print the concrete scene "
        "as YAML: defaults filled in, distributions drawn from the seed, counts expanded.",
    )
    p.add_argument("scene", nargs="*", metavar="SCENE [OVERRIDE ...]", help=SCENE_HELP)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser(
        "scenes",
        help="list bundled scenes, mocap clips and assets",
        description="List the bundled scenes, the humanoid mocap clips and the object assets, one line each.",
    )
    p.set_defaults(func=cmd_scenes)

    from worldgen.dataset_command import add_dataset_parser
    from worldgen.deflicker.command import add_deflicker_parser
    from worldgen.eval_video import add_eval_parser
    from worldgen.pose_command import add_pose_parser
    from worldgen.train_dynamics import add_train_parser

    add_pose_parser(sub)
    add_dataset_parser(sub)
    add_eval_parser(sub)
    add_deflicker_parser(sub)
    add_train_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``worldgen`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except SceneError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0


def run() -> None:
    """Console-script wrapper: exit with :func:`main`'s code."""
    sys.exit(main())


if __name__ == "__main__":
    run()
