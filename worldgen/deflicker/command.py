"""``worldgen deflicker VIDEO -o OUT [--method ffmpeg|flow]``: remove flicker and report the
metrics before and after.

``ffmpeg`` runs FFmpeg's ``deflicker`` filter (``--size`` frames, ``--mode``); ``flow`` runs
the motion-compensated temporal filter (``--radius``) and needs forward and backward flow
(``--flow``, or the render folder's buffers.npz found next to VIDEO). Methods:
:mod:`worldgen.deflicker.ffmpeg`, :mod:`worldgen.deflicker.flow`. Writes OUT (H.264 mp4 at
VIDEO's frame rate) and OUT with suffix
``.json``: ``{"format": "worldgen.deflicker/1", "video", "output", "method", "options",
"before": report, "after": report}`` with reports as in ``worldgen eval video``. "after" is
measured on the filtered frames as written (uint8), before the mp4 encoder adds its own error."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from worldgen.scene.errors import SceneError

FORMAT = "worldgen.deflicker/1"
METHODS = ("ffmpeg", "flow")


def add_deflicker_parser(subparsers) -> None:
    """Add ``deflicker`` to the CLI's sub-parsers."""
    from worldgen.deflicker.ffmpeg import FFMPEG_MODES, FFMPEG_SIZES
    from worldgen.eval_video import FLOW_HELP

    p = subparsers.add_parser(
        "deflicker",
        help="remove flicker (FFmpeg's deflicker filter or a flow-guided temporal filter)",
        description="Remove temporal flicker from VIDEO and write OUT (mp4) and OUT's .json with the "
        "metrics before and after (the table is printed too). --method ffmpeg: FFmpeg's deflicker filter, "
        "one luma gain per frame from a moving window (global brightness flicker). --method flow: average "
        "each frame with its motion-compensated neighbours on non-occluded pixels (any flicker that is "
        "not motion); needs forward and backward flow, exact from a worldgen render.",
    )
    p.add_argument("video", metavar="VIDEO", help="a video file or a worldgen render folder (its rgb.mp4)")
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="output video file (.mp4)")
    p.add_argument("--method", default="ffmpeg", metavar="|".join(METHODS), help="filter (default ffmpeg)")
    p.add_argument("--size", metavar="N", default="5",
                   help=f"ffmpeg: window in frames, {FFMPEG_SIZES[0]}..{FFMPEG_SIZES[1]} (default 5)")
    p.add_argument("--mode", default="am", metavar="|".join(FFMPEG_MODES),
                   help="ffmpeg: how the window's luma is averaged (default am, arithmetic mean; FFmpeg's median "
                   "compares addresses, not values, and does not deflicker)")
    p.add_argument("--radius", metavar="R", default="3", help="flow: neighbours on each side, >= 1 (default 3)")
    p.add_argument("--flow", metavar="FILE", help=FLOW_HELP)
    p.add_argument("--reference", metavar="VIDEO", help="clean reference video for PSNR and SSIM before and after")
    p.set_defaults(func=cmd_deflicker)


def cmd_deflicker(args) -> int:
    """Run ``deflicker``; user mistakes raise :class:`SceneError`."""
    from worldgen.deflicker.ffmpeg import FFMPEG_MODES, FFMPEG_SIZES, ffmpeg_deflicker
    from worldgen.deflicker.flow import flow_deflicker
    from worldgen.eval_video import evaluate, format_table, load_clip, load_reference, notes, parse_count, write_json
    from worldgen.metrics.frames import as_uint8_frames
    from worldgen.video import write_video

    if args.method not in METHODS:
        raise SceneError("--method", f"expected one of {', '.join(METHODS)}, got {args.method!r}", "command line")
    if args.mode not in FFMPEG_MODES:
        raise SceneError("--mode", f"expected one of {', '.join(FFMPEG_MODES)}, got {args.mode!r}", "command line")
    size = parse_count(args.size, "--size", *FFMPEG_SIZES)
    radius = parse_count(args.radius, "--radius", 1)
    out = Path(args.output)
    if out.suffix.lower() != ".mp4":
        raise SceneError("--output", f"expected a file name ending in .mp4, got {out.name!r}", "command line")
    clip = load_clip(args.video, args.flow)
    reference = load_reference(args.reference, clip) if args.reference else None
    flow = clip.flow
    if args.method == "flow":
        if flow is None:
            raise SceneError("--flow", "--method flow needs flow: pass --flow (a worldgen render folder or an .npz "
                             "flow file)", "command line")
        if flow.backward is None:
            raise SceneError("backward_flow", "missing; --method flow needs forward and backward flow (a worldgen "
                             "render folder has both)", flow.source)
        filtered = flow_deflicker(clip.frames, flow.forward, flow.backward, flow.forward_occluded,
                                  flow.backward_occluded, radius)
        filtered = as_uint8_frames(filtered)
        options = {"radius": radius}
    else:
        filtered = ffmpeg_deflicker(clip.frames, size, args.mode)
        options = {"size": size, "mode": args.mode}
    before = evaluate(clip.frames, flow, reference)
    after = evaluate(filtered, flow, reference)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_video(out, np.ascontiguousarray(filtered), clip.fps)
    report = {"format": FORMAT, "video": str(clip.path), "output": str(out), "method": args.method,
              "options": options, "flow": flow.source if flow else None, "reference": args.reference,
              "before": before, "after": after}
    report_path = write_json(out.with_suffix(".json"), report)
    print(format_table({"before": before, f"after {args.method}": after}))
    print("\n".join(notes(clip)))
    print(f"wrote {out}\nwrote {report_path}")
    return 0
