"""What ``worldgen deflicker VIDEO -o OUT [--method ffmpeg|flow]`` runs: remove flicker and
report the metrics before and after.

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

from worldgen.eval.video import Clip, load_clip, load_reference
from worldgen.io.json_file import write_json
from worldgen.metrics.report import evaluate
from worldgen.scene.errors import SceneError

FORMAT = "worldgen.deflicker/1"
METHODS = ("ffmpeg", "flow")


def deflicker_video(video: str, output: Path, method: str = "ffmpeg", size: int = 5, mode: str = "am",
                    radius: int = 3, flow: str | None = None, reference: str | None = None) -> tuple[dict, Clip, Path]:
    """Filter ``video`` with ``method`` (``ffmpeg``: ``size``, ``mode``; ``flow``:
    ``radius``, needs forward and backward flow from ``flow`` or the render folder), write
    the filtered mp4 to ``output`` and the report (module docstring) beside it. Returns
    (report, clip, report path); user mistakes raise :class:`SceneError`."""
    from worldgen.deflicker.ffmpeg import FFMPEG_MODES, ffmpeg_deflicker
    from worldgen.deflicker.flow import flow_deflicker
    from worldgen.io.video import write_video
    from worldgen.metrics.frames import as_uint8_frames

    if method not in METHODS:
        raise SceneError("--method", f"expected one of {', '.join(METHODS)}, got {method!r}", "command line")
    if mode not in FFMPEG_MODES:
        raise SceneError("--mode", f"expected one of {', '.join(FFMPEG_MODES)}, got {mode!r}", "command line")
    if output.suffix.lower() != ".mp4":
        raise SceneError("--output", f"expected a file name ending in .mp4, got {output.name!r}", "command line")
    clip = load_clip(video, flow)
    frames = load_reference(reference, clip) if reference else None
    flow_file = clip.flow
    if method == "flow":
        if flow_file is None:
            raise SceneError("--flow", "--method flow needs flow: pass --flow (a worldgen render folder or an .npz "
                             "flow file)", "command line")
        if flow_file.backward is None:
            raise SceneError("backward_flow", "missing; --method flow needs forward and backward flow (a worldgen "
                             "render folder has both)", flow_file.source)
        filtered = as_uint8_frames(flow_deflicker(clip.frames, flow_file.forward, flow_file.backward,
                                                  flow_file.forward_occluded, flow_file.backward_occluded, radius))
        options = {"radius": radius}
    else:
        filtered = ffmpeg_deflicker(clip.frames, size, mode)
        options = {"size": size, "mode": mode}
    before = evaluate(clip.frames, flow_file, frames)
    after = evaluate(filtered, flow_file, frames)
    output.parent.mkdir(parents=True, exist_ok=True)
    write_video(output, np.ascontiguousarray(filtered), clip.fps)
    report = {"format": FORMAT, "video": str(clip.path), "output": str(output), "method": method,
              "options": options, "flow": flow_file.source if flow_file else None, "reference": reference,
              "before": before, "after": after}
    return report, clip, write_json(output.with_suffix(".json"), report)
