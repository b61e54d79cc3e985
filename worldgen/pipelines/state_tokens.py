"""State tokens: what the diffusion renderer reads about the scene besides the control maps.

One token per entity per frame, ``(T, S, F)`` float32 with the F features of
``TOKEN_FEATURES`` (positions and directions in the OpenCV camera frame of that frame,
metres; colours linear in [0, 1]):

==================================  ========================================================
features                            meaning
==================================  ========================================================
camera, floor, object, light        kind, one-hot (an object is a body or a humanoid link)
id_r, id_g, id_b                    the colour its instance id has in the segmentation map
                                    (0 for lights and the camera): how a token finds its pixels
albedo_r/g/b, roughness, metallic   material as the reference renderer shades it (linear
                                    reflectance; a texture's mean colour times the base colour)
x, y, z                             camera-frame position: an object's origin, a light's position
dir_x, dir_y, dir_z                 camera-frame direction: a light's axis; for the camera, the
                                    world's up axis (its roll and tilt)
light_r/g/b, log_intensity          light colour and log(1 + intensity) (W/sr, W/m^2 or W/(m^2 sr)
                                    by type)
point, spot, directional, area      light type, one-hot
fx, fy                              the camera's focal lengths over the image width and height
==================================  ========================================================

Token order in every frame: the camera, the floor (when the scene has one), the bodies
in scene order, the humanoid links, the lights. The renderer treats them as a set (a
mask marks padding), so identity comes from the ``id`` colour, not from the order.
Colours and materials are the same in every frame: lighting and albedo cannot drift,
because they are read from the state, not remembered from earlier frames."""

from __future__ import annotations

import numpy as np

from control.segmentation_map import segmentation_map
from renderer.pbr.meshes import scene_meshes, srgb_to_linear
from simulation.instances import InstanceTable, instance_poses
from simulation.state import Trajectory

TOKEN_FEATURES: tuple[str, ...] = (
    "camera", "floor", "object", "light", "id_r", "id_g", "id_b",
    "albedo_r", "albedo_g", "albedo_b", "roughness", "metallic",
    "x", "y", "z", "dir_x", "dir_y", "dir_z", "light_r", "light_g", "light_b", "log_intensity",
    "point", "spot", "directional", "area", "fx", "fy",
)
_F = {name: i for i, name in enumerate(TOKEN_FEATURES)}
LIGHT_TYPES = ("point", "spot", "directional", "area")


def instance_materials(trajectory: Trajectory, table: InstanceTable) -> dict[int, np.ndarray]:
    """Per visible instance id: (albedo r, g, b, roughness, metallic) as the reference
    renderer shades it; a texture counts as its mean linear colour times the base colour."""
    materials = {}
    for mesh in scene_meshes(trajectory, table):
        albedo = np.asarray(mesh.color, dtype=float)
        if mesh.texture is not None:
            albedo = albedo * srgb_to_linear(mesh.texture.reshape(-1, 3) / 255.0).mean(axis=0)
        materials[mesh.instance] = np.array([*albedo, mesh.roughness, mesh.metallic])
    return materials


def state_tokens(trajectory: Trajectory, frames: np.ndarray, K: np.ndarray, world_to_camera: np.ndarray,
                 width: int, height: int) -> np.ndarray:
    """(T, S, F) float32 tokens of ``frames`` (indices into the trajectory) seen by a camera
    with intrinsics ``K`` (3, 3) pixels and ``world_to_camera`` (T, 4, 4) OpenCV, for an
    image of ``width`` x ``height`` pixels."""
    frames = np.asarray(frames)
    table = InstanceTable.of(trajectory)
    states = trajectory.states[frames]
    poses = instance_poses(table, states)  # (T, N, 4, 4) local -> world
    materials = instance_materials(trajectory, table)
    ids = [i for i in range(1, len(table)) if i in materials]  # the floor and every body and link with a surface
    lights = len(trajectory.lights)
    T = len(frames)
    tokens = np.zeros((T, 1 + len(ids) + lights, len(TOKEN_FEATURES)), np.float32)
    rotation, translation = world_to_camera[:, :3, :3], world_to_camera[:, :3, 3]

    camera = tokens[:, 0]
    camera[:, _F["camera"]] = 1
    camera[:, _F["dir_x"]:_F["dir_z"] + 1] = rotation[:, :, 2]  # the world's +z in the camera frame
    camera[:, _F["fx"]], camera[:, _F["fy"]] = K[0, 0] / width, K[1, 1] / height

    colours = segmentation_map(np.array(ids, dtype=np.int64).reshape(1, 1, -1))[0, :, 0].T  # (len(ids), 3)
    for s, (instance, colour) in enumerate(zip(ids, colours), start=1):
        token = tokens[:, s]
        token[:, _F["floor"] if table.kinds[instance] == "floor" else _F["object"]] = 1
        token[:, _F["id_r"]:_F["id_b"] + 1] = colour
        token[:, _F["albedo_r"]:_F["metallic"] + 1] = materials[instance]
        token[:, _F["x"]:_F["z"] + 1] = np.einsum("tij,tj->ti", rotation, poses[:, instance, :3, 3]) + translation

    for light, info in enumerate(trajectory.lights):
        token = tokens[:, 1 + len(ids) + light]
        token[:, _F["light"]] = 1
        token[:, _F["x"]:_F["z"] + 1] = np.einsum("tij,tj->ti", rotation, states.light_position[:, light]) + translation
        token[:, _F["dir_x"]:_F["dir_z"] + 1] = np.einsum("tij,tj->ti", rotation, states.light_direction[:, light])
        token[:, _F["light_r"]:_F["light_b"] + 1] = states.light_color[:, light]
        token[:, _F["log_intensity"]] = np.log1p(np.maximum(states.light_intensity[:, light], 0.0))
        token[:, _F[info.type]] = 1
    return tokens
