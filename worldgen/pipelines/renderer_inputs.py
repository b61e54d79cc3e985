"""The per-pixel stack the diffusion renderer reads: the control stack plus material maps.

The control stack (:mod:`control.stack`, 13 channels) says where surfaces are and how
they move; it does not say what they are made of. The segmentation map gives each
instance a palette colour, and the state tokens carry each instance's material under the
same colour, but matching the two through attention is something a small model learns
slowly. So the renderer also gets the material as a G-buffer (as in deferred shading,
Deep Shading and RGB-X): per pixel, the albedo, roughness and metallic of the surface the
pixel sees, looked up from the instance id. Changing an object's colour in the scene
changes these maps directly.

Renderer stack, (T, 18, H, W) float32: channels 0-12 of the control stack, then

====  ==================  ===========================================================
 ch   name                meaning
====  ==================  ===========================================================
 13   albedo_r            the material's linear albedo as the reference renderer shades
 14   albedo_g            it (a texture counts as its mean colour times the base colour),
 15   albedo_b            0 on the background
 16   roughness           the material's roughness, 0 on the background
 17   metallic            the material's metallic, 0 on the background
====  ==================  ===========================================================

A renderer lists the channel names it was trained on (its ``control_channels``);
:func:`channels_for` hands it those, so a renderer trained on the 13 control channels
alone still paints."""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

from control.stack import CONTROL_CHANNELS
from renderer.diffusion.model import CONTROL_GROUPS
from simulation.instances import InstanceTable
from simulation.state import Trajectory
from worldgen.pipelines.state_tokens import instance_materials, state_tokens
from worldgen.scene import SceneError

MATERIAL_CHANNELS: tuple[str, ...] = ("albedo_r", "albedo_g", "albedo_b", "roughness", "metallic")
RENDERER_CHANNELS: tuple[str, ...] = CONTROL_CHANNELS + MATERIAL_CHANNELS
RENDERER_GROUPS = MappingProxyType({**CONTROL_GROUPS, "material": MATERIAL_CHANNELS})
"""Control groups of the renderer stack (the control stack's groups and the material maps):
each has its own input embedding and weight."""

_LEAVING = {"flow_x": 0.0, "flow_y": 0.0, "occlusion": 1.0}  # a window's last frame: its flow leaves the window


def material_maps(trajectory: Trajectory, instance: np.ndarray) -> np.ndarray:
    """(T, 5, H, W) float32 albedo r, g, b, roughness, metallic of the surface each pixel
    sees; ``instance`` (T, H, W) integer instance ids (0 = background: all zero)."""
    materials = instance_materials(trajectory, InstanceTable.of(trajectory))
    lookup = np.zeros((max(materials, default=0) + 1, len(MATERIAL_CHANNELS)), np.float32)
    for index, values in materials.items():
        lookup[index] = values
    ids = np.asarray(instance, dtype=np.int64)
    inside = (ids >= 0) & (ids < len(lookup))
    return np.where(inside[..., None], lookup[np.where(inside, ids, 0)], 0).transpose(0, 3, 1, 2).astype(np.float32)


def renderer_stack(controls: np.ndarray, materials: np.ndarray) -> np.ndarray:
    """(T, 18, H, W) float32: the control stack (T, 13, H, W) then the material maps (T, 5, H, W)."""
    return np.concatenate([controls, materials], axis=1).astype(np.float32, copy=False)


def clip_inputs(trajectory: Trajectory, frames: np.ndarray, rendered) -> tuple[np.ndarray, np.ndarray]:
    """What the renderer reads for ``frames`` of ``trajectory`` as ``rendered`` by
    :func:`worldgen.pipelines.clip.render_controls`: the renderer stack (T, 18, H, W) and the
    state tokens (T, S, F) (:mod:`worldgen.pipelines.state_tokens`)."""
    clip = rendered.clip
    tokens = state_tokens(trajectory, frames, clip.K, clip.world_to_camera, *clip.size)
    return renderer_stack(rendered.maps.stack(), material_maps(trajectory, clip.instance)), tokens


def end_window(window, channels=RENDERER_CHANNELS):
    """Mark the flow of a window's last frame as leaving the window (0, all occluded), in
    place; ``window`` (T, C, H, W) array or tensor with ``channels`` named; returns it."""
    for name, value in _LEAVING.items():
        if name in channels:
            window[-1, list(channels).index(name)] = value
    return window


def channels_for(stack, wanted, available=RENDERER_CHANNELS, field: str = "--checkpoint"):
    """The channels ``wanted`` (a renderer's ``control_channels``) of ``stack`` (T, C, H, W)
    with ``available`` named, in the renderer's order; a one-line SceneError when the
    renderer wants a channel worldgen does not make."""
    wanted, available = list(wanted), list(available)
    unknown = [name for name in wanted if name not in available]
    if unknown:
        raise SceneError(field, f"the renderer reads control channels {', '.join(unknown)}, which worldgen does not "
                         f"make; expected names among {', '.join(available)}", "renderer")
    if wanted == available:
        return stack
    return stack[:, [available.index(name) for name in wanted]]
