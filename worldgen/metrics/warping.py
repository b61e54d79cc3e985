"""Flow-warping error and temporal variance: how much each pixel changes from one frame to
the next beyond what motion explains.

For each consecutive pair (t, t+1), frame t+1 is warped back onto frame t with the forward
flow F_t (t -> t+1, pixels) and compared on the non-occluded pixels M_t (1 = frame t's
pixel has a correspondence in frame t+1)::

    D_t   = warp(V_{t+1}, F_t) - V_t                                   images in [0, 1]
    E_t   = sum_{i,c} M_t(i) D_t(i, c)^2   / (C sum_i M_t(i))          warping error
    TV_t  = 100 sum_{i,c} M_t(i) |D_t(i, c)| / (C sum_i M_t(i))        temporal variance, %

E_t is the warping error of Lai et al., "Learning Blind Video Temporal Consistency" (ECCV
2018), averaged over the pairs: E_warp = mean_t E_t. The paper writes the squared colour
norm per pixel; its evaluation code (``evaluate_WarpError.py``) divides by the number of
non-occluded pixel *channels*, which is what its published figures use and what E_t does.
Lai et al. estimate F and M with FlowNet2 and a forward-backward check; here they come
exactly from the simulated state (or from a user's flow file). As in that code, a pair
with no visible pixel scores 0.
TV_t is the same comparison in absolute terms, as a percentage of the value range; the
published rule of thumb is that good generators stay below 1.2 %."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from control.flow import backward_warp
from worldgen.metrics.frames import Frames, as_float_frames, pair_mask

BATCH = 8  # frame pairs warped at once: small enough to stay in cache (about 2x faster at 128^2)


@dataclass
class WarpErrors:
    """Per consecutive pair t = 0 .. T-2 (each a float64 array (T-1,))."""

    warp_error: np.ndarray  # E_t, squared difference of [0, 1] values
    temporal_variance: np.ndarray  # TV_t, percent of the value range
    visible: np.ndarray  # fraction of frame t's pixels with a correspondence in t+1

    @property
    def mean_warp_error(self) -> float:
        """E_warp of the clip: mean over pairs of E_t."""
        return float(self.warp_error.mean())

    @property
    def mean_temporal_variance(self) -> float:
        """Mean over pairs of TV_t, percent."""
        return float(self.temporal_variance.mean())


def warping_errors(frames: Frames, flow: Frames, occluded: Frames | None = None) -> WarpErrors:
    """E_t and TV_t (module docstring) of a clip.

    frames: (T, C, H, W) float in [0, 1] or (T, H, W, C) uint8; flow: forward flow
    (T or T-1, 2, H, W) pixels, entry t maps frame t to t+1; occluded: (T or T-1, H, W)
    bool, True = no correspondence (None: every pixel visible)."""
    frames = as_float_frames(frames)
    count, channels, height, width = frames.shape[0] - 1, frames.shape[1], frames.shape[2], frames.shape[3]
    flow = torch.as_tensor(flow, dtype=torch.float32)[:count]
    mask = pair_mask(occluded, count, height, width)[:, None]
    squared = torch.zeros(count, dtype=torch.float64)
    absolute = torch.zeros(count, dtype=torch.float64)
    for start in range(0, count, BATCH):
        pairs = slice(start, min(start + BATCH, count))
        difference = (backward_warp(frames[pairs.start + 1:pairs.stop + 1], flow[pairs]) - frames[pairs]) * mask[pairs]
        difference = difference.flatten(1)
        squared[pairs] = difference.square().sum(dim=1).double()
        absolute[pairs] = difference.abs().sum(dim=1).double()
    visible = mask.sum(dim=(1, 2, 3)).double()
    denominator = torch.where(visible > 0, visible * channels, float(channels * height * width))
    return WarpErrors((squared / denominator).numpy(), (100.0 * absolute / denominator).numpy(),
                      (visible / (height * width)).numpy())
