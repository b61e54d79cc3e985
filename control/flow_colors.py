"""Optical flow colouring with the Middlebury colour wheel (Baker et al., ICCV 2007).

Same wheel and formula as Scharstein's C++ ``flowToColor``, ``flow_vis`` and
``torchvision.utils.flow_to_image``: 55 hues (RY=15, YG=6, GC=4, CB=11, BM=13, MR=6),
angle ``atan2(-v, -u) / pi`` mapped onto wheel positions [0, 54], linear interpolation
between neighbouring entries, then saturation by magnitude: ``1 - r * (1 - colour)`` for
normalised magnitude r <= 1 (zero flow = white), ``0.75 * colour`` beyond (only possible
with an explicit ``max_magnitude``). Flow pointing right is red, down is yellow, left is
cyan-blue, up is violet (image axes: u right, v down).
"""

from __future__ import annotations

import numpy as np


def _make_colorwheel() -> np.ndarray:
    """(55, 3) Middlebury colour wheel in [0, 255]."""
    # Each segment: (length, channel held at 255, channel ramped, ramp up (else down)).
    segments = [(15, 0, 1, True), (6, 1, 0, False), (4, 1, 2, True), (11, 2, 1, False), (13, 2, 0, True), (6, 0, 2, False)]
    rows = []
    for length, full, ramped, up in segments:
        ramp = np.floor(255.0 * np.arange(length) / length)
        block = np.zeros((length, 3))
        block[:, full] = 255.0
        block[:, ramped] = ramp if up else 255.0 - ramp
        rows.append(block)
    return np.concatenate(rows)


COLORWHEEL = _make_colorwheel()
COLORWHEEL.flags.writeable = False


def flow_to_color(flow: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """Colour (T, 2, H, W) flow in pixels (u right, v down) -> float32 (T, 3, H, W) in [0, 1].

    Magnitudes are divided by ``max_magnitude`` (pixels) if given, else by the largest
    finite magnitude over the WHOLE clip, so colours are comparable from frame to frame.
    Non-finite flow (NaN/inf, e.g. invalid pixels) is coloured 0 (black).
    """
    flow = np.asarray(flow, dtype=np.float32)
    if flow.ndim != 4 or flow.shape[1] != 2:
        raise ValueError(f"flow must be (T, 2, H, W), got {flow.shape}")
    valid = np.isfinite(flow[:, 0]) & np.isfinite(flow[:, 1])
    u = np.where(valid, flow[:, 0], np.float32(0))
    v = np.where(valid, flow[:, 1], np.float32(0))
    magnitude = np.hypot(u, v)
    if max_magnitude is None:
        max_magnitude = float(magnitude.max(initial=0.0))
    elif max_magnitude <= 0:
        raise ValueError(f"max_magnitude must be > 0, got {max_magnitude}")
    radius = magnitude / np.float32(max_magnitude + np.finfo(np.float32).eps)

    ncols = len(COLORWHEEL)
    position = (np.arctan2(-v, -u) / np.float32(np.pi) + 1.0) / 2.0 * (ncols - 1)
    k0 = np.floor(position).astype(np.intp)
    k1 = (k0 + 1) % ncols
    f = position - k0
    out = np.empty((flow.shape[0], 3) + flow.shape[2:], dtype=np.float32)
    for c in range(3):
        wheel = COLORWHEEL[:, c].astype(np.float32) / 255.0
        colour = (1.0 - f) * wheel[k0] + f * wheel[k1]
        colour = np.where(radius <= 1.0, 1.0 - radius * (1.0 - colour), 0.75 * colour)
        out[:, c] = np.where(valid, colour, 0.0)
    return out
