"""The stacked control tensor that the diffusion renderer consumes.

Channel layout of ``stack_controls`` (T, 13, H, W) float32, every channel in [0, 1] except
flow:

====  ==================  ==========================================================
 ch   name                meaning
====  ==================  ==========================================================
 0    depth               ControlNet depth map (inverse depth, clip-normalised, near = 1)
 1-3  skeleton_r/g/b      OpenPose skeleton map (limb and joint colours on black)
 4-6  segmentation_r/g/b  instance palette colours (0 = background)
 7-9  normal_r/g/b        normal map, camera frame, (1 - n) / 2 (``control.normal_map``)
 10   flow_x              forward flow t -> t+1, x, in units of the image width
 11   flow_y              forward flow t -> t+1, y, in units of the image height
 12   occlusion           1 where the forward flow has no valid target
====  ==================  ==========================================================

The renderer takes this as a plain tensor and does not import ``control``; the names are
recorded next to the tensor on disk (``CONTROL_CHANNELS``).
"""

from __future__ import annotations

import numpy as np

CONTROL_CHANNELS: tuple[str, ...] = (
    "depth", "skeleton_r", "skeleton_g", "skeleton_b", "segmentation_r", "segmentation_g", "segmentation_b",
    "normal_r", "normal_g", "normal_b", "flow_x", "flow_y", "occlusion",
)


def stack_controls(depth_map: np.ndarray, skeleton_map: np.ndarray, segmentation_map: np.ndarray,
                   normal_map: np.ndarray, forward_flow: np.ndarray, forward_occluded: np.ndarray) -> np.ndarray:
    """(T, 13, H, W) float32 in the layout above. Maps (T, 3, H, W) in [0, 1] (the depth
    map's channels are identical; one is kept); forward_flow (T, 2, H, W) pixels;
    forward_occluded (T, H, W) bool."""
    height, width = depth_map.shape[-2:]
    flow = forward_flow / np.array([width, height], dtype=np.float32)[None, :, None, None]
    return np.concatenate([
        depth_map[:, :1], skeleton_map, segmentation_map, normal_map, flow,
        forward_occluded[:, None].astype(np.float32),
    ], axis=1).astype(np.float32)
