"""A motion-compensated temporal filter against flicker.

Each frame is averaged with its ``radius`` neighbours on each side, every neighbour warped
onto it along the composed flow (forward flow for later frames, backward flow for earlier
ones) and counted only on pixels that stay visible all the way (occlusion masks,
:func:`control.flow.follow_flow`)::

    O_t(i) = (V_t(i) + sum_{0 < |k| <= r} a_{t,k}(i) V_{t+k}(x_{t,k}(i))) / (1 + sum_k a_{t,k}(i))

with x_{t,k}(i) where pixel i of frame t is in frame t+k and a_{t,k}(i) = 1 while it is
tracked, else 0. Uncorrelated flicker of any region shrinks by about the number of frames
averaged; a real change of lighting is smoothed over the same window. With exact flow from a
worldgen render, only what the renderer changed between frames is averaged away."""

from __future__ import annotations

import torch

from control.flow import backward_warp, follow_flow
from worldgen.metrics.frames import Frames, as_float_frames, pair_mask


def flow_deflicker(frames: Frames, forward: Frames, backward: Frames, forward_occluded: Frames | None = None,
                   backward_occluded: Frames | None = None, radius: int = 3) -> torch.Tensor:
    """The motion-compensated filter (module docstring). frames (T, C, H, W) float in [0, 1]
    or (T, H, W, C) uint8; forward / backward flow (T, 2, H, W) pixels, entry t maps frame t
    to t+1 / t-1; occlusion masks (T, H, W), True = no correspondence (None: all visible).
    Returns float32 (T, C, H, W) in [0, 1]."""
    if radius < 1:
        raise ValueError(f"radius must be at least 1 frame, got {radius}")
    frames = as_float_frames(frames)
    T, _, height, width = frames.shape
    total, weight = frames.clone(), torch.ones(T, 1, height, width)
    later = _neighbours(frames, torch.as_tensor(forward, dtype=torch.float32),
                        pair_mask(forward_occluded, T, height, width), radius)
    earlier = _neighbours(frames.flip(0), torch.as_tensor(backward, dtype=torch.float32).flip(0),
                          pair_mask(backward_occluded, T, height, width).flip(0), radius)
    for warped, alive in later:
        total += warped * alive
        weight += alive
    for warped, alive in earlier:
        total += (warped * alive).flip(0)
        weight += alive.flip(0)
    return total / weight


def _neighbours(frames: torch.Tensor, flow: torch.Tensor, visible: torch.Tensor, radius: int):
    """For k = 1 .. radius: (frame t+k warped onto frame t, alive (T, 1, H, W)), following
    ``flow`` (entry t maps t to t+1) from every frame at once; alive is 0 for t + k >= T."""
    T = frames.shape[0]
    offset = torch.zeros_like(flow)
    alive = torch.ones(T, 1, *frames.shape[2:])
    for k in range(1, radius + 1):
        if k >= T:
            return
        # Point of frame t is now in frame t+k-1: step with that frame's flow and visibility.
        step = torch.arange(T).clamp(max=T - 1 - k) + k - 1
        offset, alive = follow_flow(offset, alive, flow[step], visible[step, None])
        alive[T - k:] = 0.0
        yield backward_warp(frames[(torch.arange(T) + k).clamp(max=T - 1)], offset), alive
