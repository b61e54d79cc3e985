"""``worldgen simulate | render | validate | scenes``: running and checking one scene."""

from __future__ import annotations

import sys
from pathlib import Path

from worldgen.commands.arguments import add_scene_arguments, load_run_config, parse_resolution
from worldgen.scene import SceneError, bundled_scenes, scene_to_yaml


def add_scene_parsers(sub) -> None:
    """Add ``simulate``, ``render``, ``validate`` and ``scenes`` to the CLI's sub-parsers."""
    p = sub.add_parser(
        "simulate",
        help="simulate a scene and write its trajectory",
        description="Simulate a scene with the chosen dynamics (dynamics=pybullet) and write "
        "OUT/trajectory.npz (per-frame state arrays) and OUT/trajectory.json (entities, contact events, "
        "the concrete scene). Prints frames, bodies, contacts and the real-time factor.",
    )
    add_scene_arguments(p)
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser(
        "render",
        help="simulate a scene and render it with control maps",
        description="Simulate a scene, render it through one camera with the mitsuba reference renderer and "
        "write OUT/rgb.mp4, depth.mp4, skeleton.mp4, segmentation.mp4, normals.mp4, flow.mp4 (colour wheel), "
        "buffers.npz (metric depth, exact forward/backward flow and occlusion, instance ids, normals, camera), "
        "controls.npz (the control stack), instances.json and contact_sheet.png. Defaults come from "
        "the render: block of configs/config.yaml (override with render.spp=64 and the like).",
    )
    add_scene_arguments(p)
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
    add_scene_arguments(p, output=None)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser(
        "scenes",
        help="list bundled scenes, mocap clips and assets",
        description="List the bundled scenes, the humanoid mocap clips and the object assets, one line each.",
    )
    p.set_defaults(func=cmd_scenes)


def cmd_simulate(args) -> int:
    from worldgen.pipelines.simulate import simulate

    config = load_run_config(args.scene)
    out = Path(args.output) if args.output else Path("out") / config.scene.name
    try:
        report = simulate(config, out, progress=not args.quiet)
    except SceneError as err:
        err.source = err.source or config.source
        raise
    print(report.summary())
    return 0


def cmd_render(args) -> int:
    from worldgen.pipelines.render import render, render_options

    config = load_run_config(args.scene)
    options = render_options(config, camera=args.camera, frames=args.frames,
                             resolution=parse_resolution(args.resolution), spp=args.spp)
    out = Path(args.output) if args.output else Path("out") / config.scene.name
    try:
        report = render(config, out, options, progress=not args.quiet)
    except SceneError as err:
        err.source = err.source or config.source
        raise
    print(report.summary())
    return 0


def cmd_validate(args) -> int:
    config = load_run_config(args.scene)
    sys.stdout.write(scene_to_yaml(config.scene))
    print(f"# {config.source}: valid ({config.scene.frame_count} frames, {len(config.scene.objects)} objects)",
          file=sys.stderr)
    return 0


def cmd_scenes(args) -> int:
    from simulation.mocap import MocapClip
    from worldgen.scene import load_scene
    from worldgen.scene.assets import CURATED_ASSETS, mocap_clips

    print("Bundled scenes (configs/scene):")
    for name in bundled_scenes():
        scene = load_scene(name)
        print(f"  {name:<18} {scene.description or '(no description)'}")
    print("Mocap clips (humanoids[].motion, from pybullet_data/data/motions):")
    for name in mocap_clips():
        clip = MocapClip.load(name)
        print(f"  {name:<18} {clip.duration:5.2f} s{'  loops' if clip.wraps else ''}")
    print("Object assets (objects[].asset; any single-body pybullet_data URDF path works too):")
    print("  " + ", ".join(CURATED_ASSETS) + ", random_urdfs/000 ... random_urdfs/999")
    return 0
