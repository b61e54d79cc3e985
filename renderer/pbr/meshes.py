"""Triangle meshes of every visible instance, in the instance's local frame.

The local frames are those of ``simulation.instances``: the centre-of-mass frame for
bodies, the URDF link frame for humanoid links, the world for the floor. Placing a mesh is
then one rigid transform by ``instance_poses``. Lengths in metres.

Primitives are tessellated (cylinder and capsule along local z, as in pybullet), split at
creases sharper than 30 degrees so that boxes stay flat-shaded and spheres smooth, and get
planar texture coordinates along their dominant normal axis (``texture_scale`` repeats per
metre). Mesh files keep their own normals, texture coordinates and texture image.
Humanoids are drawn from the collision shapes of the DeepMimic URDF (capsules, spheres and
boxes), in a clay colour; there is no per-humanoid colour field yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import trimesh

from renderer.pbr.urdf_shapes import UrdfShape, urdf_shapes
from simulation.bodies import load_mesh
from simulation.humanoid import URDF_UNIT
from simulation.instances import FLOOR, InstanceTable
from simulation.state import BodyInfo, HumanoidInfo, Trajectory
from worldgen.scene.assets import humanoid_urdf
from worldgen.scene.rotations import rotation_matrix

CREASE_ANGLE = np.radians(30.0)
HUMANOID_MATERIAL = {"color": (0.72, 0.58, 0.48), "roughness": 0.6, "metallic": 0.0, "texture": None, "texture_scale": 1.0}


@dataclass
class RenderMesh:
    """One instance's surface. vertices (V, 3) m and normals (V, 3) unit, both in the
    instance's local frame; uv (V, 2); faces (F, 3) vertex indices.
    ``color`` linear RGB reflectance in [0, 1]; ``texture`` an RGB uint8 image (H, W, 3)
    (sRGB-encoded) or None; ``roughness``, ``metallic`` in [0, 1]."""

    instance: int
    vertices: np.ndarray
    normals: np.ndarray
    uv: np.ndarray
    faces: np.ndarray
    color: np.ndarray
    roughness: float
    metallic: float
    texture: np.ndarray | None = None
    closed: bool = True  # watertight with outward-facing winding: only front faces can be seen


def srgb_to_linear(c) -> np.ndarray:
    """Linear values of sRGB-encoded values in [0, 1] (the IEC 61966-2-1 curve)."""
    c = np.asarray(c, dtype=float)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _read_image(path: str) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _planar_uv(vertices: np.ndarray, normals: np.ndarray, scale: float) -> np.ndarray:
    """(V, 2) texture coordinates: each vertex projected on the plane perpendicular to the
    dominant axis of its normal, times ``scale`` (repeats per metre)."""
    axis = np.abs(normals).argmax(axis=1)
    u = np.where(axis == 0, vertices[:, 1], vertices[:, 0])
    v = np.where(axis == 2, vertices[:, 1], vertices[:, 2])
    return np.stack([u, v], axis=1) * scale


def _primitive(kind: str, size=(), radius: float = 0.0, length: float = 0.0) -> trimesh.Trimesh:
    if kind == "box":
        return trimesh.creation.box(extents=size)
    if kind == "sphere":
        return trimesh.creation.icosphere(subdivisions=2, radius=radius)
    if kind == "cylinder":
        return trimesh.creation.cylinder(radius=radius, height=length, sections=48)
    return trimesh.creation.capsule(height=length, radius=radius, count=[16, 8])


def _shaded(mesh: trimesh.Trimesh, texture_scale: float) -> tuple[np.ndarray, ...]:
    """vertices, normals, uv, faces of a tessellated primitive split at creases."""
    mesh = trimesh.graph.smooth_shade(mesh, angle=CREASE_ANGLE)
    vertices, normals = np.asarray(mesh.vertices), np.asarray(mesh.vertex_normals)
    return vertices, normals, _planar_uv(vertices, normals, texture_scale), np.asarray(mesh.faces)


def _file_mesh(path: Path, texture_scale: float) -> tuple[tuple[np.ndarray, ...], np.ndarray | None, bool]:
    """(vertices, normals, uv, faces) of a mesh file in its own units, its texture image, and
    whether it is closed (then wound outwards)."""
    mesh = load_mesh(path)
    closed = bool(mesh.is_watertight)
    if closed and mesh.volume < 0:
        mesh.invert()
    visual = mesh.visual
    uv = getattr(visual, "uv", None)
    image = getattr(getattr(visual, "material", None), "image", None)
    if uv is None or len(uv) != len(mesh.vertices):
        uv, image = _planar_uv(np.asarray(mesh.vertices), np.asarray(mesh.vertex_normals), texture_scale), None
    texture = np.asarray(image.convert("RGB")) if image is not None else None
    return (np.asarray(mesh.vertices), np.asarray(mesh.vertex_normals), np.asarray(uv), np.asarray(mesh.faces)), texture, closed


def _transform(parts: tuple[np.ndarray, ...], matrix: np.ndarray, scale=1.0) -> tuple[np.ndarray, ...]:
    """Apply ``scale`` (scalar or (3,)) then the rigid (4, 4) ``matrix`` to vertices/normals."""
    vertices, normals, uv, faces = parts
    scale = np.broadcast_to(np.asarray(scale, dtype=float), (3,))
    normals = normals / scale
    normals = normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    return (vertices * scale) @ matrix[:3, :3].T + matrix[:3, 3], normals @ matrix[:3, :3].T, uv, faces


def _concatenate(parts: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    offsets = np.cumsum([0] + [len(p[0]) for p in parts[:-1]])
    return (
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
        np.concatenate([p[3] + o for p, o in zip(parts, offsets)]),
    )


def _urdf_shape_parts(shape: UrdfShape, scale: float, texture_scale: float) -> tuple[tuple[np.ndarray, ...], np.ndarray | None, bool]:
    """A URDF shape's mesh in its link frame (lengths times ``scale``), texture, closedness."""
    origin = shape.origin.copy()
    origin[:3, 3] *= scale
    if shape.kind == "mesh":
        parts, texture, closed = _file_mesh(shape.mesh, texture_scale)
        mesh_scale = np.asarray(shape.scale) * scale
        if np.prod(np.sign(mesh_scale)) < 0:  # a mirroring scale turns the winding inside out
            parts = parts[:3] + (parts[3][:, ::-1],)
        return _transform(parts, origin, mesh_scale), texture, closed
    primitive = _primitive(shape.kind, np.asarray(shape.size) * scale, shape.radius * scale, shape.length * scale)
    return _transform(_shaded(primitive, texture_scale), origin), None, True


