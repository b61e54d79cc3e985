"""Rendering a trajectory through one camera with the mitsuba reference renderer.

Output follows docs/design.md: images (T, C, H, W) float32 in [0, 1]; metric z-depth (T, H, W)
with 0 where no instance is hit; instance ids per ``simulation.instances``; intrinsics
(3, 3) and per-frame OpenCV world -> camera extrinsics (T, 4, 4)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from renderer.pbr.meshes import scene_meshes
from renderer.pbr.mitsuba_scene import MitsubaScene
from renderer.pbr.variant import select_variant
from simulation.instances import InstanceTable, instance_poses
from simulation.state import Trajectory
from worldgen.scene.cameras import backproject, extrinsics, intrinsics
from worldgen.scene.schema import CameraSpec


@dataclass(frozen=True)
class RenderSettings:
    """spp: samples per pixel of the RGB pass; max_depth: path length (bounces + 1);
    variant: mitsuba variant or ``auto``; exposure: linear gain before sRGB encoding;
    rgb: False renders the buffers only; animate_seed: a new sampling seed every frame
    (independent noise per frame) instead of the same one (noise that stays put where
    nothing changes, Blender's default)."""

    spp: int = 8
    max_depth: int = 5
    variant: str = "auto"
    exposure: float = 1.0
    rgb: bool = True
    animate_seed: bool = False


@dataclass
class RenderedClip:
    """Frames ``frames`` of a trajectory seen by one camera.

    rgb (T, 3, H, W) sRGB-encoded in [0, 1] (None for a buffers-only pass); depth (T, H, W)
    metric z-depth, m; normal (T, 3, H, W) unit world-frame shading normals; position
    (T, 3, H, W) world hit points, m; instance (T, H, W) int32; all 0 where nothing is hit.
    K (3, 3) pixels; world_to_camera (T, 4, 4); poses (T, N, 4, 4) local -> world of every
    instance (what the exact flow needs); keypoints (T, H_humanoids, 18, 3) world m."""

    frames: np.ndarray
    times: np.ndarray
    rgb: np.ndarray | None
    depth: np.ndarray
    normal: np.ndarray
    position: np.ndarray
    instance: np.ndarray
    K: np.ndarray
    world_to_camera: np.ndarray
    poses: np.ndarray
    keypoints: np.ndarray
    instances: InstanceTable
    camera: str = "camera"
    variant: str = field(default="scalar_rgb")

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.depth.shape[2]), int(self.depth.shape[1])


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """sRGB transfer curve of linear values, clipped to [0, 1] first."""
    x = np.clip(linear, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055).astype(np.float32)


def render_trajectory(trajectory: Trajectory, camera: CameraSpec, settings: RenderSettings = RenderSettings(),
                      frames: np.ndarray | None = None, progress: bool = False) -> RenderedClip:
    """Render ``frames`` (indices into the trajectory, default all) through ``camera``
    (its resolution and field of view). The mitsuba scene is built once and re-posed per frame."""
    variant = select_variant(settings.variant)
    frames = np.arange(len(trajectory)) if frames is None else np.asarray(frames)
    states = trajectory.states[frames]
    table = InstanceTable.of(trajectory)
    poses = instance_poses(table, states)
    width, height = camera.resolution
    K = intrinsics(camera)
    world_to_camera = extrinsics(camera, states.time, float(trajectory.states.time[-1]))
    scene = MitsubaScene(scene_meshes(trajectory, table), trajectory.lights, width, height, camera.fov, settings.max_depth)

    T = len(frames)
    rgb = np.zeros((T, 3, height, width), np.float32) if settings.rgb else None
    depth = np.zeros((T, height, width), np.float32)
    normal = np.zeros((T, 3, height, width), np.float32)
    position = np.zeros((T, 3, height, width), np.float32)
    instance = np.zeros((T, height, width), np.int32)
    for i in tqdm(range(T), desc=f"render {camera.name}", unit="frame", disable=not progress, delay=2.0):
        scene.set_frame(poses[i], states.light_position[i], states.light_direction[i],
                        states.light_color[i], states.light_intensity[i])
        buffers = scene.render_buffers(world_to_camera[i])
        depth[i] = buffers.depth
        normal[i] = buffers.normal.transpose(2, 0, 1)
        instance[i] = buffers.instance
        position[i] = backproject(buffers.depth, K, world_to_camera[i]).transpose(2, 0, 1)
        if rgb is not None:
            linear = scene.render_rgb(world_to_camera[i], settings.spp, seed=int(frames[i]) if settings.animate_seed else 0)
            rgb[i] = srgb_encode(settings.exposure * linear).transpose(2, 0, 1)
    return RenderedClip(
        frames=frames, times=np.asarray(states.time), rgb=rgb, depth=depth, normal=normal, position=position,
        instance=instance, K=K, world_to_camera=world_to_camera, poses=poses,
        keypoints=np.asarray(states.humanoid_keypoints), instances=table, camera=camera.name, variant=variant,
    )
