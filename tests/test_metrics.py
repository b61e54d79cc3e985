"""Temporal metrics against known answers: static clips, injected flicker of known amplitude,
injected noise, the published formulas of VBench and Lai et al., and a reference render's
warp floor."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from control.flow import exact_flow
from renderer.pbr.render import RenderSettings, render_trajectory
from simulation.engines import make_engine
from worldgen.io.video import read_video, write_video
from worldgen.metrics import (
    composed_drift,
    flicker_source,
    frame_differences,
    instance_color_drift,
    mean_frame_difference,
    psnr,
    seam_score,
    seam_score_at,
    ssim,
    vbench_temporal_flickering,
    warping_errors,
)
from worldgen.scene import load_scene


def test_a_static_clip_scores_zero_warp_error_and_vbench_one():
    """E_warp, temporal variance and drift are 0 up to float32 rounding of the warp's sample
    positions (grid_sample normalises them by the image size); VBench's score is exactly 1."""
    image = np.random.default_rng(1).uniform(0, 1, (3, 24, 32)).astype(np.float32)
    clip = np.repeat(image[None], 5, axis=0)
    errors = warping_errors(clip, np.zeros((5, 2, 24, 32), np.float32))
    assert errors.mean_warp_error < 1e-12 and errors.mean_temporal_variance < 1e-4
    assert vbench_temporal_flickering(clip) == 1.0 and mean_frame_difference(clip) == 0.0
    drift = composed_drift(clip, np.zeros((5, 2, 24, 32), np.float32))
    assert np.abs(drift.drift).max() < 1e-4 and drift.tracked.min() == 1


