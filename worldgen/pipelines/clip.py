"""The chain from a trajectory to what a camera sees: rendered buffers, exact flow and the
control maps. One function, :func:`render_controls`, used by ``worldgen render``, dataset
episodes and the benchmarks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from control.flow import Flow, exact_flow, object_coordinates
from control.stack import ControlMaps, control_maps
from renderer.pbr.render import RenderedClip, RenderSettings, render_trajectory
from simulation.state import Trajectory
from worldgen.scene.schema import CameraSpec


@dataclass
class ControlClip:
    """A rendered clip with its exact flow and control maps. ``coordinates``: (T, H, W, 3)
    each pixel's surface point in its instance's local frame, m (Kubric's object
    coordinates), when asked for; else None."""

    clip: RenderedClip
    flow: Flow
    maps: ControlMaps
    coordinates: np.ndarray | None = None


def render_controls(trajectory: Trajectory, camera: CameraSpec, settings: RenderSettings,
                    frames: np.ndarray | None = None, progress: bool = False,
                    coordinates: bool = False) -> ControlClip:
    """Render ``frames`` (default all) of ``trajectory`` through ``camera`` with the
    reference renderer (``settings.rgb=False``: geometry buffers only), then derive the
    exact flow and the control maps from the buffers."""
    clip = render_trajectory(trajectory, camera, settings, frames=frames, progress=progress)
    local = None
    if coordinates:
        local = np.stack([object_coordinates(clip.depth[t], clip.instance[t], clip.poses[t], clip.K,
                                             clip.world_to_camera[t]) for t in range(len(clip.frames))])
    flow = exact_flow(clip.depth, clip.instance, clip.poses, clip.K, clip.world_to_camera, coordinates=local)
    maps = control_maps(clip.depth, clip.instance, clip.normal, clip.keypoints, clip.K, clip.world_to_camera, flow)
    return ControlClip(clip, flow, maps, local)
