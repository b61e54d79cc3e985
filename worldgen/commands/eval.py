"""``worldgen eval video | dynamics | error-origin``: the command line of :mod:`worldgen.eval`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from worldgen.commands.arguments import CHECKPOINT_HELP, FLOW_HELP, load_engine, parse_count, parse_resolution
from worldgen.scene import SceneError
from worldgen.scene.limits import MAX_EPISODES, MAX_FRAMES, MAX_MAGNITUDE, MAX_SPP


def add_eval_parser(subparsers) -> None:
    """Add ``eval`` (with sub-commands ``video``, ``dynamics`` and ``error-origin``) to the
    CLI's sub-parsers."""
    from worldgen.eval.dynamics_report import DEFAULT_FAMILIES

    evaluate_parser = subparsers.add_parser("eval", help="evaluate videos and dynamics engines",
                                            description="Evaluation tools.")
    sub = evaluate_parser.add_subparsers(dest="eval_command", required=True, metavar="COMMAND")
    p = sub.add_parser(
        "video",
        help="temporal-consistency metrics of a video (E_warp, flicker, drift, seams, PSNR/SSIM)",
        description="Measure temporal consistency of VIDEO and write OUT/metrics.json, OUT/temporal.png and "
        "(with instance ids) OUT/instance_drift.png. Flow-free: VBench temporal flickering, mean inter-frame "
        "difference. With flow (exact from a worldgen render): E_warp, temporal variance, drift, per-instance "
        "colour drift. With --reference: PSNR, SSIM. With --chunk: seam score.",
    )
    p.add_argument("video", metavar="VIDEO", help="a video file (mp4 ...) or a worldgen render folder (its rgb.mp4)")
    p.add_argument("--flow", metavar="FILE", help=FLOW_HELP)
    p.add_argument("--reference", metavar="VIDEO", help="reference video (same frames and size) for PSNR and SSIM")
    p.add_argument("--chunk", metavar="N", help="frames per generated chunk, for the seam score")
    p.add_argument("-o", "--output", metavar="OUT", help="output folder (default: VIDEO's name + _eval, next to it)")
    p.set_defaults(func=cmd_eval_video)

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
                   "(default: checkpoints/dynamics)")
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

    p = sub.add_parser(
        "error-origin",
        help="where a learned rollout's error is made: bodies held on pybullet's states until after first contact",
        description="The restart oracle: each body of held-out pybullet episodes is held on its true states "
        "until k frames after its first contact, then left to the network (k = 0, 1, 2, 4, 6, 12), against the "
        "network alone. Prints translation and rotation errors per k and writes them as JSON.",
    )
    p.add_argument("--data", required=True, metavar="DIR",
                   help="a --states-only dataset folder of held-out episodes at the model's frame rate")
    p.add_argument("--checkpoint", metavar="DIR", help=f"{CHECKPOINT_HELP} (default: the shipped one)")
    p.add_argument("--episodes", default="64", metavar="N", help="episodes to roll out (default: 64)")
    p.add_argument("--frames", default="25", metavar="N", help="frames per rollout, frame 0 included (default: 25)")
    p.add_argument("--threshold", type=float, default=0.3, metavar="M_PER_S",
                   help="velocity change beyond free fall that marks a contact, m/s (default: 0.3)")
    p.add_argument("-o", "--output", default="out/error_origin.json", metavar="FILE",
                   help="JSON report (default: out/error_origin.json)")
    p.set_defaults(func=cmd_eval_error_origin)

    p = sub.add_parser(
        "renderer",
        help="diffusion renderers against path-traced held-out episodes: PSNR, SSIM, E_warp, flicker, drift",
        description="Paint held-out dataset episodes (their control stacks and state tokens) with the diffusion "
        "renderer at each of --steps, and with the --regression and --per-frame renderers when given, and compare "
        "with the path-traced frames: PSNR, SSIM, E_warp and temporal variance with the exact flow, per-instance "
        "colour drift; the reference row is the path tracer's own floor. Prints one table and writes "
        "OUT/renderer_eval.json.",
    )
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="output folder")
    p.add_argument("--checkpoint", metavar="DIR", help="the diffusion renderer folder (default: checkpoints/renderer)")
    p.add_argument("--steps", nargs="+", default=["1", "2", "4"], metavar="N", help="sampling steps (default: 1 2 4)")
    p.add_argument("--regression", metavar="DIR", help="a regression renderer folder (train.objective=regression)")
    p.add_argument("--per-frame", metavar="DIR", help="a per-frame renderer folder (model.temporal=false)")
    p.add_argument("--temporal-loss", metavar="DIR",
                   help="a renderer trained like --checkpoint with train.temporal_loss on: its own row, and with "
                   "--ablate the 'all together' row paints with it")
    p.add_argument("--experts", nargs=2, metavar=("HIGH", "LOW"),
                   help="noise-level experts: renderer folders trained with train.timesteps above and below "
                   "--expert-boundary; their row paints with HIGH at timesteps >= the boundary and LOW below")
    p.add_argument("--expert-boundary", default="500", metavar="T", help="the experts' switching timestep (default: 500)")
    p.add_argument("--data", nargs="+", metavar="DIR", default=[f"data/renderer/{f}_validation" for f in
                   ("objects_drop", "humanoid_actions", "moving_lights")],
                   help="held-out dataset folders (default: data/renderer/*_validation, docs/renderer.md)")
    p.add_argument("--episodes", default="8", metavar="N", help="episodes per folder (default: 8)")
    p.add_argument("--frames", default="16", metavar="N", help="frames per episode (default: 16)")
    p.add_argument("--seed", default="0", metavar="S", help="seed of the painting noise (default: 0)")
    p.add_argument("--ablate", action="store_true",
                   help="also paint with each coherence mechanism of `generate` at the last of --steps: warped noise, "
                   "static locking, a frame buffer of a quarter window (--context; it acts only with --frames longer "
                   "than the renderer's window), and all together")
    p.set_defaults(func=cmd_eval_renderer)


