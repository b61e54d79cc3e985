"""``worldgen generate SCENE -o OUT``: the command line of :mod:`worldgen.pipelines.generate`."""

from __future__ import annotations

from pathlib import Path

from worldgen.commands.arguments import CHECKPOINT_HELP, add_scene_arguments, load_run_config, parse_count, parse_resolution
from worldgen.scene import SceneError
from worldgen.scene.limits import MAX_FRAMES, MAX_SPP

MAX_GUIDANCE = 100.0  # classifier-free guidance past a few tens only saturates


def add_generate_parser(subparsers) -> None:
    """Add ``generate`` to the CLI's sub-parsers."""
    p = subparsers.add_parser(
        "generate",
        help="the main job: simulate a scene and paint it with the video diffusion renderer",
        description="Simulate a scene (dynamics=pybullet|learned), take its geometry buffers through one camera, "
        "build the control maps and state tokens and paint the frames with the video diffusion renderer "
        "(renderer=diffusion, the default; renderer=pbr paints with the path tracer; renderer=diffusers:PATH paints "
        "frame by frame with a diffusers ControlNet pipeline saved in PATH, e.g. Stable Diffusion 1.5 with a depth "
        "ControlNet; nothing is downloaded). Writes OUT/video.mp4, the "
        "control videos, side_by_side.mp4 (reference | depth | skeleton | painted), controls.npz, the trajectory "
        "and metrics.json (E_warp, temporal variance and flicker with the exact flow; PSNR/SSIM with --reference).",
    )
    add_scene_arguments(p, output="out/SCENE_NAME_generated")
    p.add_argument("--checkpoint", metavar="DIR", help=f"renderer folder, {CHECKPOINT_HELP} (default: checkpoints/renderer)")
    p.add_argument("--steps", metavar="N", help="sampling steps per window (default: 4; 20 with renderer=diffusers:PATH)")
    p.add_argument("--seed", default="0", metavar="S", help="seed of the painting noise (default: 0)")
    p.add_argument("--noise", default="independent", metavar="KIND",
                   help="painting noise: independent (per window, the default) or warped (one noise moved along the "
                   "exact flow, so detail travels with the surfaces)")
    p.add_argument("--lock-static", action="store_true",
                   help="paint the pixels whose surface and lighting do not change once per window and hold them "
                   "(shadows moving over a still surface are held too)")
    p.add_argument("--context", default="0", metavar="K",
                   help="frames of the previous window each later window sees, already painted (a frame buffer: "
                   "identity and colour carry over; default 0)")
    p.add_argument("--control-weight", nargs="+", action="extend", metavar="NAME=W",
                   help="weight of a control (depth, skeleton, segmentation, normal, flow, material, shading; default "
                   "1 each), e.g. "
                   "--control-weight depth=1 skeleton=0.5")
    p.add_argument("--controlnet-inputs", nargs="+", default=["depth"], metavar="MAP",
                   help="renderer=diffusers:PATH: the control map each ControlNet of the pipeline reads, in order "
                   "(depth, skeleton, segmentation, normal; default: depth)")
    p.add_argument("--prompt", default="", help="renderer=diffusers:PATH: the text prompt of every frame (default: none)")
    p.add_argument("--guidance", type=float, default=7.5, metavar="G",
                   help="renderer=diffusers:PATH: classifier-free guidance scale, 0 to 100 (default: 7.5)")
    p.add_argument("--camera", metavar="NAME", help="camera to paint through (default: the scene's first)")
    p.add_argument("--resolution", metavar="WxH", help="image size (default: the renderer's training size)")
    p.add_argument("--frames", metavar="A:B", help="frame range, end exclusive (default: all)")
    p.add_argument("--reference", action="store_true",
                   help="also path-trace the frames: the side-by-side's first panel and PSNR / SSIM in metrics.json")
    p.add_argument("--spp", default="16", metavar="N", help="samples per pixel of the reference (default: 16)")
    p.add_argument("--pose-from", metavar="VIDEO",
                   help="a video of a person: the poses MediaPipe finds in it replace the skeleton map")
    p.set_defaults(func=cmd_generate)


def cmd_generate(args) -> int:
    from worldgen.pipelines.generate import GenerateOptions, generate, parse_control_weights

    config = load_run_config(args.scene)
    if not 0 <= args.guidance <= MAX_GUIDANCE:  # NaN fails too
        raise SceneError("--guidance", f"expected a number from 0 to {MAX_GUIDANCE:g}, got {args.guidance}", "command line")
    options = GenerateOptions(
        renderer=str(config.options.get("renderer", "diffusion")), checkpoint=args.checkpoint,
        steps=parse_count(args.steps, "--steps", 1, 1000), seed=parse_count(args.seed, "--seed", 0),
        control_weights=parse_control_weights(args.control_weight), camera=args.camera,
        resolution=parse_resolution(args.resolution), frames=args.frames, reference=args.reference,
        spp=parse_count(args.spp, "--spp", 1, MAX_SPP), pose_from=args.pose_from, noise=args.noise,
        lock=args.lock_static, context=parse_count(args.context, "--context", 0, MAX_FRAMES),
        controlnet_inputs=tuple(args.controlnet_inputs), prompt=args.prompt, guidance=args.guidance,
    )
    out = Path(args.output) if args.output else Path("out") / f"{config.scene.name}_generated"
    report = generate(config, out, options, progress=not args.quiet)
    print(report.text())
    return 0
