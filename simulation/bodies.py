"""Creating a scene object as a pybullet rigid body.

Primitives map to pybullet's shapes (cylinder and capsule along local z). Mesh files are
read by trimesh, recentred on their centre of mass, and collide as their convex hull when
convex, else as a V-HACD convex decomposition (pybullet's built-in ``vhacd``) cached under
``$XDG_CACHE_HOME/worldgen/vhacd`` by file content. Assets are pybullet_data URDFs.
The body's pose in pybullet (and in the state) is that of its centre of mass."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
import pybullet
import trimesh

from simulation.state import BodyInfo
from worldgen.scene.assets import resolve_asset
from worldgen.scene.checks import resolve_file
from worldgen.scene.rotations import quaternion_from_euler_degrees
from worldgen.scene.schema import ObjectSpec


def cache_dir() -> Path:
    """Folder for derived data (convex decompositions)."""
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return root / "worldgen"


def initial_orientation(obj: ObjectSpec) -> np.ndarray:
    """(4,) initial quaternion (x, y, z, w) of an object, normalised."""
    if obj.quaternion is not None:
        q = np.asarray(obj.quaternion, dtype=float)
        return q / np.linalg.norm(q)
    if obj.euler is not None:
        return quaternion_from_euler_degrees(obj.euler)
    return np.array([0.0, 0.0, 0.0, 1.0])


def load_mesh(path: Path) -> trimesh.Trimesh:
    """A mesh file as one triangle mesh (scenes such as glb are concatenated)."""
    try:
        mesh = trimesh.load(path, force="mesh")
    except Exception as err:  # any failure of the mesh reader on a user's file
        raise ValueError(f"{path}: not a readable mesh file ({type(err).__name__})") from None
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise ValueError(f"{path}: no triangles found")
    return mesh


def mesh_centre(mesh: trimesh.Trimesh) -> np.ndarray:
    """(3,) centre of mass for a closed mesh, bounding-box centre otherwise (mesh units)."""
    return np.asarray(mesh.center_mass if mesh.is_watertight else mesh.bounding_box.centroid, dtype=float)


def convex_decomposition(mesh: trimesh.Trimesh) -> Path:
    """OBJ file holding a V-HACD decomposition of ``mesh`` (one object per convex part),
    computed once per mesh content and cached."""
    data = mesh.export(file_type="obj")
    digest = hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()[:20]
    out = cache_dir() / "vhacd" / f"{digest}.obj"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        source, result, log = Path(tmp, "in.obj"), Path(tmp, "out.obj"), Path(tmp, "log.txt")
        source.write_text(data if isinstance(data, str) else data.decode())
        pybullet.vhacd(str(source), str(result), str(log))
        os.replace(result, out)  # same file system: the cache never holds a partial file
    return out


PRIMITIVES = ("box", "sphere", "cylinder", "capsule")


def primitive_size(obj: ObjectSpec) -> list[float]:
    """BodyInfo ``size`` of a primitive: box full extents, [radius] or [radius, height] (m)."""
    if obj.shape == "box":
        return [float(s) for s in obj.size]
    if obj.shape == "sphere":
        return [float(obj.radius)]
    return [float(obj.radius), float(obj.height)]


def _primitive_shape(client, obj: ObjectSpec) -> tuple[int, list[float]]:
    size = primitive_size(obj)
    if obj.shape == "box":
        return client.createCollisionShape(pybullet.GEOM_BOX, halfExtents=[s / 2 for s in size]), size
    if obj.shape == "sphere":
        return client.createCollisionShape(pybullet.GEOM_SPHERE, radius=obj.radius), size
    kind = pybullet.GEOM_CYLINDER if obj.shape == "cylinder" else pybullet.GEOM_CAPSULE
    return client.createCollisionShape(kind, radius=obj.radius, height=obj.height), size


def _mesh_shape(client, obj: ObjectSpec, path: Path) -> tuple[int, list[float], np.ndarray]:
    mesh = load_mesh(path)
    centre = mesh_centre(mesh)
    mesh.apply_translation(-centre)
    scale = [obj.scale] * 3
    if mesh.is_convex:
        shape = client.createCollisionShape(pybullet.GEOM_MESH, vertices=mesh.vertices.tolist(), meshScale=scale)
    else:
        shape = client.createCollisionShape(pybullet.GEOM_MESH, fileName=str(convex_decomposition(mesh)), meshScale=scale)
    extents = (mesh.bounds[1] - mesh.bounds[0]) * obj.scale
    return shape, extents.tolist(), -centre * obj.scale


def create_body(client, obj: ObjectSpec, base_dir: Path) -> tuple[int, BodyInfo]:
    """Add ``obj`` to the pybullet ``client``; returns its body id and static attributes."""
    physics = obj.physics
    mass = _mass(obj)
    position, orientation = list(obj.position), initial_orientation(obj).tolist()
    offset_position, offset_orientation = [0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]
    mesh_path = urdf = None
    if obj.shape == "asset":
        urdf = resolve_asset(obj.asset)
        body = client.loadURDF(str(urdf), globalScaling=obj.scale, useFixedBase=physics.fixed)
        if physics.mass is not None and not physics.fixed:
            client.changeDynamics(body, -1, mass=physics.mass)
        mass = 0.0 if physics.fixed else client.getDynamicsInfo(body, -1)[0]
        lo, hi = client.getAABB(body, -1)
        size = (np.asarray(hi) - np.asarray(lo)).tolist()
        inertial_position, inertial_orientation = client.getDynamicsInfo(body, -1)[3:5]
        offset_position, offset_orientation = (
            list(v) for v in client.invertTransform(inertial_position, inertial_orientation)
        )
        client.resetBasePositionAndOrientation(body, position, orientation)
    else:
        if obj.shape == "mesh":
            mesh_path = resolve_file(base_dir, obj.mesh)
            shape, size, offset = _mesh_shape(client, obj, mesh_path)
            offset_position = offset.tolist()
        else:
            shape, size = _primitive_shape(client, obj)
        body = client.createMultiBody(
            baseMass=mass, baseCollisionShapeIndex=shape, basePosition=position, baseOrientation=orientation
        )
    client.changeDynamics(
        body,
        -1,
        lateralFriction=physics.friction,
        rollingFriction=physics.rolling_friction,
        spinningFriction=physics.spinning_friction,
        restitution=physics.restitution,
        linearDamping=physics.linear_damping,
        angularDamping=physics.angular_damping,
    )
    if not physics.fixed:
        client.resetBaseVelocity(body, list(obj.linear_velocity), list(obj.angular_velocity))
    info = body_info(obj, base_dir, size, mass, mesh_path, urdf, offset_position, offset_orientation)
    return body, info


def _mass(obj: ObjectSpec) -> float:
    """kg: 0 for fixed bodies (pybullet's static), 1 when the scene gives none."""
    return 0.0 if obj.physics.fixed else (obj.physics.mass if obj.physics.mass is not None else 1.0)


def body_info(obj: ObjectSpec, base_dir: Path, size: list[float], mass: float, mesh_path: Path | None = None,
              urdf: Path | None = None, offset_position=(0.0, 0.0, 0.0), offset_orientation=(0.0, 0.0, 0.0, 1.0)) -> BodyInfo:
    """The static attributes of ``obj`` given what its collision shape measured."""
    physics = obj.physics
    material = obj.material.model_dump(mode="json")
    if obj.material.texture is not None:
        material["texture"] = str(resolve_file(base_dir, obj.material.texture).resolve())
    return BodyInfo(
        name=obj.name,
        shape=obj.shape,
        size=[float(s) for s in size],
        mass=float(mass),
        friction=physics.friction,
        rolling_friction=physics.rolling_friction,
        spinning_friction=physics.spinning_friction,
        restitution=physics.restitution,
        fixed=physics.fixed,
        material=material,
        scale=obj.scale,
        mesh=str(mesh_path.resolve()) if mesh_path else None,
        asset=obj.asset,
        urdf=str(urdf) if urdf else None,
        frame_offset_position=[float(v) for v in offset_position],
        frame_offset_orientation=[float(v) for v in offset_orientation],
    )


def primitive_body(obj: ObjectSpec, base_dir: Path) -> tuple[BodyInfo, dict[str, np.ndarray]]:
    """A primitive's static attributes and initial state (position, orientation, linear and
    angular velocity; zero velocities when fixed), exactly as :func:`create_body` gives
    them, without pybullet."""
    moving = 0.0 if obj.physics.fixed else 1.0
    state = {
        "body_position": np.asarray(obj.position, dtype=float),
        "body_orientation": initial_orientation(obj),
        "body_linear_velocity": moving * np.asarray(obj.linear_velocity, dtype=float),
        "body_angular_velocity": moving * np.asarray(obj.angular_velocity, dtype=float),
    }
    return body_info(obj, base_dir, primitive_size(obj), _mass(obj)), state
