"""Camera models of a scene: pinhole intrinsics and per-frame extrinsics.

Conventions (docs/design.md): intrinsics ``K`` (3, 3) in pixels with square pixels and the
principal point at the image centre (pixel (u, v) covers [u, u+1) x [v, v+1)); extrinsics
(4, 4) world -> camera in the OpenCV convention (x right, y down, z forward)."""

from __future__ import annotations

import numpy as np

from worldgen.scene.animation import dolly_position, keyframe_track, orbit_position
from worldgen.scene.rotations import look_at_rotation, rotation_matrix
from worldgen.scene.schema import CameraSpec


def intrinsics(camera: CameraSpec) -> np.ndarray:
    """(3, 3) pinhole matrix from the vertical field of view and the resolution."""
    width, height = camera.resolution
    focal = 0.5 * height / np.tan(np.radians(camera.fov) / 2)
    return np.array([[focal, 0.0, width / 2], [0.0, focal, height / 2], [0.0, 0.0, 1.0]])


def camera_positions(camera: CameraSpec, times: np.ndarray, clip_end: float) -> np.ndarray:
    """(T, 3) camera centres in the world at ``times`` (T,) seconds."""
    times = np.asarray(times, dtype=float)
    if camera.orbit is not None:
        return orbit_position(camera.orbit, times)
    if camera.dolly is not None:
        return dolly_position(camera.position, camera.dolly, times, clip_end)
    if camera.keyframes is not None:
        track = keyframe_track(camera.keyframes, "position", times)
        if track is not None:
            return track
    return np.broadcast_to(np.asarray(camera.position, dtype=float), (len(times), 3)).copy()


def extrinsics(camera: CameraSpec, times: np.ndarray, clip_end: float) -> np.ndarray:
    """(T, 4, 4) world -> camera transforms at ``times`` (T,) seconds."""
    times = np.asarray(times, dtype=float)
    positions = camera_positions(camera, times, clip_end)
    targets = None
    if camera.keyframes is not None:
        targets = keyframe_track(camera.keyframes, "look_at", times)
    if targets is None:
        targets = np.broadcast_to(np.asarray(camera.look_at, dtype=float), positions.shape)
    out = np.tile(np.eye(4), (len(times), 1, 1))
    for i, (position, target) in enumerate(zip(positions, targets)):
        if camera.quaternion is not None:
            rotation = rotation_matrix(camera.quaternion).T  # given camera -> world
        else:
            rotation = look_at_rotation(position, target, camera.up)
        out[i, :3, :3] = rotation
        out[i, :3, 3] = -rotation @ position
    return out


def project(points: np.ndarray, K: np.ndarray, world_to_camera: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project (N, 3) world points: returns (N, 2) pixel coordinates and (N,) z-depth (m;
    <= 0 means behind the camera)."""
    cam = points @ world_to_camera[:3, :3].T + world_to_camera[:3, 3]
    depth = cam[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        pixels = (cam @ K.T)[:, :2] / depth[:, None]
    return pixels, depth


def pixel_rays(width: int, height: int, K: np.ndarray) -> np.ndarray:
    """(H, W, 3) camera-frame rays through the pixel centres, scaled to z = 1."""
    v, u = np.mgrid[0:height, 0:width] + 0.5
    return np.stack([u, v, np.ones_like(u)], axis=-1) @ np.linalg.inv(K).T


def backproject(depth: np.ndarray, K: np.ndarray, world_to_camera: np.ndarray) -> np.ndarray:
    """(H, W, 3) world points seen at the pixel centres at z-depth ``depth`` (H, W) m;
    0 where depth is 0 (no hit)."""
    height, width = depth.shape
    camera_points = pixel_rays(width, height, K) * depth[..., None]
    rotation, translation = world_to_camera[:3, :3], world_to_camera[:3, 3]
    world = (camera_points - translation) @ rotation  # R^T (x - t)
    return np.where(depth[..., None] > 0, world, 0.0).astype(np.float32)
