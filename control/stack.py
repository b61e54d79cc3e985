"""The stacked control tensor that the diffusion renderer consumes: how it is built from
rendered buffers, stored on disk and read back.

Channel layout of the stack, (T, 13, H, W) float32, every channel in [0, 1] except flow:

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

On disk (``controls.npz``, the same in a ``worldgen render`` folder and in a dataset
episode): ``maps`` (T, 10, H, W) uint8, channels 0-9 as image levels (the maps are images,
and uint8 is what their videos and pose/depth ControlNets use); ``flow`` (T, 2, H, W)
float16, channels 10-11; ``occlusion`` (T, H, W) bool, channel 12; ``channels`` the 13
names. :func:`read_controls` turns it back into the float32 stack.

The renderer takes the stack as a plain tensor with its channel names and does not import
``control``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from control.depth_map import depth_map
from control.flow import Flow
from control.normal_map import normal_map
from control.segmentation_map import segmentation_map
from control.skeleton_map import skeleton_maps
from worldgen.io.video import to_uint8

CONTROL_CHANNELS: tuple[str, ...] = (
    "depth", "skeleton_r", "skeleton_g", "skeleton_b", "segmentation_r", "segmentation_g", "segmentation_b",
    "normal_r", "normal_g", "normal_b", "flow_x", "flow_y", "occlusion",
)
MAP_CHANNELS = 10  # channels 0-9 are image-like maps, stored as uint8


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


@dataclass
class ControlMaps:
    """The control maps of a clip: ``depth``, ``skeleton``, ``segmentation``, ``normal``
    (T, 3, H, W) float32 in [0, 1]; ``forward_flow`` (T, 2, H, W) pixels;
    ``forward_occluded`` (T, H, W) bool."""

    depth: np.ndarray
    skeleton: np.ndarray
    segmentation: np.ndarray
    normal: np.ndarray
    forward_flow: np.ndarray
    forward_occluded: np.ndarray

    def stack(self) -> np.ndarray:
        """The (T, 13, H, W) float32 control stack."""
        return stack_controls(self.depth, self.skeleton, self.segmentation, self.normal, self.forward_flow,
                              self.forward_occluded)

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays of ``controls.npz`` (module docstring)."""
        stack = self.stack()
        return {"maps": to_uint8(stack[:, :MAP_CHANNELS]), "flow": stack[:, MAP_CHANNELS:12].astype(np.float16),
                "occlusion": self.forward_occluded.astype(bool), "channels": np.array(CONTROL_CHANNELS)}


def control_maps(depth: np.ndarray, instance: np.ndarray, normal: np.ndarray, keypoints: np.ndarray,
                 K: np.ndarray, world_to_camera: np.ndarray, flow: Flow) -> ControlMaps:
    """The one way from rendered buffers to control maps. ``depth`` (T, H, W) metric
    z-depth, m (0 = no hit); ``instance`` (T, H, W) ids; ``normal`` (T, 3, H, W) world-frame
    normals; ``keypoints`` (T, P, 18, 3) world m (COCO-18); ``K`` (3, 3) pixels;
    ``world_to_camera`` (T, 4, 4) OpenCV; ``flow`` the clip's exact flow."""
    height, width = depth.shape[-2:]
    return ControlMaps(
        depth=depth_map(depth), skeleton=skeleton_maps(keypoints, K, world_to_camera, width, height),
        segmentation=segmentation_map(instance), normal=normal_map(normal, world_to_camera),
        forward_flow=flow.forward, forward_occluded=flow.forward_occluded,
    )


def read_controls(source: str | Path | dict[str, np.ndarray]) -> tuple[np.ndarray, tuple[str, ...]]:
    """(stack (T, 13, H, W) float32, channel names) of a ``controls.npz`` file or of its
    arrays; a ValueError naming what is wrong when it is not in the layout above."""
    if isinstance(source, dict):
        arrays = source
    else:
        with np.load(source, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    missing = [name for name in ("maps", "flow", "occlusion", "channels") if name not in arrays]
    if missing:
        raise ValueError(f"controls: missing {', '.join(missing)}; expected maps, flow, occlusion and channels "
                         "(control/stack.py)")
    maps, flow, occlusion = arrays["maps"], arrays["flow"], arrays["occlusion"]
    channels = tuple(str(c) for c in arrays["channels"])
    frames, height, width = occlusion.shape
    if (channels != CONTROL_CHANNELS or maps.dtype != np.uint8 or maps.shape != (frames, MAP_CHANNELS, height, width)
            or flow.shape != (frames, 2, height, width)):
        raise ValueError(f"controls: maps {maps.shape} {maps.dtype}, flow {flow.shape}, occlusion {occlusion.shape} and "
                         f"{len(channels)} channel names do not follow the layout of control/stack.py")
    stack = np.concatenate([maps.astype(np.float32) / np.float32(255), flow.astype(np.float32),
                            occlusion[:, None].astype(np.float32)], axis=1)
    return stack, channels
