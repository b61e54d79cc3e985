"""mp4 writing and reading through PyAV: round trip, odd sizes, atomic writes, clear errors."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from worldgen.io.video import iter_video_frames, read_video, video_bytes, video_fps, write_video


def smooth_clip(frames: int, height: int, width: int) -> np.ndarray:
    """uint8 (T, H, W, 3): gradients drifting over time (what H.264 keeps well)."""
    t, y, x = np.meshgrid(np.arange(frames), np.linspace(0, 1, height), np.linspace(0, 1, width), indexing="ij")
    rgb = np.stack([0.5 + 0.4 * np.sin(2 * x + 0.3 * t), 0.2 + 0.6 * y, 0.5 + 0.3 * np.cos(3 * (x + y) - 0.2 * t)], -1)
    return (rgb * 255).round().astype(np.uint8)


def test_round_trip(tmp_path):
    clip = smooth_clip(12, 48, 64)
    path = tmp_path / "clip.mp4"
    write_video(path, clip, fps=24)
    frames, fps = read_video(path)
    assert frames.shape == clip.shape and frames.dtype == np.uint8 and fps == 24
    error = np.abs(frames.astype(float) - clip)
    assert error.mean() < 2.5
    np.testing.assert_allclose(frames.mean(axis=(1, 2, 3)), clip.mean(axis=(1, 2, 3)), atol=0.6)  # no colour bias
    np.testing.assert_array_equal(np.stack(list(iter_video_frames(path))), frames)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]  # no temporary left behind
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.codec_context.pix_fmt) == ("h264", "yuv420p")
    data = path.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # +faststart: playable while downloading


def test_float_frames_and_fractional_fps(tmp_path):
    clip = smooth_clip(5, 32, 40)
    path = tmp_path / "float.mp4"
    write_video(path, clip.transpose(0, 3, 1, 2).astype(np.float32) / 255, fps=30000 / 1001)
    frames, fps = read_video(path)
    assert frames.shape == clip.shape and fps == pytest.approx(29.97, abs=1e-3)
    assert video_fps(path) == fps
    assert np.abs(frames.astype(float) - clip).mean() < 3.0


def test_odd_sizes_are_padded_by_edge_replication(tmp_path):
    clip = smooth_clip(3, 31, 45)
    path = tmp_path / "odd.mp4"
    write_video(path, clip, fps=10)
    frames, _ = read_video(path)
    assert frames.shape == (3, 32, 46, 3)
    assert np.abs(frames[:, :31, :45].astype(float) - clip).mean() < 3.0
    assert np.abs(frames[:, 31, :45].astype(float) - clip[:, 30]).mean() < 4.0
    assert np.abs(frames[:, :31, 45].astype(float) - clip[:, :, 44]).mean() < 4.0


def test_overwrites_an_existing_file(tmp_path):
    path = tmp_path / "clip.mp4"
    write_video(path, smooth_clip(4, 16, 16), fps=8)
    write_video(path, smooth_clip(2, 16, 16), fps=8)
    assert len(read_video(path)[0]) == 2


def test_errors_name_the_file(tmp_path):
    with pytest.raises(ValueError, match="missing.mp4: no such file"):
        read_video(tmp_path / "missing.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all")
    with pytest.raises(ValueError, match="junk.mp4"):
        read_video(junk)
    with pytest.raises(ValueError, match="uint8"):
        write_video(tmp_path / "bad.mp4", np.zeros((2, 16, 16), np.uint8), fps=8)
    with pytest.raises(ValueError, match="fps"):
        write_video(tmp_path / "bad.mp4", smooth_clip(1, 16, 16), fps=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.mp4"]


def test_the_file_depends_only_on_the_frames():
    """Encoding the same small clip again after the heap has been scribbled on gives the
    same bytes. The clip (4 frames of 32 x 24) is episode 1 of the tiny objects_drop dataset
    of tests/test_dataset.py, on which x264's mb-tree read uninitialised memory."""
    clip = np.load(Path(__file__).parent / "data" / "rendered_clip_32x24.npz")["rgb"]
    rng = np.random.default_rng(0)
    files = set()
    for _ in range(40):
        scribbles = [bytes(rng.bytes(int(n))) for n in rng.integers(100, 60000, 300)]
        del scribbles
        files.add(video_bytes(clip, 12))
    assert len(files) == 1
