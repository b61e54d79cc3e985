"""Video files (mp4) through PyAV: H.264 / yuv420p writing that browsers play, and reading.

Frames at this boundary are uint8 RGB ``(T, H, W, 3)``; :func:`write_video` also takes the
in-code layout, float32 ``(T, 3, H, W)`` in [0, 1]."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

CRF = 18  # x264 constant rate factor: visually near-lossless, still small files


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float) -> None:
    """Write ``frames`` to ``path`` as H.264 (libx264, crf 18, no mb-tree, yuv420p, ``+faststart``).

    ``frames``: uint8 ``(T, H, W, 3)`` RGB, or float ``(T, 3, H, W)`` in [0, 1] (clipped,
    rounded to uint8). yuv420p needs an even width and height: an odd size is padded by one
    row/column replicating the edge, so the file is ``ceil(H/2)*2 x ceil(W/2)*2``.
    ``fps``: frames per second (> 0). The file depends only on the frames: the encoder runs
    on one thread, and x264's macroblock-tree rate control is off, because it reads
    uninitialised memory on small frames (32 x 24 frames gave 3 different files in 100
    encodings after the heap had been used; none with it off). The file appears whole or
    not at all: it is written to a temporary file in the same folder, then renamed over
    ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:12]}{path.suffix}")  # same suffix: same format
    try:
        _encode(tmp, frames, fps, where=str(path))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def video_bytes(frames: np.ndarray, fps: float) -> bytes:
    """The mp4 file that :func:`write_video` writes, as bytes (``+faststart`` needs a real
    file to rewrite, so it goes through a temporary one)."""
    with tempfile.TemporaryDirectory(prefix="worldgen-video-") as folder:
        path = Path(folder) / "video.mp4"
        _encode(path, frames, fps, where="video")
        return path.read_bytes()


def _encode(path: Path, frames: np.ndarray, fps: float, where: str) -> None:
    frames = _as_uint8_rgb(frames)
    if fps <= 0:
        raise ValueError(f"{where}: fps must be > 0, got {fps}")
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    with av.open(str(path), mode="w", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(CRF), "x264-params": "mbtree=0"}  # see the docstring
        stream.codec_context.thread_count = 1  # x264 output depends on its thread count; fix it
        for frame in frames:
            rgb = av.VideoFrame.from_ndarray(frame, format="rgb24")
            container.mux(stream.encode(rgb.reformat(format="yuv444p").reformat(format="yuv420p")))
        container.mux(stream.encode())


def read_video(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """All frames of the first video stream of ``path``: uint8 ``(T, H, W, 3)`` RGB and the
    frame rate (frames per second). Raises ``ValueError`` naming the file if it is missing,
    not a video, or has no frames."""
    with _open_video(path) as (container, stream):
        fps = _fps(path, stream)
        frames = list(_decode(path, container, stream))
    if not frames:
        raise ValueError(f"{path}: the video has no frames")
    return np.stack(frames), fps


def video_fps(path: str | os.PathLike) -> float:
    """Frame rate (frames per second) of the first video stream of ``path``, without decoding.
    Raises ``ValueError`` as :func:`read_video` does."""
    with _open_video(path) as (_, stream):
        return _fps(path, stream)


def video_codec(path: str | os.PathLike) -> str:
    """Codec and pixel format of the first video stream of ``path``, e.g. ``h264 yuv420p``
    (a lossy codec or chroma subsampling adds its own error to any metric). Raises
    ``ValueError`` as :func:`read_video` does."""
    with _open_video(path) as (_, stream):
        return f"{stream.codec_context.name} {stream.codec_context.pix_fmt}"


def iter_video_frames(path: str | os.PathLike) -> Iterator[np.ndarray]:
    """Frames of ``path`` one at a time, uint8 ``(H, W, 3)`` RGB (for videos too long to hold
    in memory). Raises ``ValueError`` as :func:`read_video` does."""
    with _open_video(path) as (container, stream):
        yield from _decode(path, container, stream)


def to_uint8(values: np.ndarray) -> np.ndarray:
    """uint8 levels of float values in [0, 1] (clipped), rounded to nearest: the one
    float -> uint8 rule of every image and video worldgen writes. Shape is kept."""
    return (np.clip(values, 0, 1) * 255 + 0.5).astype(np.uint8)


def _as_uint8_rgb(frames: np.ndarray) -> np.ndarray:
    """uint8 ``(T, H, W, 3)`` from either accepted layout (see :func:`write_video`)."""
    frames = np.asarray(frames)
    if frames.ndim == 4 and frames.dtype == np.uint8 and frames.shape[3] == 3:
        return np.ascontiguousarray(frames)
    if frames.ndim == 4 and np.issubdtype(frames.dtype, np.floating) and frames.shape[1] == 3:
        return np.ascontiguousarray(to_uint8(frames).transpose(0, 2, 3, 1))
    raise ValueError(
        f"frames must be uint8 (T, H, W, 3) or float (T, 3, H, W), got {frames.dtype} {frames.shape}"
    )


@contextmanager
def _open_video(path: str | os.PathLike):
    """The open container and its first video stream; PyAV errors become ``ValueError``."""
    if not Path(path).is_file():
        raise ValueError(f"{path}: no such file")
    try:
        container = av.open(str(path))
    except av.FFmpegError as err:
        raise ValueError(f"{path}: not a readable video ({err.strerror or err})") from None
    with container:
        if not container.streams.video:
            raise ValueError(f"{path}: the file has no video stream")
        yield container, container.streams.video[0]


def _fps(path, stream) -> float:
    rate = stream.average_rate or stream.guessed_rate
    if not rate:
        raise ValueError(f"{path}: the video stream has no frame rate")
    return float(rate)


def _decode(path, container, stream) -> Iterator[np.ndarray]:
    """uint8 (H, W, 3) RGB frames. yuv420p <-> rgb24 goes through yuv444p both ways (here and
    in :func:`write_video`): libswscale's direct conversions round down, about -1 level."""
    try:
        for frame in container.decode(stream):
            if frame.format.name == "yuv420p":
                frame = frame.reformat(format="yuv444p")
            yield frame.to_ndarray(format="rgb24")
    except av.FFmpegError as err:
        raise ValueError(f"{path}: cannot decode the video ({err.strerror or err})") from None
