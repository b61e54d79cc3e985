"""Temporal-consistency metrics: exact where the flow comes from the simulated state.

Frames are ``(T, C, H, W)`` float in [0, 1] (numpy or torch) or decoded ``(T, H, W, C)``
uint8; flow is forward flow in pixels, ``(T, 2, H, W)``, with occlusion ``(T, H, W)``
(True = no correspondence), as ``control.flow`` makes them. Each module states its formulas:

- :mod:`~worldgen.metrics.warping`: flow-warping error E_warp (Lai et al. 2018) and temporal
  variance (% of range);
- :mod:`~worldgen.metrics.flicker`: VBench temporal flickering, mean inter-frame difference
  and the flicker-source rule of thumb;
- :mod:`~worldgen.metrics.drift`: drift from frame 0 along the composed flow, per-instance
  colour drift and its slope against a reference's;
- :mod:`~worldgen.metrics.fidelity`: PSNR and SSIM against a reference (scikit-image);
- :mod:`~worldgen.metrics.seams`: warping error at chunk boundaries over inside chunks."""

from worldgen.metrics.drift import (
    ComposedDrift,
    DriftSlopes,
    InstanceColors,
    color_drift_slopes,
    composed_drift,
    instance_color_drift,
    slope_agreement,
)
from worldgen.metrics.fidelity import psnr, ssim
from worldgen.metrics.flicker import (
    GENERATOR_FLICKER_LEVELS,
    flicker_source,
    frame_differences,
    mean_frame_difference,
    vbench_score,
    vbench_temporal_flickering,
)
from worldgen.metrics.seams import seam_score, seam_score_at
from worldgen.metrics.warping import WarpErrors, warping_errors

__all__ = [
    "ComposedDrift", "DriftSlopes", "GENERATOR_FLICKER_LEVELS", "InstanceColors", "WarpErrors", "color_drift_slopes",
    "composed_drift", "flicker_source", "frame_differences", "instance_color_drift", "mean_frame_difference", "psnr",
    "seam_score", "seam_score_at", "slope_agreement", "ssim",
    "vbench_score", "vbench_temporal_flickering", "warping_errors",
]
