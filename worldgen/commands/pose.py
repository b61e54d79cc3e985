"""``worldgen pose extract INPUT -o OUT``: the command line of :mod:`worldgen.pipelines.pose`."""

from __future__ import annotations

from pathlib import Path

from worldgen.scene.limits import MAX_VIDEO_FPS


def add_pose_parser(subparsers) -> None:
    """Add ``pose`` (with sub-command ``extract``) to the CLI's sub-parsers."""
    pose = subparsers.add_parser("pose", help="pose from real images or video", description="Pose tools.")
    sub = pose.add_subparsers(dest="pose_command", required=True, metavar="COMMAND")
    p = sub.add_parser(
        "extract",
        help="COCO-18 keypoints and skeleton maps from an image, an image folder or a video",
        description="Detect one person per frame with MediaPipe BlazePose (offline) and write "
        "OUT/keypoints.json (COCO-18 pixel keypoints, confidence, validity), OUT/skeleton.mp4 (skeleton "
        "maps as pose ControlNets draw them) and, for a single image, OUT/skeleton.png.",
    )
    p.add_argument("input", metavar="INPUT", help="an image, a folder of images (name order) or a video file")
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="output folder")
    p.add_argument(
        "--threshold", type=float, default=0.5,
        help="a keypoint is valid when its visibility is at least this, in (0, 1] (default 0.5)",
    )
    p.add_argument("--fps", type=float, default=30.0,
                   help=f"frame rate of an image or image folder, 0.001 to {MAX_VIDEO_FPS:,} (default 30)")
    p.set_defaults(func=cmd_pose_extract)


def cmd_pose_extract(args) -> int:
    from worldgen.pipelines.pose import extract_poses

    out = Path(args.output)
    found, frames, files = extract_poses(Path(args.input), out, args.threshold, args.fps)
    print(f"{out}: a person in {found} of {frames} frames; " + ", ".join(f.name for f in files))
    return 0
