"""Normal control map in the convention of ControlNet 1.1's normalbae model.

ControlNet's ``normalbae`` annotator writes ``(n + 1) / 2`` of the normals predicted by
Bae et al.'s estimator (ScanNet protocol). Those normals equal the NEGATED outward normal
in the OpenCV camera frame (x right, y down, z forward) -- derivable from DSINE's
depth-to-normal code, and the reason Metric3D's OpenCV-frame normals are converted with
``255 - map``. So, with ``n`` the outward unit normal in the OpenCV camera frame:

    R = (1 - n_x) / 2    bright where the surface faces image LEFT
    G = (1 - n_y) / 2    bright where it faces image UP
    B = (1 - n_z) / 2    bright where it faces the camera

A surface facing the camera is (0.5, 0.5, 1.0) (the usual lavender-blue); the floor seen
from a level camera is (0.5, 1.0, 0.5). ControlNet 1.0's midas normal map (Sobel of
inverse depth) follows the same R/G directions.
"""

from __future__ import annotations

import numpy as np


def normal_map(normals_world: np.ndarray, world_to_camera: np.ndarray) -> np.ndarray:
    """Colour world-frame normals as seen by a (possibly moving) camera.

    ``normals_world``: (T, 3, H, W) outward unit normals in the world frame, 0 where no hit.
    ``world_to_camera``: (T, 4, 4) OpenCV extrinsics (only the rotation is used).
    Returns float32 (T, 3, H, W) in [0, 1] as documented above; no-hit pixels are 0.
    """
    normals_world = np.asarray(normals_world, dtype=np.float32)
    world_to_camera = np.asarray(world_to_camera, dtype=np.float32)
    if normals_world.ndim != 4 or normals_world.shape[1] != 3:
        raise ValueError(f"normals_world must be (T, 3, H, W), got {normals_world.shape}")
    if world_to_camera.shape != (normals_world.shape[0], 4, 4):
        raise ValueError(f"world_to_camera must be (T, 4, 4) with T={normals_world.shape[0]}, got {world_to_camera.shape}")
    camera = np.einsum("tij,tjhw->tihw", world_to_camera[:, :3, :3], normals_world)
    hit = np.any(normals_world != 0, axis=1, keepdims=True)
    return np.where(hit, np.clip((1.0 - camera) / 2.0, 0.0, 1.0), 0.0).astype(np.float32)
