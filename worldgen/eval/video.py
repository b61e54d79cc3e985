"""``worldgen eval video VIDEO``: temporal-consistency metrics of any video, exact when the
flow comes from a worldgen render.

Without flow it measures what needs none: VBench's temporal flickering, the mean inter-frame
difference and its flicker-source rule of thumb, the seam score on inter-frame differences
and, with ``--reference``, PSNR and SSIM. With flow (``--flow``, or found automatically when
VIDEO is in a worldgen render folder) it adds the warping error E_warp, the temporal
variance, the drift from frame 0 along the composed flow, the seam score on E_warp and, when
the flow file has instance ids, each instance's colour drift. Formulas: :mod:`worldgen.metrics`.

Writes ``OUT/metrics.json`` (format below), ``OUT/temporal.png`` (per-pair E_warp and
inter-frame difference, drift per frame) and, with instance ids, ``OUT/instance_drift.png``::

    {"format": "worldgen.eval/1", "video": ..., "codec": "h264 yuv420p", "frames": T,
     "width": W, "height": H, "fps": ..., "flow": FILE or null, "reference": FILE or null,
     "summary": {name: number or text}, "per_frame": {name: [per pair (T-1) or per frame (T)]},
     "instances": [{"id", "name", "frames_seen", "max_drift", "final_drift", "drift": [T]}]}

Numbers that are undefined are ``null``; a PSNR of identical frames is ``"inf"``."""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from worldgen.io.flow_file import FlowFile
from worldgen.io.json_file import write_json
from worldgen.metrics.report import evaluate
from worldgen.scene.errors import SceneError

FORMAT = "worldgen.eval/1"
RENDER_RGB = "rgb.mp4"
LOSSLESS_CODECS = ("ffv1", "ffvhuff", "huffyuv", "utvideo", "rawvideo", "png", "qtrle")

# (summary key, row label, number format), in table order.
ROWS = (
    ("warp_error", "E_warp (Lai et al.), squared [0,1]", "{:.3e}"),
    ("temporal_variance_percent", "temporal variance, % (good < 1.2)", "{:.3f}"),
    ("visible_fraction", "pixels with a correspondence", "{:.3f}"),
    ("vbench_temporal_flickering", "VBench temporal flickering", "{:.5f}"),
    ("mean_frame_difference", "mean inter-frame difference, 0-255", "{:.3f}"),
    ("drift_final_percent", "drift from frame 0 at the end, %", "{:.3f}"),
    ("drift_max_percent", "largest drift from frame 0, %", "{:.3f}"),
    ("tracked_final", "frame-0 pixels tracked to the end", "{:.3f}"),
    ("max_instance_drift", "largest instance colour drift, 0-255", "{:.2f}"),
    ("seam_score", "seam score", "{:.3f}"),
    ("psnr_db", "PSNR vs reference, dB", "{:.2f}"),
    ("ssim", "SSIM vs reference", "{:.4f}"),
)


@dataclass
class Clip:
    """A decoded video with the flow that goes with it (if any)."""

    path: Path
    frames: np.ndarray  # uint8 (T, H, W, 3)
    fps: float
    codec: str
    flow: FlowFile | None


def read_frames(video: str | os.PathLike, field: str) -> tuple[Path, np.ndarray, float, str]:
    """(path, uint8 (T, H, W, 3) frames, fps, codec) of a video file or a render folder's
    rgb.mp4; a SceneError on ``field`` when it cannot be read."""
    from worldgen.io.video import read_video, video_codec

    path = Path(video)
    if path.is_dir():
        if not (path / RENDER_RGB).is_file():
            raise SceneError(field, f"the folder has no {RENDER_RGB}; expected a video file or a worldgen "
                             "render folder", str(path))
        path = path / RENDER_RGB
    try:
        frames, fps = read_video(path)
        codec = video_codec(path)
    except ValueError as err:
        raise SceneError(field, str(err).removeprefix(f"{path}: "), str(path)) from None
    if len(frames) < 2:
        raise SceneError(field, f"expected at least 2 frames, got {len(frames)}", str(path))
    return path, frames, fps, codec


def fits(frames: np.ndarray, T: int, height: int, width: int) -> bool:
    """Whether ``frames`` (T', H', W', 3) are T frames of H x W, up to the one row or column
    of edge padding that the mp4 writer adds to odd sizes."""
    return len(frames) == T and frames.shape[1] - height in (0, 1) and frames.shape[2] - width in (0, 1)


def _size(T: int, height: int, width: int) -> str:
    return f"{T} frames of {width}x{height}"


