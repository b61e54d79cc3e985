"""``worldgen pose extract INPUT -o OUT``: COCO-18 keypoints and skeleton maps from real footage.

INPUT is an image, a folder of images (one frame each, in name order) or a video. Writes
``OUT/keypoints.json`` (format ``worldgen.pose/1``, below), ``OUT/skeleton.mp4`` (skeleton
maps drawn as pose ControlNets expect) and, for a single image, ``OUT/skeleton.png``.

keypoints.json::

    {"format": "worldgen.pose/1", "source": INPUT, "width": W, "height": H, "fps": FPS,
     "keypoint_names": [18 COCO-18 names],
     "frames": [{"index": i, "file": image name or null,
                 "people": [{"keypoints": [[x, y] x 18], "confidence": [18], "valid": [18]}]}]}

Pixel coordinates x right, y down; ``people`` is empty where nobody was found."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from worldgen.files import write_atomic
from worldgen.scene.errors import SceneError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm")
FORMAT = "worldgen.pose/1"


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
    p.add_argument("--fps", type=float, default=30.0, help="frame rate of an image or image folder (default 30)")
    p.set_defaults(func=cmd_pose_extract)


def cmd_pose_extract(args) -> int:
    """Run ``pose extract``; user mistakes raise :class:`SceneError` (field ``INPUT``, ...)."""
    import cv2  # here and below, imports that would slow down `worldgen --help`

    from control.pose_extract import PoseExtractor
    from control.skeleton_map import draw_skeleton_map
    from simulation.humanoid import COCO18_NAMES
    from worldgen.video import write_video

    if not 0 < args.threshold <= 1:
        raise SceneError("--threshold", f"expected a number in (0, 1], got {args.threshold}", "command line")
    if not args.fps > 0:
        raise SceneError("--fps", f"expected a number > 0, got {args.fps}", "command line")
    source = Path(args.input)
    kind = _input_kind(source)
    fps = _video_fps(source) if kind == "video" else args.fps
    frames_json, maps = [], []
    size = None
    with PoseExtractor(static_image_mode=kind != "video", threshold=args.threshold) as extractor:
        for index, (name, frame) in enumerate(_frames(source, kind)):
            if size is None:
                size = frame.shape[:2]
            elif frame.shape[:2] != size:
                raise SceneError("INPUT", f"{name}: {frame.shape[1]}x{frame.shape[0]} differs from the first "
                                 f"frame's {size[1]}x{size[0]}", str(source))
            keypoints, confidence, valid = extractor.extract(frame)
            people = [] if not confidence.any() else [{
                "keypoints": np.round(keypoints, 2).tolist(),
                "confidence": np.round(confidence, 4).tolist(),
                "valid": valid.tolist(),
            }]
            frames_json.append({"index": index, "file": name if kind != "video" else None, "people": people})
            maps.append(draw_skeleton_map(keypoints[None], valid[None], size[1], size[0]))
    if size is None:
        raise SceneError("INPUT", "the video has no frames", str(source))
    height, width = size
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    document = {
        "format": FORMAT, "source": str(source), "width": width, "height": height, "fps": fps,
        "keypoint_names": list(COCO18_NAMES), "frames": frames_json,
    }
    write_atomic(out / "keypoints.json", (json.dumps(document, indent=1) + "\n").encode())
    write_video(out / "skeleton.mp4", np.stack(maps), fps)
    if kind == "image":
        png = cv2.imencode(".png", cv2.cvtColor(maps[0], cv2.COLOR_RGB2BGR))[1]
        write_atomic(out / "skeleton.png", png.tobytes())
    found = sum(bool(f["people"]) for f in frames_json)
    print(f"{out}: a person in {found} of {len(frames_json)} frames; keypoints.json, skeleton.mp4"
          + (", skeleton.png" if kind == "image" else ""))
    return 0


def _input_kind(source: Path) -> str:
    """'image', 'folder' or 'video', or a SceneError for a missing or unknown input."""
    if source.is_dir():
        return "folder"
    if not source.exists():
        raise SceneError("INPUT", "no such file or folder", str(source))
    suffix = source.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    raise SceneError(
        "INPUT", f"unknown extension {suffix or '(none)'!r}: expected an image "
        f"({', '.join(IMAGE_SUFFIXES)}), a video ({', '.join(VIDEO_SUFFIXES)}) or a folder of images", str(source),
    )


def _frames(source: Path, kind: str) -> Iterator[tuple[str | None, np.ndarray]]:
    """(file name or None, uint8 (H, W, 3) RGB) for each frame of the input."""
    if kind == "video":
        from worldgen.video import iter_video_frames

        try:
            for frame in iter_video_frames(source):
                yield None, frame
        except ValueError as err:
            raise SceneError("INPUT", _without_path(err, source), str(source)) from None
        return
    paths = [source] if kind == "image" else sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise SceneError("INPUT", f"the folder holds no images ({', '.join(IMAGE_SUFFIXES)})", str(source))
    for path in paths:
        yield path.name, _read_image(path, source)


def _read_image(path: Path, source: Path) -> np.ndarray:
    """uint8 (H, W, 3) RGB; grey and alpha images are converted."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SceneError("INPUT", f"{path.name}: not a readable image", str(source))
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _video_fps(source: Path) -> float:
    """Frame rate of a video input (SceneError if it cannot be opened)."""
    from worldgen.video import video_fps

    try:
        return video_fps(source)
    except ValueError as err:
        raise SceneError("INPUT", _without_path(err, source), str(source)) from None


def _without_path(err: ValueError, source: Path) -> str:
    """A worldgen.video error message without its leading path (SceneError adds it)."""
    return str(err).removeprefix(f"{source}: ")
