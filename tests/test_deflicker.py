"""Deflicker on a reference render with injected flicker: the flow-guided filter removes both
global and per-object flicker; FFmpeg's filter removes global brightness flicker only."""

from __future__ import annotations

import numpy as np
import pytest

from control.flow import exact_flow
from renderer.pbr.render import RenderSettings, render_trajectory
from simulation.engines import make_engine
from worldgen.deflicker.ffmpeg import ffmpeg_deflicker
from worldgen.deflicker.flow import flow_deflicker
from worldgen.metrics import psnr, warping_errors
from worldgen.metrics.flicker_injection import brightness_flicker, instance_flicker
from worldgen.metrics.frames import as_uint8_frames
from worldgen.scene import load_scene


@pytest.fixture(scope="module")
def render():
    """stacked_blocks (blocks falling onto a pile) at 48x48, 16 frames, 16 spp, exact flow."""
    scene = load_scene("stacked_blocks")
    frames = np.arange(4, 20)
    trajectory = make_engine("pybullet").rollout(scene, num_frames=int(frames[-1]) + 1)
    camera = scene.cameras[0].model_copy(update={"resolution": (48, 48)})
    clip = render_trajectory(trajectory, camera, RenderSettings(spp=16), frames=frames)
    return clip, exact_flow(clip.depth, clip.instance, clip.poses, clip.K, clip.world_to_camera)


def flickering(render, kind):
    clip, _ = render
    if kind == "global":
        return brightness_flicker(clip.rgb, amplitude=0.15, seed=0)[0]
    bodies = [int(i) for i in np.unique(clip.instance) if i >= 2]  # every block; not the floor
    return instance_flicker(clip.rgb, clip.instance, bodies, amplitude=0.3, seed=1)


def scores(frames, render):
    """(E_warp, PSNR vs the clean render) of uint8-rounded frames, as a video would hold them."""
    clip, flow = render
    frames = as_uint8_frames(frames)
    return (warping_errors(frames, flow.forward, flow.forward_occluded).mean_warp_error,
            float(np.mean(psnr(frames, clip.rgb))))


def with_ffmpeg(frames):
    return ffmpeg_deflicker(as_uint8_frames(frames), size=5, mode="am")


def with_flow(frames, render):
    _, flow = render
    return flow_deflicker(frames, flow.forward, flow.backward, flow.forward_occluded, flow.backward_occluded, radius=3)


@pytest.mark.parametrize("kind", ["global", "object"])
def test_flow_guided_filter_halves_warp_error_and_raises_psnr(render, kind):
    before = scores(flickering(render, kind), render)
    after = scores(with_flow(flickering(render, kind), render), render)
    assert after[0] <= 0.5 * before[0], (before, after)
    assert after[1] > before[1], (before, after)


def test_ffmpeg_fixes_global_brightness_flicker_but_not_per_object_flicker(render):
    """One luma gain per frame: it halves E_warp of global flicker, but leaves per-object
    flicker within 20 % of where it was, far above what the flow-guided filter reaches."""
    global_before = scores(flickering(render, "global"), render)
    global_after = scores(with_ffmpeg(flickering(render, "global")), render)
    assert global_after[0] <= 0.5 * global_before[0] and global_after[1] > global_before[1]
    object_before = scores(flickering(render, "object"), render)
    object_after = scores(with_ffmpeg(flickering(render, "object")), render)
    object_flow = scores(with_flow(flickering(render, "object"), render), render)
    assert object_after[0] > 0.8 * object_before[0], (object_before, object_after)
    assert object_after[0] > 5 * object_flow[0], (object_after, object_flow)


def test_flow_filter_leaves_a_flicker_free_moving_clip_unchanged(translating_clip):
    """Every neighbour warped along the exact flow is the frame itself, so the average is too."""
    clip, flow = translating_clip(frames=8, shift=3)
    out = flow_deflicker(clip, flow.forward, flow.backward, flow.forward_occluded, flow.backward_occluded, radius=3)
    np.testing.assert_allclose(out.numpy(), clip, atol=1e-5)


def test_flow_filter_averages_a_static_flicker_exactly():
    """A still image with gains g_t and radius 1: the middle frames become the mean gain of
    their three-frame window, the two end frames of their two-frame window."""
    image = np.random.default_rng(0).uniform(0.2, 0.6, (3, 8, 8)).astype(np.float32)
    gains = np.array([1.0, 1.2, 0.8, 1.1, 0.9], np.float32)
    zero, visible = np.zeros((5, 2, 8, 8), np.float32), np.zeros((5, 8, 8), bool)
    out = flow_deflicker(gains[:, None, None, None] * image, zero, zero, visible, visible, radius=1)
    window = [gains[max(t - 1, 0):t + 2].mean() for t in range(5)]
    np.testing.assert_allclose(out.numpy(), np.array(window)[:, None, None, None] * image, rtol=1e-5)


def test_ffmpeg_filter_scales_each_frame_to_its_window_mean():
    """FFmpeg's arithmetic mode with a window of 2: frame t's luma is scaled by
    mean(Y_t, Y_{t+1}) / Y_t, so a flat grey clip alternating between two levels comes out
    at their mean (to the rounding of the yuv conversions)."""
    levels = np.where(np.arange(6) % 2 == 0, 100, 140).astype(np.uint8)
    clip = np.broadcast_to(levels[:, None, None, None], (6, 16, 16, 3)).copy()
    out = ffmpeg_deflicker(clip, size=2, mode="am")
    assert out.shape == clip.shape
    assert np.abs(out[:-1].astype(float) - 120).max() <= 2


def test_ffmpeg_median_mode_does_not_take_a_median():
    """FFmpeg's median mode sorts with a comparator that compares addresses, so the window
    stays unsorted and frame t takes the luma of frame t + size // 2: an alternating clip
    comes out alternating the other way round instead of flat."""
    levels = np.where(np.arange(8) % 2 == 0, 100, 140).astype(np.uint8)
    clip = np.broadcast_to(levels[:, None, None, None], (8, 16, 16, 3)).copy()
    out = ffmpeg_deflicker(clip, size=3, mode="median")
    np.testing.assert_allclose(out[:6, 0, 0, 0], levels[1:7], atol=2)
