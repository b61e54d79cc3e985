"""Exact optical flow and occlusion from the state (never estimated).

For every pixel centre of frame ``s`` the surface point it sees (back-projected from the
z-depth buffer) is expressed in its instance's local frame, carried to frame ``d`` with that
instance's pose there, and projected through frame ``d``'s camera. Flow is that projection
minus the pixel centre, in pixels (x right, y down). Camera motion and humanoid links are
included because instance poses and extrinsics are per frame. Background pixels (no hit)
see infinitely far away, so only the camera's rotation moves them.

A point is occluded in ``d`` (no valid correspondence) when it projects behind the camera
or outside the image, or when its depth there disagrees with frame ``d``'s depth buffer:
inverse depth interpolated bilinearly between the four nearest pixel centres (exact on
planes, where inverse depth is affine in the image) or the nearest pixel's depth must be
within ``tolerance`` (relative) of the point's depth. A background pixel is visible when it
lands on background.

Layout: forward flow ``t -> t+1`` (T, 2, H, W), the last frame all occluded with zero flow;
backward flow ``t -> t-1``, the first frame all occluded. Occlusion masks (T, H, W) bool,
True = no valid correspondence.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from scipy.ndimage import map_coordinates

from worldgen.scene.cameras import backproject, pixel_rays

OCCLUSION_TOLERANCE = 0.01  # relative depth disagreement above which a point counts as hidden


@dataclass
class Flow:
    """Forward (t -> t+1) and backward (t -> t-1) flow, pixels, with occlusion masks."""

    forward: np.ndarray  # (T, 2, H, W) float32
    backward: np.ndarray  # (T, 2, H, W) float32
    forward_occluded: np.ndarray  # (T, H, W) bool
    backward_occluded: np.ndarray  # (T, H, W) bool


def object_coordinates(depth: np.ndarray, instance: np.ndarray, poses: np.ndarray, K: np.ndarray,
                       world_to_camera: np.ndarray) -> np.ndarray:
    """(H, W, 3) position of each pixel's surface point in its instance's local frame, m
    (0 for background). depth, instance (H, W); poses (N, 4, 4) local -> world of this frame."""
    world = backproject(depth, K, world_to_camera)
    inverse = np.linalg.inv(poses)[instance]  # (H, W, 4, 4)
    local = np.einsum("hwij,hwj->hwi", inverse[..., :3, :3], world) + inverse[..., :3, 3]
    return np.where(instance[..., None] > 0, local, 0.0)


def _sample(image: np.ndarray, x: np.ndarray, y: np.ndarray, order: int) -> np.ndarray:
    """``image`` (H, W) sampled at continuous pixel coordinates (x, y) (pixel centres at +0.5)."""
    return map_coordinates(image, [y - 0.5, x - 0.5], order=order, mode="nearest")


def correspondence(src: dict, dst: dict, K: np.ndarray, tolerance: float = OCCLUSION_TOLERANCE) -> tuple[np.ndarray, np.ndarray]:
    """Flow (2, H, W) from frame ``src`` to frame ``dst`` and its occlusion mask (H, W).

    Each frame is a dict with ``depth`` (H, W) m, ``instance`` (H, W), ``poses`` (N, 4, 4),
    ``world_to_camera`` (4, 4) and ``local`` (H, W, 3) (its ``object_coordinates``);
    K (3, 3) pixels."""
    depth, instance, local = src["depth"], src["instance"], src["local"]
    height, width = depth.shape
    hit = instance > 0
    moved = dst["poses"][instance]  # (H, W, 4, 4)
    world = np.einsum("hwij,hwj->hwi", moved[..., :3, :3], local) + moved[..., :3, 3]
    camera = world @ dst["world_to_camera"][:3, :3].T + dst["world_to_camera"][:3, 3]
    # Background: a direction, rotated by the change of camera orientation only.
    rotation = dst["world_to_camera"][:3, :3] @ src["world_to_camera"][:3, :3].T
    camera = np.where(hit[..., None], camera, pixel_rays(width, height, K) @ rotation.T)
    z = camera[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        projected = (camera @ K.T)[..., :2] / z[..., None]
    v, u = np.mgrid[0:height, 0:width] + 0.5
    flow = np.stack([projected[..., 0] - u, projected[..., 1] - v])
    x, y = projected[..., 0], projected[..., 1]
    inside = (z > 1e-6) & (x >= 0) & (x < width) & (y >= 0) & (y < height)
    x, y = np.where(inside, x, 0.5), np.where(inside, y, 0.5)

    dst_depth = dst["depth"]
    nearest_depth = _sample(dst_depth, x, y, order=0)
    all_hits = _sample((dst_depth > 0).astype(np.float32), x, y, order=1) > 1 - 1e-6
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse_depth = np.where(dst_depth > 0, 1.0 / dst_depth, 0.0)
        inverse_z = 1.0 / z
    bilinear = all_hits & (np.abs(_sample(inverse_depth, x, y, order=1) - inverse_z) <= tolerance * inverse_z)
    nearest = (nearest_depth > 0) & (np.abs(nearest_depth - z) <= tolerance * z)
    visible = np.where(hit, bilinear | nearest, nearest_depth == 0) & inside
    flow = np.where((z > 1e-6)[None], flow, 0.0)  # behind the camera: no meaningful flow
    return flow.astype(np.float32), ~visible


def exact_flow(depth: np.ndarray, instance: np.ndarray, poses: np.ndarray, K: np.ndarray,
               world_to_camera: np.ndarray, tolerance: float = OCCLUSION_TOLERANCE,
               coordinates: np.ndarray | None = None) -> Flow:
    """Forward and backward flow of a clip. depth, instance (T, H, W); poses (T, N, 4, 4)
    instance local -> world; K (3, 3); world_to_camera (T, 4, 4); ``coordinates``: the
    clip's :func:`object_coordinates` (T, H, W, 3) if the caller has them already."""
    T, height, width = depth.shape
    if coordinates is None:
        coordinates = [object_coordinates(depth[t], instance[t], poses[t], K, world_to_camera[t]) for t in range(T)]
    frames = [{"depth": depth[t], "instance": instance[t], "poses": poses[t], "world_to_camera": world_to_camera[t],
               "local": coordinates[t]} for t in range(T)]
    forward = np.zeros((T, 2, height, width), np.float32)
    backward = np.zeros_like(forward)
    forward_occluded = np.ones((T, height, width), bool)
    backward_occluded = np.ones_like(forward_occluded)
    for t in range(T - 1):
        forward[t], forward_occluded[t] = correspondence(frames[t], frames[t + 1], K, tolerance)
        backward[t + 1], backward_occluded[t + 1] = correspondence(frames[t + 1], frames[t], K, tolerance)
    return Flow(forward, backward, forward_occluded, backward_occluded)


