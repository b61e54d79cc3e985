"""Shared test material: a clip whose exact flow is known without rendering."""

from __future__ import annotations

import numpy as np
import pytest

from control.flow import Flow


def make_translating_clip(frames: int = 6, height: int = 32, width: int = 40, shift: int = 2,
                          seed: int = 0) -> tuple[np.ndarray, Flow]:
    """A random texture sliding left by ``shift`` whole pixels per frame, float32
    (T, 3, H, W) in [0.2, 0.8], with its exact flow: forward (-shift, 0), backward
    (+shift, 0); the columns that leave the image are occluded."""
    strip = np.random.default_rng(seed).uniform(0.2, 0.8, (3, height, width + shift * (frames - 1))).astype(np.float32)
    clip = np.stack([strip[:, :, shift * t: shift * t + width] for t in range(frames)])
    forward = np.zeros((frames, 2, height, width), np.float32)
    forward[:, 0] = -shift
    backward = -forward
    forward_occluded = np.zeros((frames, height, width), bool)
    forward_occluded[:, :, :shift] = True
    forward_occluded[-1] = True
    backward_occluded = np.zeros_like(forward_occluded)
    backward_occluded[:, :, width - shift:] = True
    backward_occluded[0] = True
    return clip, Flow(forward, backward, forward_occluded, backward_occluded)


@pytest.fixture
def translating_clip():
    """:func:`make_translating_clip` (call it with the sizes a test needs)."""
    return make_translating_clip