def cmd_eval_video(args) -> int:
    from worldgen.eval.video import evaluate_video, format_table, report_lines

    chunk = parse_count(args.chunk, "--chunk", 2, MAX_FRAMES)
    report, clip, files = evaluate_video(args.video, args.flow, args.reference, chunk,
                                         Path(args.output) if args.output else None)
    print(format_table({"value": report}))
    print("\n".join(report_lines(report, clip)))
    print("\n".join(f"wrote {path}" for path in files))
    return 0


def cmd_eval_dynamics(args) -> int:
    from worldgen.eval.dynamics_report import DEFAULT_FAMILIES, evaluate_engine, format_table, load_families
    from worldgen.eval.dynamics_run import Settings

    settings = Settings(
        episodes=parse_count(args.episodes, "--episodes", 1, MAX_EPISODES), split=args.split,
        long_frames=parse_count(args.long_frames, "--long-frames", 2, MAX_FRAMES),
        long_episodes=parse_count(args.long_episodes, "--long-episodes", 0, MAX_EPISODES), seed=parse_count(args.seed, "--seed", 0),
    )
    videos = parse_count(args.videos, "--videos", 0, settings.episodes)
    spp = parse_count(args.spp, "--spp", 1, MAX_SPP)
    resolution = parse_resolution(args.resolution)
    families = load_families(args.family or list(DEFAULT_FAMILIES), settings)
    engine, checkpoint = load_engine(args.engine, args.checkpoint, not args.no_sleep, not args.no_floor_projection,
                                     contacts=False)
    arguments = {"output": args.output, "engine": args.engine, "checkpoint": args.checkpoint, "family": list(families),
                 **dataclasses.asdict(settings), "videos": videos, "resolution": list(resolution), "spp": spp,
                 "sleep": None if args.engine != "learned" or args.no_sleep else dataclasses.asdict(engine.sleep),
                 "floor_projection": args.engine == "learned" and not args.no_floor_projection}
    report = evaluate_engine(engine, families, settings, Path(args.output), videos, resolution, spp, arguments,
                             checkpoint)
    print(format_table(report))
    print("\n".join(f"wrote {p}" for p in report["files"]))
    return 0


