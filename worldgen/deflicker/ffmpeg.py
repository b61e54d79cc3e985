"""FFmpeg's ``deflicker`` filter, run through PyAV's filter graph.

For each frame t it takes the mean luma Y_t (the Y plane of yuv444p) of the window of
``size`` frames that starts at t and scales frame t's luma by
``mean_mode(Y_t .. Y_{t+size-1}) / Y_t`` (``mode``: ``am`` arithmetic, ``gm`` geometric,
``hm`` harmonic, ``qm`` quadratic, ``cm`` cubic, ``pm`` power mean, ``median``); chroma is
left alone and the last frames reuse the last luma (libavfilter/vf_deflicker.c). One gain
per frame, so it can remove global brightness flicker but not flicker of one object.

``median`` does not compute a median: the filter's sort comparator (``comparef``) subtracts
the element addresses instead of the values, so the "sorted" window is the window itself and
frame t takes the luma of frame t + size // 2 (so in FFmpeg 8.1.2, which PyAV 18.1.0
bundles). Use ``am``."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

FFMPEG_MODES = ("am", "gm", "hm", "qm", "cm", "pm", "median")
FFMPEG_SIZES = (2, 129)  # the filter's allowed window sizes, inclusive


def ffmpeg_deflicker(frames: np.ndarray, size: int = 5, mode: str = "am") -> np.ndarray:
    """FFmpeg's ``deflicker`` (module docstring) on uint8 ``(T, H, W, 3)`` RGB frames; returns
    the same layout. Frames go through yuv444p (the filter works on luma), as
    :mod:`worldgen.io.video` converts them."""
    if mode not in FFMPEG_MODES:
        raise ValueError(f"deflicker mode must be one of {', '.join(FFMPEG_MODES)}, got {mode!r}")
    if not FFMPEG_SIZES[0] <= size <= FFMPEG_SIZES[1]:
        raise ValueError(f"deflicker size must be {FFMPEG_SIZES[0]}..{FFMPEG_SIZES[1]} frames, got {size}")
    _, height, width, _ = frames.shape
    time_base = Fraction(1, 1000)  # timestamps only order the frames here
    graph = av.filter.Graph()
    source = graph.add_buffer(width=width, height=height, format="yuv444p", time_base=time_base)
    graph.link_nodes(source, graph.add("deflicker", f"size={size}:mode={mode}"), graph.add("buffersink")).configure()
    out: list[np.ndarray] = []
    for index, frame in enumerate(frames):
        yuv = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24").reformat(format="yuv444p")
        yuv.pts, yuv.time_base = index, time_base
        graph.vpush(yuv)
        _drain(graph, out)
    graph.vpush(None)
    _drain(graph, out)
    return np.stack(out)


def _drain(graph: av.filter.Graph, out: list[np.ndarray]) -> None:
    """Pull every frame the graph has ready, as uint8 RGB, into ``out``."""
    while True:
        try:
            out.append(graph.vpull().to_ndarray(format="rgb24"))
        except (av.BlockingIOError, av.EOFError):
            return
