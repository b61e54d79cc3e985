"""Pose extraction (``worldgen pose extract INPUT -o OUT``): COCO-18 keypoints and skeleton
maps from real footage.

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

from worldgen.io.atomic import write_atomic
from worldgen.scene.errors import SceneError
from worldgen.scene.limits import MAX_VIDEO_FPS

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm")
FORMAT = "worldgen.pose/1"


def extract_poses(source: Path, out: Path, threshold: float = 0.5, fps: float = 30.0) -> tuple[int, int, list[Path]]:
    """Detect one person per frame of ``source`` (an image, an image folder or a video;
    ``fps`` is the frame rate of images) and write the files of the module docstring into
    ``out``. Returns (frames with a person, frames, files written); user mistakes raise
    :class:`SceneError` (field ``INPUT``, ...)."""
    if not 0 < threshold <= 1:
        raise SceneError("--threshold", f"expected a number in (0, 1], got {threshold}", "command line")
    if not 1 / 1000 <= fps <= MAX_VIDEO_FPS:  # NaN fails too; the video's rate is a fraction of denominator <= 1001
        raise SceneError("--fps", f"expected a number of frames per second from 0.001 to {MAX_VIDEO_FPS:,}, got {fps}",
                         "command line")
    import cv2  # here and below, imports that would slow down `worldgen --help`

    from control.pose_extract import PoseExtractor
    from control.skeleton_map import draw_skeleton_map
    from simulation.humanoid import COCO18_NAMES
    from worldgen.io.video import write_video

    kind = _input_kind(source)
    fps = _video_fps(source) if kind == "video" else fps
    frames_json, maps = [], []
    size = None
    with PoseExtractor(static_image_mode=kind != "video", threshold=threshold) as extractor:
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
    files = [out / "keypoints.json", out / "skeleton.mp4"] + ([out / "skeleton.png"] if kind == "image" else [])
    return sum(bool(f["people"]) for f in frames_json), len(frames_json), files


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
        from worldgen.io.video import iter_video_frames

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
    from worldgen.io.video import video_fps

    try:
        return video_fps(source)
    except ValueError as err:
        raise SceneError("INPUT", _without_path(err, source), str(source)) from None


def _without_path(err: ValueError, source: Path) -> str:
    """A worldgen.io.video error message without its leading path (SceneError adds it)."""
    return str(err).removeprefix(f"{source}: ")
