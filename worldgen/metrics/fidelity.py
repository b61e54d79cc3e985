"""Fidelity to a reference clip (e.g. the clean render): PSNR and SSIM per frame, through
scikit-image's implementations (``skimage.metrics``) rather than our own.

For frames V_t and reference R_t in [0, 1] (data range 1)::

    PSNR_t = 10 log10(1 / mean_{i,c} (V_t(i, c) - R_t(i, c))^2)      dB, inf where identical
    SSIM_t = structural similarity of Wang et al. (IEEE TIP 2004), averaged over channels,
             with their settings: 11x11 Gaussian window, sigma 1.5, population covariance

The clip's figures are the means over frames."""

from __future__ import annotations

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from worldgen.metrics.frames import Frames, as_float_frames


def _pairs(frames: Frames, reference: Frames) -> tuple[np.ndarray, np.ndarray]:
    frames, reference = as_float_frames(frames).numpy(), as_float_frames(reference).numpy()
    if frames.shape != reference.shape:
        raise ValueError(f"frames {frames.shape} and reference {reference.shape} differ in shape")
    return frames, reference  # float32: scikit-image keeps it (twice as fast as float64; PSNR sums in float64)


def psnr(frames: Frames, reference: Frames) -> np.ndarray:
    """PSNR_t (T,), dB. frames and reference: (T, C, H, W) float in [0, 1] or (T, H, W, C) uint8."""
    frames, reference = _pairs(frames, reference)
    with np.errstate(divide="ignore"):
        return np.array([peak_signal_noise_ratio(r, f, data_range=1.0) for f, r in zip(frames, reference)])


def ssim(frames: Frames, reference: Frames) -> np.ndarray:
    """SSIM_t (T,) in [-1, 1]. Frames must be at least 11 pixels on each side."""
    frames, reference = _pairs(frames, reference)
    return np.array([
        structural_similarity(r, f, data_range=1.0, channel_axis=0, gaussian_weights=True, sigma=1.5,
                              use_sample_covariance=False)
        for f, r in zip(frames, reference)
    ])