@functools.lru_cache(maxsize=8)
def _pixel_centres(height: int, width: int) -> torch.Tensor:
    """(H, W, 2) pixel centres (x, y) in ``grid_sample``'s coordinates: with
    align_corners=False, -1 and +1 are the outer edges of the image."""
    y = (torch.arange(height, dtype=torch.float32) + 0.5) * (2.0 / height) - 1.0
    x = (torch.arange(width, dtype=torch.float32) + 0.5) * (2.0 / width) - 1.0
    return torch.stack(torch.meshgrid(x, y, indexing="xy"), dim=-1)


def backward_warp(images: torch.Tensor, flow: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Batched backward warp: ``images`` (N, C, H, W) of the target frames sampled at each
    pixel centre plus ``flow`` (N, 2, H, W) pixels (x right, y down), so the result lines up
    with the source frames. mode ``bilinear`` or ``nearest`` (for ids). Samples outside the
    image take the nearest edge. float32 tensors in, float32 out (``torch.grid_sample``)."""
    height, width = images.shape[2:]
    scale = torch.tensor([2.0 / width, 2.0 / height])
    grid = _pixel_centres(height, width) + flow.permute(0, 2, 3, 1) * scale
    return torch.nn.functional.grid_sample(images, grid, mode=mode, padding_mode="border", align_corners=False)


def follow_flow(offset: torch.Tensor, alive: torch.Tensor, flow: torch.Tensor,
                visible: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of following points through a clip by composing flows.

    Points start at the pixel centres p of some frame; at frame t they are at p + ``offset``
    (N, 2, H, W) pixels, and ``alive`` (N, 1, H, W) is 1 while they are still tracked.
    ``flow`` (N, 2, H, W) maps frame t to t+1 and ``visible`` (N, 1, H, W) is 1 where frame
    t's pixel has a correspondence in t+1. Returns the offset at frame t+1 (flow sampled
    bilinearly at the point) and the new ``alive``: still alive, visible at the point
    (nearest pixel) and landed inside the image."""
    height, width = flow.shape[2:]
    alive = alive * backward_warp(visible, offset, mode="nearest")
    offset = offset + backward_warp(flow, offset)
    x = offset[:, 0] + torch.arange(width, dtype=torch.float32) + 0.5
    y = offset[:, 1] + torch.arange(height, dtype=torch.float32)[:, None] + 0.5
    inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    return offset, alive * inside[:, None].float()


def warp(image: np.ndarray, flow: np.ndarray, order: int = 1) -> np.ndarray:
    """Backward warp of one frame (numpy face of :func:`backward_warp`): ``image`` (C, H, W)
    of the target frame sampled at each pixel centre plus ``flow`` (2, H, W), so the result
    lines up with the source frame. order 1 = bilinear, 0 = nearest (for ids). Samples
    outside the image take the nearest edge. Returns float32 (C, H, W)."""
    images = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None]
    flows = torch.from_numpy(np.ascontiguousarray(flow, dtype=np.float32))[None]
    return backward_warp(images, flows, mode="nearest" if order == 0 else "bilinear")[0].numpy()
