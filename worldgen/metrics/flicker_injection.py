"""Flicker of known amplitude, injected into clean frames to validate the metrics and the
deflicker filters against answers computed by hand.

Both multiply frames (T, C, H, W) in [0, 1] by gains drawn from one seed and clip to [0, 1]:

- global brightness flicker: V'_t = g_t V_t, g_t = 1 + a u_t, one u_t ~ U(-1, 1) per frame;
- per-object colour flicker: V'_t(i, c) = g_{t,k,c} V_t(i, c) on the pixels of instance k,
  g_{t,k,c} = 1 + a u_{t,k,c}, one draw per frame, instance and channel; other pixels untouched."""

from __future__ import annotations

import numpy as np
import torch

from worldgen.metrics.frames import Frames, as_float_frames


def brightness_flicker(frames: Frames, amplitude: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(flickering frames (T, C, H, W) float32, gains g_t (T,))."""
    frames = as_float_frames(frames)
    gains = 1.0 + amplitude * torch.from_numpy(np.random.default_rng(seed).uniform(-1, 1, len(frames))).float()
    return (frames * gains[:, None, None, None]).clamp(0, 1), gains


def instance_flicker(frames: Frames, instance: Frames, ids: list[int], amplitude: float, seed: int = 0) -> torch.Tensor:
    """Flickering frames (T, C, H, W) float32: every instance of ``ids`` (segmentation
    ``instance`` (T, H, W)) gets its own colour gains per frame."""
    frames = as_float_frames(frames)
    T, channels = frames.shape[:2]
    instance = torch.as_tensor(instance).long()
    draws = np.random.default_rng(seed).uniform(-1, 1, (len(ids), T, channels))
    gains = torch.ones(T, channels, *frames.shape[2:])
    for k, draw in zip(ids, torch.from_numpy(draws).float()):
        mask = (instance == k)[:, None]
        gains = torch.where(mask, 1.0 + amplitude * draw[:, :, None, None], gains)
    return (frames * gains).clamp(0, 1)