def test_brightness_flicker_of_known_amplitude_on_a_moving_texture(translating_clip):
    """V_t = g_t * (a texture sliding 2 px per frame): with the exact flow, warping frame t+1
    back gives g_{t+1} times frame t's texture on the visible pixels, so by hand
    E_t = (g_{t+1} - g_t)^2 mean(X_t^2) and TV_t = 100 |g_{t+1} - g_t| mean(X_t) over the
    visible pixels (the first 2 columns leave the image)."""
    texture, flow = translating_clip(frames=6, shift=2)
    gains = np.array([1.0, 1.1, 0.9, 1.05, 0.95, 1.0], np.float32)
    clip = texture * gains[:, None, None, None]
    errors = warping_errors(clip, flow.forward, flow.forward_occluded)
    visible = texture[:-1, :, :, 2:].astype(np.float64)  # X_t on the visible columns
    step = np.diff(gains.astype(np.float64))
    np.testing.assert_allclose(errors.warp_error, step ** 2 * (visible ** 2).mean(axis=(1, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(errors.temporal_variance, 100 * np.abs(step) * visible.mean(axis=(1, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(errors.visible, 38 / 40)


def test_uint8_flicker_between_two_levels():
    """Flat frames alternating between levels 90 and 110: MAD is 20 levels exactly, VBench's
    score (255 - 20) / 255, E_warp (20/255)^2, temporal variance 100 * 20/255 %."""
    levels = np.where(np.arange(7) % 2 == 0, 90, 110).astype(np.uint8)
    clip = np.broadcast_to(levels[:, None, None, None], (7, 8, 8, 3)).copy()
    assert mean_frame_difference(clip) == 20.0
    assert vbench_temporal_flickering(clip) == pytest.approx(235 / 255, abs=1e-12)
    errors = warping_errors(clip, np.zeros((7, 2, 8, 8), np.float32))
    assert errors.mean_warp_error == pytest.approx((20 / 255) ** 2, rel=1e-5)
    assert errors.mean_temporal_variance == pytest.approx(100 * 20 / 255, rel=1e-5)
    assert "generator" in flicker_source(20.0) and "compression" in flicker_source(5.0)


def test_warp_error_rises_with_injected_noise(translating_clip):
    """Independent Gaussian noise of std s in every frame: E_warp = 2 s^2 (difference of two
    independent draws) on top of an exact floor of 0; strictly increasing in s."""
    texture, flow = translating_clip(frames=8, height=48, width=48, shift=1)
    rng = np.random.default_rng(7)
    values = []
    for sigma in (0.0, 0.005, 0.01, 0.02, 0.04):
        noisy = texture + rng.normal(0, sigma, texture.shape).astype(np.float32)  # texture in [0.2, 0.8]: no clipping
        values.append(warping_errors(noisy, flow.forward, flow.forward_occluded).mean_warp_error)
        assert values[-1] == pytest.approx(2 * sigma ** 2, rel=0.05, abs=1e-12)
    assert values[0] < 1e-12 and all(a < b for a, b in zip(values, values[1:]))


def test_vbench_and_mean_difference_follow_the_published_formulas(tmp_path):
    """VBench's temporal_flickering (vbench/temporal_flickering.py), written out from its
    definition: MAE of consecutive frames with cv2.absdiff on float32 copies, averaged over
    the pairs, score (255 - mean) / 255. Same decoded mp4 frames, agreement to 1e-6."""
    rng = np.random.default_rng(3)
    base = rng.integers(0, 256, (1, 24, 32, 3))
    clip = np.clip(base + rng.integers(-20, 21, (9, 24, 32, 3)), 0, 255).astype(np.uint8)
    write_video(tmp_path / "clip.mp4", clip, fps=24)
    frames, _ = read_video(tmp_path / "clip.mp4")
    bgr = [cv2.cvtColor(f, cv2.COLOR_RGB2BGR) for f in frames]  # what cv2.VideoCapture hands VBench
    maes = [np.mean(cv2.absdiff(np.array(a, dtype=np.float32), np.array(b, dtype=np.float32)))
            for a, b in zip(bgr[:-1], bgr[1:])]
    assert abs(vbench_temporal_flickering(frames) - (255.0 - np.mean(maes)) / 255.0) < 1e-6
    assert abs(mean_frame_difference(frames) - np.mean(maes)) < 1e-6
    np.testing.assert_allclose(frame_differences(frames), maes, atol=1e-6)


def test_warp_error_follows_lai_et_al():
    """Lai et al.'s evaluate_WarpError.py, written out: warp frame t+1 with the forward flow,
    diff = (warped - frame t) * non-occlusion mask (per channel), E_t = sum(diff^2) / sum(mask),
    averaged over pairs. An integer flow field makes the warp plain indexing (edges clamped)."""
    rng = np.random.default_rng(5)
    T, H, W = 5, 20, 24
    clip = rng.uniform(0, 1, (T, 3, H, W)).astype(np.float32)
    flow = rng.integers(-3, 4, (T, 2, H, W)).astype(np.float32)
    occluded = rng.uniform(size=(T, H, W)) < 0.2
    y, x = np.mgrid[0:H, 0:W]
    expected = []
    for t in range(T - 1):
        xs = np.clip(x + flow[t, 0].astype(int), 0, W - 1)
        ys = np.clip(y + flow[t, 1].astype(int), 0, H - 1)
        warped = clip[t + 1][:, ys, xs]
        mask = np.repeat((~occluded[t])[None], 3, axis=0).astype(np.float64)
        diff = (warped - clip[t]) * mask
        expected.append(np.sum(np.square(diff)) / np.sum(mask))
    errors = warping_errors(clip, flow, occluded)
    np.testing.assert_allclose(errors.warp_error, expected, rtol=1e-5)
    assert errors.mean_warp_error == pytest.approx(np.mean(expected), rel=1e-5)


def test_drift_along_the_composed_flow(translating_clip):
    """The sliding texture keeps its colours: zero drift, and exactly the pixels still in view
    stay tracked (W - shift t of W columns). Brightening by 1 % per frame drifts by
    t % of the mean value of what is still tracked."""
    texture, flow = translating_clip(frames=6, width=40, shift=3)
    drift = composed_drift(texture, flow.forward, flow.forward_occluded)
    assert np.abs(drift.drift).max() < 1e-4  # percent: float32 rounding of the sample positions
    np.testing.assert_allclose(drift.tracked, [(40 - 3 * t) / 40 for t in range(6)])
    brighter = texture * (1 + 0.01 * np.arange(6, dtype=np.float32))[:, None, None, None]
    drift = composed_drift(brighter, flow.forward, flow.forward_occluded)
    expected = [100 * 0.01 * t * texture[0][:, :, 3 * t:].mean() for t in range(6)]
    np.testing.assert_allclose(drift.drift, expected, rtol=1e-4, atol=1e-6)


def test_instance_colour_drift():
    """Two squares: one darkens by 2 levels per frame in every channel, the other keeps its
    colour; a third appears only from frame 2, so its drift is measured from there."""
    T = 5
    frames = np.zeros((T, 3, 16, 16), np.float32)
    instance = np.zeros((T, 16, 16), np.int64)
    instance[:, 2:6, 2:6], instance[:, 8:12, 8:12], instance[2:, 12:15, 0:4] = 3, 7, 9
    frames[:, :, 2:6, 2:6] = ((200 - 2 * np.arange(T)) / 255)[:, None, None, None]
    frames[:, :, 8:12, 8:12] = 0.5
    frames[:, :, 12:15, 0:4] = 0.25
    colors = instance_color_drift(frames, instance)
    assert colors.ids.tolist() == [3, 7, 9]
    np.testing.assert_allclose(colors.drift[:, 0], 2.0 * np.arange(T), atol=1e-9)
    np.testing.assert_allclose(colors.drift[:, 1], 0.0, atol=1e-9)
    assert np.isnan(colors.drift[:2, 2]).all() and (colors.drift[2:, 2] == 0).all()
    assert colors.counts[:, 0].tolist() == [16] * T


def test_colour_drift_slopes_and_their_agreement_with_a_reference():
    """A square darkening by 2 levels a frame has slope -200 levels per 100 frames; with
    noise added on top, its slope still agrees with the clean one's; a copy that darkens
    twice as fast does not."""
    from worldgen.metrics import color_drift_slopes, slope_agreement

    T = 40
    instance = np.zeros((T, 8, 8), np.int64)
    instance[:, 2:6, 2:6] = 4
    reference = np.zeros((T, 3, 8, 8), np.float32)
    reference[:, :, 2:6, 2:6] = ((200 - 2 * np.arange(T)) / 255)[:, None, None, None]
    slopes = color_drift_slopes(instance_color_drift(reference, instance))
    assert slopes.ids.tolist() == [4]
    np.testing.assert_allclose(slopes.slope, -200.0, rtol=1e-4)
    assert (slopes.stderr < 1e-3).all()
    noise = np.random.default_rng(0).normal(0, 4 / 255, (T, 3, 1, 1)).astype(np.float32)
    noisy = color_drift_slopes(instance_color_drift(reference + noise, instance))
    agreement = slope_agreement(noisy, slopes)
    assert agreement["indistinguishable"] == 1.0 and agreement["slope_gap"] < 10
    assert agreement["reference_slope"] == pytest.approx(200.0, rel=1e-4)
    faster = reference.copy()
    faster[:, :, 2:6, 2:6] = ((200 - 4 * np.arange(T)) / 255)[:, None, None, None]
    off = slope_agreement(color_drift_slopes(instance_color_drift(faster + noise, instance)), slopes)
    assert off["indistinguishable"] == 0.0 and off["slope_gap"] == pytest.approx(200.0, abs=10)


def test_psnr_and_ssim_against_a_reference():
    reference = np.random.default_rng(2).uniform(0.1, 0.9, (3, 3, 32, 32)).astype(np.float32)
    shifted = reference + np.float32(0.01)
    np.testing.assert_allclose(psnr(shifted, reference), 10 * np.log10(1 / 0.01 ** 2), rtol=1e-4)
    assert np.isinf(psnr(reference, reference)).all()
    np.testing.assert_allclose(ssim(reference, reference), 1.0)
    # Flat images a and b: no contrast or structure, so SSIM = (2ab + C1) / (a^2 + b^2 + C1), C1 = 0.01^2.
    a, b = np.full((1, 3, 16, 16), 0.4, np.float32), np.full((1, 3, 16, 16), 0.5, np.float32)
    np.testing.assert_allclose(ssim(a, b), (2 * 0.4 * 0.5 + 1e-4) / (0.4 ** 2 + 0.5 ** 2 + 1e-4), rtol=1e-5)


def test_seam_score_of_chunks_with_a_jump_at_each_boundary():
    """A still image whose brightness steps by 0.01 between frames inside a chunk and by 0.05
    across chunk boundaries (chunks of 4): E_t is proportional to the step squared, so the
    seam score is (0.05 / 0.01)^2 = 25."""
    image = np.random.default_rng(6).uniform(0.2, 0.6, (3, 16, 16)).astype(np.float64)
    steps = [0.05 if (t + 1) % 4 == 0 else 0.01 for t in range(11)]
    gains = np.concatenate([[1.0], 1.0 + np.cumsum(steps)])
    clip = (gains[:, None, None, None] * image).astype(np.float32)
    errors = warping_errors(clip, np.zeros((12, 2, 16, 16), np.float32))
    assert seam_score(errors.warp_error, 4) == pytest.approx(25.0, rel=1e-3)
    assert seam_score(torch.tensor([1.0, 1.0, 3.0, 1.0, 1.0, 3.0]), 3) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="no boundary"):
        seam_score(errors.warp_error, 20)


def test_seam_score_of_overlapping_windows_at_their_starts():
    """Windows of unequal length (each after the first overlapping its predecessor) start at
    frames 4 and 7: the pairs (3, 4) and (6, 7) are the boundaries."""
    errors = torch.tensor([1.0, 1.0, 1.0, 4.0, 1.0, 1.0, 2.0, 1.0])
    assert seam_score_at(errors, [4, 7]) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="not inside a clip of 9 frames"):
        seam_score_at(errors, [9])


def test_a_reference_render_scores_near_the_warp_floor():
    """dominoes, frames 8-11 at 64x64 (what benchmarks/bench_render.py measures the warp floor
    on; 0.08/255 mean |RGB| at 128 spp): at 32 spp the temporal variance stays within
    0.12/255 and E_warp under 5e-5. Exact flow from the state, frames in memory (no codec)."""
    scene = load_scene("dominoes")
    trajectory = make_engine("pybullet").rollout(scene, num_frames=12)
    camera = scene.cameras[0].model_copy(update={"resolution": (64, 64)})
    clip = render_trajectory(trajectory, camera, RenderSettings(spp=32), frames=np.arange(8, 12))
    flow = exact_flow(clip.depth, clip.instance, clip.poses, clip.K, clip.world_to_camera)
    assert np.abs(flow.forward[:-1]).max() > 0.5  # something moves
    errors = warping_errors(clip.rgb, flow.forward, flow.forward_occluded)
    assert errors.mean_temporal_variance * 255 / 100 < 0.12
    assert errors.mean_warp_error < 5e-5
