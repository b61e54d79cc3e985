"""Segmentation control map: instance ids painted with a fixed palette.

``PALETTE`` (256, 3) float32 RGB in [0, 1], generated deterministically at import: id 0
(background) is black, id 1 (floor) is neutral grey, ids 2.. are saturated colours whose
hue advances by the golden ratio conjugate (so consecutive ids are far apart on the hue
circle) and whose value cycles through 1.0, 0.8, 0.62 (so ids with close hues still differ).
"""

from __future__ import annotations

import numpy as np

PALETTE_SIZE = 256
_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(N,) hue, saturation, value in [0, 1] -> (N, 3) RGB in [0, 1]."""
    k = np.array([5.0, 3.0, 1.0])[None, :] + 6.0 * h[:, None]
    k = np.mod(k, 6.0)
    return v[:, None] - v[:, None] * s[:, None] * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def _make_palette() -> np.ndarray:
    ids = np.arange(PALETTE_SIZE - 2)
    hue = np.mod(ids * _GOLDEN, 1.0)
    saturation = np.full(ids.shape, 0.9)
    value = np.array([1.0, 0.8, 0.62])[ids % 3]
    colours = _hsv_to_rgb(hue, saturation, value)
    fixed = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]])
    return np.concatenate([fixed, colours]).astype(np.float32)


PALETTE = _make_palette()
PALETTE.flags.writeable = False


def segmentation_map(instance: np.ndarray) -> np.ndarray:
    """Colour (T, H, W) non-negative integer instance ids -> float32 (T, 3, H, W) in [0, 1].

    Same id -> same colour in every frame and every call. Ids >= 256 wrap onto the
    object colours, ``2 + (id - 2) % 254``, never onto black (background) or grey (floor).
    """
    instance = np.asarray(instance)
    if instance.ndim != 3 or not np.issubdtype(instance.dtype, np.integer):
        raise ValueError(f"instance must be an integer (T, H, W) array, got {instance.dtype} {instance.shape}")
    if instance.size and instance.min() < 0:
        raise ValueError("instance ids must be >= 0")
    index = np.where(instance < PALETTE_SIZE, instance, 2 + (instance - 2) % (PALETTE_SIZE - 2))
    return np.ascontiguousarray(PALETTE[index].transpose(0, 3, 1, 2))