def _pose_matrix(position, orientation) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3] = rotation_matrix(orientation)
    out[:3, 3] = position
    return out


def _mesh(instance: int, parts: tuple[np.ndarray, ...], material: dict[str, Any], texture: np.ndarray | None,
          closed: bool = True) -> RenderMesh:
    if material.get("texture"):
        texture = _read_image(material["texture"])
    vertices, normals, uv, faces = parts
    return RenderMesh(
        instance=instance,
        vertices=vertices.astype(np.float32),
        normals=normals.astype(np.float32),
        uv=uv.astype(np.float32),
        faces=faces.astype(np.uint32),
        color=srgb_to_linear(material["color"]),
        roughness=float(material["roughness"]),
        metallic=float(material["metallic"]),
        texture=texture,
        closed=closed,
    )


def body_mesh(instance: int, info: BodyInfo) -> RenderMesh:
    """Surface of a rigid body in its centre-of-mass frame."""
    material = info.material
    texture_scale = float(material.get("texture_scale", 1.0))
    offset = _pose_matrix(info.frame_offset_position, info.frame_offset_orientation)
    texture, closed = None, True
    if info.shape == "mesh":
        parts, texture, closed = _file_mesh(Path(info.mesh), texture_scale)
        # bodies.py recentres the file on its centre of mass before scaling; the offset holds it.
        parts = _transform(parts, offset, info.scale)
    elif info.shape == "asset":
        link_shapes = next(iter(urdf_shapes(Path(info.urdf), "visual").values()))
        pieces = [_urdf_shape_parts(shape, info.scale, texture_scale) for shape in link_shapes]
        parts = _transform(_concatenate([p for p, _, _ in pieces]), offset)
        texture = next((t for _, t, _ in pieces if t is not None), None)
        closed = all(c for _, _, c in pieces)
    elif info.shape == "box":
        parts = _shaded(_primitive("box", size=info.size), texture_scale)
    elif info.shape == "sphere":
        parts = _shaded(_primitive("sphere", radius=info.size[0]), texture_scale)
    else:
        parts = _shaded(_primitive(info.shape, radius=info.size[0], length=info.size[1]), texture_scale)
    return _mesh(instance, parts, material, texture, closed)


def floor_mesh(floor: dict[str, Any]) -> RenderMesh:
    """The floor's top face (z = 0), ``floor['size']`` [x, y] metres, centred on the origin."""
    hx, hy = floor["size"][0] / 2, floor["size"][1] / 2
    vertices = np.array([[-hx, -hy, 0.0], [hx, -hy, 0.0], [hx, hy, 0.0], [-hx, hy, 0.0]])
    normals = np.tile([0.0, 0.0, 1.0], (4, 1))
    uv = vertices[:, :2] * float(floor["material"].get("texture_scale", 1.0))
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    return _mesh(FLOOR, (vertices, normals, uv, faces), floor["material"], None, closed=False)


def humanoid_meshes(first_instance: int, info: HumanoidInfo) -> list[RenderMesh]:
    """One mesh per link of a DeepMimic humanoid, in ``info.link_names`` order, each in its
    URDF link frame (the frame of ``humanoid_link_position/orientation``)."""
    shapes = urdf_shapes(humanoid_urdf(), "collision")
    scale = URDF_UNIT * info.scale
    out = []
    for k, name in enumerate(info.link_names):
        pieces = [_urdf_shape_parts(shape, scale, 1.0)[0] for shape in shapes.get(name, [])]  # primitives: closed
        if pieces:
            out.append(_mesh(first_instance + k, _concatenate(pieces), HUMANOID_MATERIAL, None))
    return out


def scene_meshes(trajectory: Trajectory, table: InstanceTable) -> list[RenderMesh]:
    """Every visible instance's mesh: floor (when enabled), bodies, humanoid links."""
    meshes = []
    floor = trajectory.scene.get("floor", {})
    if floor.get("enabled", True):
        meshes.append(floor_mesh(floor))
    meshes += [body_mesh(table.body_id(b), info) for b, info in enumerate(trajectory.bodies)]
    for h, info in enumerate(trajectory.humanoids):
        meshes += humanoid_meshes(table.link_id(h, 0), info)
    return meshes