def load_clip(video: str, flow: str | None = None) -> Clip:
    """The video and its flow: ``flow`` if given, else the buffers.npz of the render folder
    the video is in (ignored, with a note, when its shape does not match)."""
    from worldgen.io.flow_file import load_flow, render_flow_for

    path, frames, fps, codec = read_frames(video, "VIDEO")
    flow_file = load_flow(flow) if flow else None
    if flow_file is None and (found := render_flow_for(path)) is not None:
        flow_file = load_flow(found)
        if not fits(frames, *flow_file.shape):
            print(f"note: {found} does not match {path} in shape; measuring without flow", file=sys.stderr)
            flow_file = None
    if flow_file is not None:
        if not fits(frames, *flow_file.shape):
            raise SceneError("--flow", f"holds {_size(*flow_file.shape)}, but the video has {_size(*frames.shape[:3])}",
                             flow_file.source)
        frames = frames[:, :flow_file.shape[1], :flow_file.shape[2]]
    return Clip(path, frames, fps, codec, flow_file)


def load_reference(reference: str, clip: Clip) -> np.ndarray:
    """uint8 (T, H, W, 3) frames of the reference video, checked against ``clip``."""
    path, frames, _, _ = read_frames(reference, "--reference")
    if not fits(frames, *clip.frames.shape[:3]):
        raise SceneError("--reference", f"has {_size(*frames.shape[:3])}, but the video has "
                         f"{_size(*clip.frames.shape[:3])}", str(path))
    return frames[:, :clip.frames.shape[1], :clip.frames.shape[2]]


def format_table(reports: dict[str, dict]) -> str:
    """The summaries of ``reports`` (column label -> :func:`evaluate` result) as a text
    table, one metric per row; rows no report has are left out."""
    rows = [(label, fmt, key) for key, label, fmt in ROWS if any(key in r["summary"] for r in reports.values())]
    width = max(len(label) for label, _, _ in rows)
    lines = [f"{'metric':<{width}}  " + "  ".join(f"{name:>12}" for name in reports)]
    for label, fmt, key in rows:
        cells = []
        for report in reports.values():
            value = report["summary"].get(key)
            cells.append("n/a" if value is None else "inf" if value == math.inf else fmt.format(value))
        lines.append(f"{label:<{width}}  " + "  ".join(f"{cell:>12}" for cell in cells))
    return "\n".join(lines)


def write_report(report: dict, out: Path) -> list[Path]:
    """metrics.json and the plots into ``out``; returns the files written."""
    from worldgen.eval.plots import plot_instance_drift, plot_temporal

    out.mkdir(parents=True, exist_ok=True)
    files = [write_json(out / "metrics.json", report)]
    files.append(plot_temporal(report["per_frame"], out / "temporal.png"))
    if report["instances"]:
        files.append(plot_instance_drift(report["instances"], out / "instance_drift.png"))
    return files


def describe(clip: Clip) -> dict:
    """The clip's identity fields of metrics.json."""
    T, height, width = clip.frames.shape[:3]
    return {"format": FORMAT, "video": str(clip.path), "codec": clip.codec, "frames": T, "width": width,
            "height": height, "fps": clip.fps, "flow": clip.flow.source if clip.flow else None}


def notes(clip: Clip) -> list[str]:
    """What the reader should know about where the figures come from."""
    lines = [f"video: {clip.path} ({clip.codec}, {len(clip.frames)} frames at {clip.fps:g} fps)"]
    if clip.flow is None:
        lines.append("no flow: E_warp, temporal variance and drift need --flow (a worldgen render folder or an .npz)")
    else:
        lines.append(f"flow: {clip.flow.source}")
    if clip.codec.split()[0] not in LOSSLESS_CODECS:
        lines.append(f"{clip.codec}: lossy compression adds its own error to every figure")
    return lines


def evaluate_video(video: str, flow: str | None = None, reference: str | None = None, chunk: int | None = None,
                   out: Path | None = None) -> tuple[dict, Clip, list[Path]]:
    """Everything ``worldgen eval video`` does short of printing: load ``video`` with its
    flow, measure it, write the report into ``out`` (default: the video's name + _eval,
    next to it). Returns (report, clip, files written)."""
    clip = load_clip(video, flow)
    frames = load_reference(reference, clip) if reference else None
    report = {**describe(clip), "reference": reference, **evaluate(clip.frames, clip.flow, frames, chunk)}
    files = write_report(report, out or clip.path.with_name(f"{clip.path.stem}_eval"))
    return report, clip, files


def report_lines(report: dict, clip: Clip) -> list[str]:
    """What the reader should see below the table: the flicker source, where the figures
    come from, the seam measure and the instances that drift most."""
    summary = report["summary"]
    lines = [summary["flicker_source"], *notes(clip)]
    if "seam_measure" in summary:
        lines.append(f"seam score on {summary['seam_measure']}: boundary pairs over inner pairs")
    for record in report["instances"][:5]:
        if record["max_drift"] is not None:
            lines.append(f"instance {record['id']} {record['name']}: colour drift up to {record['max_drift']:.2f} levels")
    return lines
