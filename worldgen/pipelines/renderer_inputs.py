"""The per-pixel stack the diffusion renderer reads: the control stack, material maps and
unshadowed diffuse shading.

The control stack (:mod:`control.stack`, 13 channels) says where surfaces are and how
they move; it does not say what they are made of. The segmentation map gives each
instance a palette colour, and the state tokens carry each instance's material under the
same colour, but matching the two through attention is something a small model learns
slowly. So the renderer also gets the material as a G-buffer (as in deferred shading,
Deep Shading and RGB-X): per pixel, the albedo, roughness and metallic of the surface the
pixel sees, looked up from the instance id. Changing an object's colour in the scene
changes these maps directly.

Nor does the control stack say how the surface is lit. The lights are in the state
tokens, but a patch transformer learns the product of a light's colour, the albedo and
the geometry's cosine slowly (the renderer that read lights only through tokens painted
red and blue lights alike). So the stack also holds each pixel's unshadowed direct
diffuse shading: albedo x (1 - metallic) / pi x the irradiance from every light
(:func:`renderer.pbr.direct_light.direct_irradiance`), sRGB-encoded like the reference
frames, i.e. what a matte version of the scene would look like with no shadows and no
interreflection. Changing a light's colour, intensity or position changes it directly;
shadows, speculars and bounced light are left for the network to paint.

Renderer stack, (T, 21, H, W) float32: channels 0-12 of the control stack, then

====  ==================  ===========================================================
 ch   name                meaning
====  ==================  ===========================================================
 13   albedo_r            the material's linear albedo as the reference renderer shades
 14   albedo_g            it (a texture counts as its mean colour times the base colour),
 15   albedo_b            0 on the background
 16   roughness           the material's roughness, 0 on the background
 17   metallic            the material's metallic, 0 on the background
 18   diffuse_r           unshadowed direct diffuse shading (above), sRGB in [0, 1],
 19   diffuse_g           0 on the background
 20   diffuse_b
====  ==================  ===========================================================

A renderer lists the channel names it was trained on (its ``control_channels``);
:func:`channels_for` hands it those, so a renderer trained on fewer channels still paints."""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

from control.stack import CONTROL_CHANNELS
from renderer.diffusion.model import CONTROL_GROUPS
from renderer.pbr.direct_light import direct_irradiance
from renderer.pbr.render import srgb_encode
from simulation.instances import InstanceTable
from simulation.state import Trajectory
from worldgen.pipelines.state_tokens import instance_materials, state_tokens
from worldgen.scene import SceneError
from worldgen.scene.cameras import backproject

MATERIAL_CHANNELS: tuple[str, ...] = ("albedo_r", "albedo_g", "albedo_b", "roughness", "metallic")
SHADING_CHANNELS: tuple[str, ...] = ("diffuse_r", "diffuse_g", "diffuse_b")
RENDERER_CHANNELS: tuple[str, ...] = CONTROL_CHANNELS + MATERIAL_CHANNELS + SHADING_CHANNELS
RENDERER_GROUPS = MappingProxyType({**CONTROL_GROUPS, "material": MATERIAL_CHANNELS, "shading": SHADING_CHANNELS})
"""Control groups of the renderer stack (the control stack's groups, the material maps and
the shading): each has its own input embedding and weight."""

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


def shading_maps(trajectory: Trajectory, frames: np.ndarray, materials: np.ndarray, depth: np.ndarray,
                 normal: np.ndarray, K: np.ndarray, world_to_camera: np.ndarray) -> np.ndarray:
    """(T, 3, H, W) float32 unshadowed direct diffuse shading, sRGB in [0, 1] (module
    docstring), of ``frames`` of ``trajectory``: ``materials`` (T, 5, H, W) from
    :func:`material_maps`, ``depth`` (T, H, W) z-depth m (0: background), ``normal`` (T, 3,
    H, W) unit world normals, ``K`` (3, 3) pixels, ``world_to_camera`` (T, 4, 4) OpenCV."""
    states = trajectory.states[np.asarray(frames)]
    shading = np.zeros((len(depth), 3) + depth.shape[1:], np.float32)
    for t in range(len(depth)):
        irradiance = direct_irradiance(backproject(depth[t], K, world_to_camera[t]), normal[t].transpose(1, 2, 0),
                                       trajectory.lights, states.light_position[t], states.light_direction[t],
                                       states.light_color[t], states.light_intensity[t])
        diffuse = materials[t, :3] * (1 - materials[t, 4]) / np.pi * irradiance.transpose(2, 0, 1)
        shading[t] = np.where(depth[t] > 0, srgb_encode(diffuse), 0.0)
    return shading


def renderer_stack(trajectory: Trajectory, frames: np.ndarray, controls: np.ndarray, instance: np.ndarray,
                   depth: np.ndarray, normal: np.ndarray, K: np.ndarray, world_to_camera: np.ndarray) -> np.ndarray:
    """(T, 21, H, W) float32 renderer stack of ``frames`` of ``trajectory``: the control
    stack ``controls`` (T, 13, H, W), then the material maps of the instance ids
    ``instance`` (T, H, W), then the shading (:func:`shading_maps`, whose docstring gives
    ``depth``, ``normal``, ``K`` and ``world_to_camera``)."""
    materials = material_maps(trajectory, instance)
    shading = shading_maps(trajectory, frames, materials, np.asarray(depth), np.asarray(normal), np.asarray(K),
                           np.asarray(world_to_camera))
    return np.concatenate([controls, materials, shading], axis=1).astype(np.float32, copy=False)


def clip_inputs(trajectory: Trajectory, frames: np.ndarray, rendered) -> tuple[np.ndarray, np.ndarray]:
    """What the renderer reads for ``frames`` of ``trajectory`` as ``rendered`` by
    :func:`worldgen.pipelines.clip.render_controls`: the renderer stack (T, 21, H, W) and the
    state tokens (T, S, F) (:mod:`worldgen.pipelines.state_tokens`)."""
    clip = rendered.clip
    tokens = state_tokens(trajectory, frames, clip.K, clip.world_to_camera, *clip.size)
    stack = renderer_stack(trajectory, frames, rendered.maps.stack(), clip.instance, clip.depth, clip.normal, clip.K,
                           clip.world_to_camera)
    return stack, tokens


STILL_FLOW = 1e-3  # px: a pixel whose flow is below this (and not occluded) sees the same surface point next frame
STILL_SHADING = 0.5 / 255  # the unshadowed shading may change by less than this and the pixel still counts as lit alike


def still_pixels(stack: np.ndarray, flow, begin: int, end: int) -> np.ndarray:
    """(H, W) bool: the pixels that see the same surface point, lit alike (the same
    unshadowed shading, :func:`shading_maps`), in every frame ``begin .. end - 1``; ``stack``
    (T, 21, H, W) the renderer stack, ``flow`` the frames' :class:`control.flow.Flow`. Shadows
    are not in the shading: a moving object's shadow on a still floor is locked out of view."""
    if end - begin < 2:
        return np.zeros(stack.shape[-2:], bool)
    moves = np.abs(flow.forward[begin:end - 1]).max(axis=(0, 1)) >= STILL_FLOW
    occluded = flow.forward_occluded[begin:end - 1].any(axis=0)
    shading = stack[begin:end, -len(SHADING_CHANNELS):]
    relit = (shading.max(axis=0) - shading.min(axis=0)).max(axis=0) >= STILL_SHADING
    return ~(moves | occluded | relit)


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
