"""``worldgen deflicker VIDEO -o OUT``: the command line of :mod:`worldgen.eval.deflicker`."""

from __future__ import annotations

from pathlib import Path

from worldgen.commands.arguments import FLOW_HELP, parse_count


def add_deflicker_parser(subparsers) -> None:
    """Add ``deflicker`` to the CLI's sub-parsers."""
    from worldgen.deflicker.ffmpeg import FFMPEG_MODES, FFMPEG_SIZES
    from worldgen.eval.deflicker import METHODS

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
    from worldgen.deflicker.ffmpeg import FFMPEG_SIZES
    from worldgen.eval.deflicker import deflicker_video
    from worldgen.eval.video import format_table, notes

    size = parse_count(args.size, "--size", *FFMPEG_SIZES)
    radius = parse_count(args.radius, "--radius", 1)
    report, clip, report_path = deflicker_video(args.video, Path(args.output), args.method, size, args.mode, radius,
                                                args.flow, args.reference)
    print(format_table({"before": report["before"], f"after {args.method}": report["after"]}))
    print("\n".join(notes(clip)))
    print(f"wrote {report['output']}\nwrote {report_path}")
    return 0
