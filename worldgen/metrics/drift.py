"""Drift over long clips: how far frame t has moved away from frame 0 once motion is
accounted for (identity and colour drift), and how each instance's mean colour wanders.

Composed drift. Each pixel p of frame 0 is followed through the clip by composing the
forward flows, x_0 = p, x_{t+1} = x_t + F_t(x_t) (F_t sampled bilinearly at x_t), and it
stays tracked while it is visible at every step (occlusion mask sampled at x_t, nearest)
and inside the image. With A_t the pixels still tracked at frame t::

    drift_t   = 100 sum_{p in A_t, c} |V_t(x_t(p), c) - V_0(p, c)| / (C |A_t|)    % of range
    tracked_t = |A_t| / (H W)

A clip whose surfaces keep their appearance has drift_t near the warp floor for all t;
slow colour or identity changes make it grow with t even when each step is small.

Instance colour drift. With the instance segmentation S_t (ids per pixel), the mean colour
of instance k in frame t and its drift from the first frame r_k where it is seen (at least
``min_pixels`` pixels)::

    m_t(k)      = mean_{i : S_t(i) = k} V_t(i)                               (C,) in [0, 1]
    drift_t(k)  = (255 / C) sum_c |m_t(k, c) - m_{r_k}(k, c)|                 0..255 levels

(NaN where k covers fewer than ``min_pixels`` pixels). This is "a ball's mean colour over
time": shading changes it too, so read it next to the clean render's values.

Colour-drift slope. Over the frames where instance k is seen, the least-squares line
m_t(k, c) = a + b t, reported as 100 * 255 * b (0..255 levels per 100 frames) with its
standard error from the residuals. A painted video and its reference agree on instance k
and channel c when |b_painted - b_reference| <= 1.96 sqrt(se_painted² + se_reference²)
(:func:`slope_agreement`). The residuals of a video are correlated in time, so the
standard errors are on the small side and the test on the strict side."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from control.flow import backward_warp, follow_flow
from worldgen.metrics.frames import Frames, as_float_frames, pair_mask


@dataclass
class ComposedDrift:
    """Per frame t = 0 .. T-1, float64 (T,); frame 0 is 0 % drift with everything tracked."""

    drift: np.ndarray  # drift_t, percent of the value range (NaN once nothing is tracked)
    tracked: np.ndarray  # tracked_t, fraction of frame 0's pixels


def composed_drift(frames: Frames, flow: Frames, occluded: Frames | None = None) -> ComposedDrift:
    """drift_t and tracked_t (module docstring). frames: (T, C, H, W) float in [0, 1] or
    (T, H, W, C) uint8; flow: forward flow (T or T-1, 2, H, W) pixels; occluded: (T or T-1,
    H, W) bool, True = no correspondence in the next frame (None: all visible)."""
    frames = as_float_frames(frames)
    T, channels, height, width = frames.shape
    flow = torch.as_tensor(flow, dtype=torch.float32)
    visible = pair_mask(occluded, T - 1, height, width)
    offset = torch.zeros(1, 2, height, width)  # x_t - p
    alive = torch.ones(1, 1, height, width)
    drift = np.zeros(T)
    tracked = np.ones(T)
    for t in range(T - 1):
        offset, alive = follow_flow(offset, alive, flow[t:t + 1], visible[t:t + 1, None])
        count = float(alive.sum())
        tracked[t + 1] = count / (height * width)
        if count == 0:
            drift[t + 1:] = float("nan")
            tracked[t + 1:] = 0.0
            break
        error = (backward_warp(frames[t + 1:t + 2], offset) - frames[:1]).abs() * alive
        drift[t + 1] = 100.0 * float(error.sum()) / (channels * count)
    return ComposedDrift(drift, tracked)


@dataclass
class InstanceColors:
    """Mean colour of every instance id seen in the clip (background 0 excluded)."""

    ids: np.ndarray  # (N,) int64 instance ids
    colors: np.ndarray  # (T, N, C) float64 mean colour in [0, 1], NaN where absent
    counts: np.ndarray  # (T, N) int64 pixels
    drift: np.ndarray  # (T, N) float64 drift_t(k), 0..255 levels, NaN where < min_pixels


def instance_color_drift(frames: Frames, instance: Frames, min_pixels: int = 8) -> InstanceColors:
    """m_t(k) and drift_t(k) (module docstring) for every instance id > 0 of ``instance``
    (T, H, W) int >= 0; frames (T, C, H, W) float in [0, 1] or (T, H, W, C) uint8."""
    values = as_float_frames(frames).numpy()
    T, channels = values.shape[:2]
    instance = np.asarray(instance, dtype=np.int64)
    bins = int(instance.max()) + 1  # ids are small integers: count them densely, no sort
    index = (instance + bins * np.arange(T)[:, None, None]).ravel()
    counts = np.bincount(index, minlength=T * bins).reshape(T, bins)
    sums = np.stack([np.bincount(index, weights=values[:, c].ravel(), minlength=T * bins)
                     for c in range(channels)], axis=-1).reshape(T, bins, channels)
    with np.errstate(invalid="ignore", divide="ignore"):
        colors = sums / counts[..., None]  # NaN where the id is absent (0 / 0)
    seen = counts >= min_pixels
    first = np.argmax(seen, axis=0)  # first frame with enough pixels (0 if never)
    reference = colors[first, np.arange(bins)]
    drift = np.where(seen, 255.0 * np.abs(colors - reference).mean(axis=-1), np.nan)
    keep = np.flatnonzero((counts.sum(axis=0) > 0) & (np.arange(bins) > 0))
    return InstanceColors(keep, colors[:, keep], counts[:, keep], drift[:, keep])


@dataclass
class DriftSlopes:
    """Colour-drift slopes (module docstring) of the instances seen in at least 3 frames."""

    ids: np.ndarray  # (N,) int64 instance ids, ascending
    slope: np.ndarray  # (N, C) float64, 0..255 levels per 100 frames
    stderr: np.ndarray  # (N, C) float64, same units


def color_drift_slopes(colors: InstanceColors) -> DriftSlopes:
    """The slope of every instance's mean colour over the frames it is seen in (``colors.drift``
    not NaN), with its standard error (scipy's least-squares ``linregress``)."""
    from scipy.stats import linregress

    ids, slopes, errors = [], [], []
    for k, instance_id in enumerate(colors.ids.tolist()):
        frames = np.flatnonzero(~np.isnan(colors.drift[:, k]))
        if len(frames) < 3:
            continue
        fits = [linregress(frames, channel) for channel in colors.colors[frames, k].T]
        ids.append(instance_id)
        slopes.append([25500.0 * fit.slope for fit in fits])
        errors.append([25500.0 * fit.stderr for fit in fits])
    channels = colors.colors.shape[-1]
    return DriftSlopes(np.array(ids, np.int64), np.array(slopes).reshape(-1, channels),
                       np.array(errors).reshape(-1, channels))


def slope_agreement(painted: DriftSlopes, reference: DriftSlopes) -> dict | None:
    """Over the instances both have: ``slope`` and ``reference_slope`` (mean |b|, levels per
    100 frames), ``slope_gap`` (mean |b_painted - b_reference|) and ``indistinguishable``
    (the share of instance channels whose slopes agree, module docstring); None when they
    share no instance."""
    common = np.intersect1d(painted.ids, reference.ids)
    if not len(common):
        return None
    mine, theirs = np.searchsorted(painted.ids, common), np.searchsorted(reference.ids, common)  # ids ascend
    gap = np.abs(painted.slope[mine] - reference.slope[theirs])
    bound = 1.96 * np.hypot(painted.stderr[mine], reference.stderr[theirs])
    return {"slope": float(np.abs(painted.slope[mine]).mean()), "reference_slope": float(np.abs(reference.slope[theirs]).mean()),
            "slope_gap": float(gap.mean()), "indistinguishable": float((gap <= bound).mean())}
