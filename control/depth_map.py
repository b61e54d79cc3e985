"""Depth control map: inverse depth, normalised over the whole clip (ControlNet convention)."""

from __future__ import annotations

import numpy as np

ONE_DEPTH = 1e-5  # hit depths whose spread is at most this fraction of the farthest are one depth


def depth_map(depth: np.ndarray, near: float | None = None, far: float | None = None) -> np.ndarray:
    """ControlNet depth map of a clip.

    ``depth``: (T, H, W) metric z-depth in metres, 0 = no hit. Returns float32 (T, 3, H, W)
    in [0, 1], three identical channels, near = bright:

        v = (1/d - 1/far) / (1/near - 1/far)

    with ``near``/``far`` (metres) defaulting to the smallest / largest hit depth over the
    WHOLE clip, so a surface at a fixed depth keeps its value in every frame (per-frame
    normalisation flickers). Pass both to share one normalisation across clips; hits outside
    [near, far] are clipped to [0, 1]. No-hit pixels are 0 (black), as is a hit at ``far``.
    A clip whose hits all lie at one depth maps them to 1; a clip with no hit is all 0. "One
    depth" allows the renderer's float32 rounding (a plane facing the camera comes back as
    1.9999999 .. 2.0): a spread of at most ``ONE_DEPTH`` of ``far``, which min-max
    normalisation would otherwise stretch into noise over [0, 1], mostly black.
    """
    depth = np.asarray(depth, dtype=np.float32)
    if depth.ndim != 3:
        raise ValueError(f"depth must be (T, H, W), got shape {depth.shape}")
    hit = depth > 0
    out = np.zeros(depth.shape, dtype=np.float32)
    if hit.any():
        near = float(depth[hit].min()) if near is None else float(near)
        far = float(depth[hit].max()) if far is None else float(far)
        if not 0 < near <= far:
            raise ValueError(f"need 0 < near <= far, got near={near}, far={far}")
        inverse = 1.0 / depth[hit]
        if far - near <= ONE_DEPTH * far:
            out[hit] = 1.0
        else:
            out[hit] = np.clip((inverse - 1.0 / far) / (1.0 / near - 1.0 / far), 0.0, 1.0)
    return np.repeat(out[:, None], 3, axis=1)
