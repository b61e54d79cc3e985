"""The two frame layouts the metrics accept, converted once at their boundary.

- in-code frames (docs/design.md): float ``(T, C, H, W)`` in [0, 1], numpy array or torch tensor;
- decoded video: uint8 ``(T, H, W, C)``, as :func:`worldgen.io.video.read_video` returns it.

The dtype tells them apart. uint8 levels and [0, 1] values are related as in
:func:`worldgen.io.video.write_video`: ``level = floor(255 * clip(x, 0, 1) + 0.5)``. The
conversions go through numpy, several times faster than torch's for these strided copies."""

from __future__ import annotations

import numpy as np
import torch

from worldgen.io.video import to_uint8

Frames = np.ndarray | torch.Tensor


def _array(frames: Frames) -> np.ndarray:
    array = frames.numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    if array.ndim != 4:
        raise ValueError(f"frames must be 4-D, (T, C, H, W) float or (T, H, W, C) uint8, got shape {array.shape}")
    return array


def as_float_frames(frames: Frames) -> torch.Tensor:
    """float32 ``(T, C, H, W)`` in [0, 1] from either layout."""
    array = _array(frames)
    if array.dtype == np.uint8:
        return torch.from_numpy(array.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255))
    return torch.as_tensor(array, dtype=torch.float32)


def as_uint8_frames(frames: Frames) -> np.ndarray:
    """uint8 ``(T, H, W, C)`` levels (the video layout) from either layout, floats rounded
    as the video writer rounds them."""
    array = _array(frames)
    if array.dtype == np.uint8:
        return array
    return to_uint8(array.transpose(0, 2, 3, 1))


def pair_mask(occluded: Frames | None, count: int, height: int, width: int) -> torch.Tensor:
    """float32 ``(count, H, W)`` visibility (1 = the pixel has a correspondence in the next
    frame) of the first ``count`` frames of an occlusion mask ``(T, H, W)`` (True =
    occluded); all ones when ``occluded`` is None."""
    if occluded is None:
        return torch.ones(count, height, width)
    return torch.from_numpy(~_bool(occluded)[:count]).float()


def _bool(mask: Frames) -> np.ndarray:
    return (mask.numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)).astype(bool)