def cmd_eval_error_origin(args) -> int:
    from worldgen.eval.error_origin import error_origin_report, format_table
    from worldgen.io.json_file import write_json

    episodes = parse_count(args.episodes, "--episodes", 1, MAX_EPISODES)
    frames = parse_count(args.frames, "--frames", 3, MAX_FRAMES)
    if not 0 < args.threshold <= MAX_MAGNITUDE:  # NaN fails too
        raise SceneError("--threshold", f"expected a number of m/s in (0, {MAX_MAGNITUDE:,.0f}], got {args.threshold}",
                         "command line")
    engine, checkpoint = load_engine("learned", args.checkpoint, sleep=False, floor=False)
    report = error_origin_report(engine.model, args.data, episodes, frames, args.threshold)
    report["checkpoint"] = checkpoint
    print(format_table(report))
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    print(f"wrote {write_json(out, report)}")
    return 0


def cmd_eval_renderer(args) -> int:
    from worldgen.eval.renderer import Variant, coherence_goals, evaluate_renderers, format_table, goals, load_held_out
    from worldgen.io.json_file import write_json

    steps = [parse_count(s, "--steps", 1, 1000) for s in args.steps]
    episodes, frames = parse_count(args.episodes, "--episodes", 1, MAX_EPISODES), parse_count(args.frames, "--frames", 2, MAX_FRAMES)
    diffusion = _renderer(args.checkpoint, "--checkpoint")
    variants = [Variant(f"diffusion {n} step{'s' if n > 1 else ''}", diffusion, n, args.checkpoint) for n in steps]
    if args.regression:
        variants.append(Variant("regression", _renderer(args.regression, "--regression"), 1, args.regression))
    if args.per_frame:
        variants.append(Variant(f"per-frame {steps[-1]} steps", _renderer(args.per_frame, "--per-frame"), steps[-1],
                                args.per_frame))
    together, together_folder = diffusion, args.checkpoint
    if args.temporal_loss:
        together, together_folder = _renderer(args.temporal_loss, "--temporal-loss"), args.temporal_loss
        variants.append(Variant(f"+ temporal loss {steps[-1]}", together, steps[-1], args.temporal_loss))
    if args.experts:
        high, low = (_renderer(folder, "--experts") for folder in args.experts)
        boundary = parse_count(args.expert_boundary, "--expert-boundary", 1, 999)
        try:
            experts = high.with_low_noise_expert(low, boundary)
        except ValueError as err:
            raise SceneError("--experts", str(err), "command line") from None
        variants.append(Variant(f"noise experts {steps[-1]}", experts, steps[-1], " + ".join(args.experts)))
    if args.ablate:
        n = steps[-1]
        context = diffusion.clip_length // 4
        variants += [Variant(f"+ warped noise {n}", diffusion, n, args.checkpoint, noise="warped"),
                     Variant(f"+ static locking {n}", diffusion, n, args.checkpoint, lock=True),
                     Variant(f"+ frame buffer {n}", diffusion, n, args.checkpoint, context=context),
                     Variant(f"all together {n}", together, n, together_folder, noise="warped", lock=True,
                             context=context)]
    variants.append(Variant("reference"))
    held_out = [e for root in args.data for e in load_held_out(root, episodes, frames)]
    report = evaluate_renderers(variants, held_out, parse_count(args.seed, "--seed", 0))
    per_frame = next((v.name for v in variants if v.name.startswith("per-frame")), None)
    report["goals"] = goals(report, variants[len(steps) - 1].name, per_frame)
    if args.ablate:
        report["coherence_goals"] = coherence_goals(report, variants[len(steps) - 1].name, steps[-1])
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    print(format_table(report))
    print(f"wrote {write_json(out / 'renderer_eval.json', report)}")
    return 0


def _renderer(folder: str | None, flag: str):
    """The renderer folder given with ``flag`` (None: the shipped one); errors name the flag."""
    from worldgen.pipelines.generate import load_renderer

    try:
        return load_renderer(folder)
    except SceneError as err:
        err.field = flag
        raise
