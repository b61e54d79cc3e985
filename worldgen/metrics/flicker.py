"""Flow-free flicker measures on the 0-255 scale: VBench's temporal-flickering score and the
mean absolute inter-frame difference, with the rule of thumb that tells flicker sources apart.

For uint8 frames f_0 .. f_{T-1} with P pixels of C channels each::

    d_t   = (1 / (P C)) sum_{i,c} |f_{t+1}(i, c) - f_t(i, c)|          t = 0 .. T-2
    MAD   = (1 / (T - 1)) sum_t d_t                                     0..255 levels
    S     = (255 - MAD) / 255                                           VBench temporal flickering

S is VBench's ``temporal_flickering`` dimension (Huang et al., "VBench: Comprehensive
Benchmark Suite for Video Generative Models", CVPR 2024; ``vbench/temporal_flickering.py``:
``cal_score`` = (255 - mean of ``calculate_mae`` over consecutive frames) / 255). It assumes
a static clip: any motion counts as flicker, so it reads 1 only for a clip that does not
change. MAD is the same quantity before normalisation; d_t is its per-frame curve.

Rule of thumb for a clip that should be stable: MAD above about 12 levels points to flicker
made by the generator; below it, flicker that shows as banding in flat regions points to the
codec's compression instead."""

from __future__ import annotations

import numpy as np

from worldgen.metrics.frames import Frames, as_uint8_frames

GENERATOR_FLICKER_LEVELS = 12.0  # MAD above this (0..255 levels): the generator flickers


def frame_differences(frames: Frames) -> np.ndarray:
    """d_t (module docstring), float64 (T-1,), in 0..255 levels. Exact: integer sums.

    frames: (T, H, W, C) uint8 or (T, C, H, W) float in [0, 1] (rounded to uint8 first)."""
    levels = as_uint8_frames(frames).astype(np.int16)
    sums = np.abs(np.diff(levels, axis=0)).sum(axis=(1, 2, 3), dtype=np.int64)
    return sums / levels[0].size


def mean_frame_difference(frames: Frames) -> float:
    """MAD: mean absolute difference of consecutive frames, 0..255 levels."""
    return float(frame_differences(frames).mean())


def vbench_score(mean_difference: float) -> float:
    """S = (255 - MAD) / 255 from MAD (0..255 levels)."""
    return (255.0 - mean_difference) / 255.0


def vbench_temporal_flickering(frames: Frames) -> float:
    """S, VBench's temporal-flickering score of ``frames``: 1 for a clip that does not change."""
    return vbench_score(mean_frame_difference(frames))


def flicker_source(mean_difference: float) -> str:
    """The rule of thumb (module docstring) applied to MAD, as one line."""
    if mean_difference > GENERATOR_FLICKER_LEVELS:
        return (f"MAD {mean_difference:.2f} > {GENERATOR_FLICKER_LEVELS:g} levels: flicker made by the generator "
                "(or real motion, if the clip is not static)")
    return (f"MAD {mean_difference:.2f} <= {GENERATOR_FLICKER_LEVELS:g} levels: no generator flicker by this rule; "
            "flicker that shows as banding in flat regions comes from the codec's compression")
