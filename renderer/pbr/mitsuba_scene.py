"""A mitsuba 3 scene built once per trajectory and updated in place per frame.

Each instance is a ``mitsuba.Mesh`` with a principled BSDF (base colour or texture,
roughness, metallic: diffuse, rough plastic and metal are points of that one model).
Per frame only what moved is written: vertex positions and normals of instances whose pose
changed, light positions/frames and their colour x intensity, then one
``SceneParameters.update`` (which refits the acceleration structure).

Lights: ``point`` (intensity W/sr), ``spot`` (cone of the full ``spot_angle``, the inner
``1 - spot_softness`` fraction at full intensity), ``directional`` (irradiance W/m^2),
``area`` (a ``size`` rectangle facing along its direction, radiance W/(m^2 sr)). Light
shapes are not instances: pixels that see an area light's surface are background in the
buffers.

``render_rgb`` path-traces ``spp`` low-discrepancy (Sobol-like) samples per pixel with a box
pixel filter. ``render_buffers``
traces one ray through each pixel centre in a second, geometry-only scene of the same
meshes in which every instance is an emitter whose radiance is a per-vertex attribute:
(camera z-depth, instance id, 1) in one pass, (shading normal + 2) in another. Barycentric
interpolation of those attributes is exact for depth (affine on a triangle) and is how
shading normals are defined, so the buffers equal what mitsuba's ``aov`` integrator gives
(tested) at about a hundredth of its cost: in mitsuba 3.9.1's scalar variants the ``aov``
integrator pays a heap allocation per sample (~13 us; fixed upstream by mitsuba3 PR #1921,
not released yet). Emitters only shine to the front of a face: closed meshes are wound
outwards (only their front faces can be seen), and before each buffer pass the triangles of
open meshes (the floor, open mesh files) are wound to face the camera; a camera sees the
same side of a plane from anywhere on a triangle, so this is exact.
Light shapes are not in the geometry scene: buffers see through area lights.

Camera poses come in as OpenCV world -> camera matrices.
"""

from __future__ import annotations

from dataclasses import dataclass

import mitsuba as mi
import numpy as np

from renderer.pbr.meshes import RenderMesh, srgb_to_linear
from simulation.state import LightInfo

# mitsuba's camera looks along +z with +y up and +x to the left; OpenCV's has x right, y down.
OPENCV_TO_MITSUBA_CAMERA = np.diag([-1.0, -1.0, 1.0, 1.0])


NORMAL_OFFSET = 2.0  # emitted radiance must be >= 0: normals are emitted as n + 2


@dataclass(frozen=True)
class Buffers:
    """One frame's geometry buffers at pixel centres: depth (H, W) camera z, m; normal
    (H, W, 3) world unit shading normal; instance (H, W) int32; 0 where no instance is hit."""

    depth: np.ndarray
    normal: np.ndarray
    instance: np.ndarray


def _frame_along(direction: np.ndarray) -> np.ndarray:
    """(3, 3) rotation whose z column is the unit ``direction`` (3,)."""
    z = direction / np.linalg.norm(direction)
    helper = np.array([0.0, 0.0, 1.0]) if abs(z[2]) < 0.99 else np.array([0.0, 1.0, 0.0])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], axis=1)


def _light_matrix(position: np.ndarray, direction: np.ndarray, scale=(1.0, 1.0, 1.0)) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3] = _frame_along(direction) * np.asarray(scale)
    out[:3, 3] = position
    return out


def _set(params: mi.SceneParameters, key: str, value) -> None:
    """Write ``value`` (numpy or list) into parameter ``key`` in its own mitsuba type."""
    params[key] = type(params[key])(value)


def _bsdf(mesh: RenderMesh) -> dict:
    if mesh.texture is not None:
        linear = srgb_to_linear(mesh.texture / 255.0).astype(np.float32)
        base = {"type": "bitmap", "bitmap": mi.Bitmap(np.ascontiguousarray(linear)), "filter_type": "bilinear"}
    else:
        base = {"type": "rgb", "value": mesh.color.tolist()}
    return {"type": "principled", "base_color": base, "roughness": mesh.roughness, "metallic": mesh.metallic}


def _mitsuba_mesh(mesh: RenderMesh, props: mi.Properties, emitting: bool) -> mi.Mesh:
    """A mitsuba mesh of ``mesh`` in its local frame (posed later by ``set_frame``).
    ``emitting``: the geometry-pass version, without normals and texture coordinates and with
    the 3-channel ``vertex_color`` attribute that it emits."""
    out = mi.Mesh(
        f"instance_{mesh.instance}", len(mesh.vertices), len(mesh.faces), props=props,
        has_vertex_normals=not emitting, has_vertex_texcoords=not emitting,
    )
    params = mi.traverse(out)
    _set(params, "vertex_positions", mesh.vertices.ravel())
    _set(params, "faces", mesh.faces.ravel())
    if not emitting:
        _set(params, "vertex_normals", mesh.normals.ravel())
        _set(params, "vertex_texcoords", mesh.uv.ravel())
    params.update()
    if emitting:
        out.add_attribute("vertex_color", 3, np.zeros(mesh.vertices.size, np.float32).tolist())
    return out


def _shaded_props(mesh: RenderMesh) -> mi.Properties:
    props = mi.Properties()
    props["bsdf"] = mi.load_dict(_bsdf(mesh))
    return props


def _emitting_props() -> mi.Properties:
    props = mi.Properties()
    props["bsdf"] = mi.load_dict({"type": "diffuse", "reflectance": {"type": "rgb", "value": [0.0, 0.0, 0.0]}})
    props["emitter"] = mi.load_dict({"type": "area", "radiance": {"type": "mesh_attribute", "name": "vertex_color"}})
    return props


def _sensor(width: int, height: int, fov_y: float, sampler: dict) -> mi.Sensor:
    return mi.load_dict({
        "type": "perspective",
        "fov": fov_y,
        "fov_axis": "y",
        "near_clip": 1e-3,
        "far_clip": 1e4,
        "film": {"type": "hdrfilm", "width": width, "height": height, "rfilter": {"type": "box"}, "pixel_format": "rgb"},
        "sampler": sampler,
    })


class MitsubaScene:
    """The scene's meshes and lights in mitsuba, posed frame by frame.

    meshes: instance meshes in their local frames; lights: static light attributes (light
    ``l`` of the per-frame light arrays); width, height: pixels; fov_y: vertical field of
    view, degrees; max_depth: path length (bounces + 1)."""

    def __init__(self, meshes: list[RenderMesh], lights: list[LightInfo], width: int, height: int,
                 fov_y: float, max_depth: int = 5):
        self.meshes = meshes
        self.lights = lights
        scene = {"type": "scene", "integrator": {"type": "path", "max_depth": max_depth}}
        geometry = {"type": "scene"}
        for mesh in meshes:
            scene[f"instance_{mesh.instance}"] = _mitsuba_mesh(mesh, _shaded_props(mesh), emitting=False)
            geometry[f"instance_{mesh.instance}"] = _mitsuba_mesh(mesh, _emitting_props(), emitting=True)
        for l, light in enumerate(lights):
            scene[f"light_{l}"] = self._light_dict(light)
        self.scene = mi.load_dict(scene)
        self.params = mi.traverse(self.scene)
        self.geometry = mi.load_dict(geometry)
        self.geometry_params = mi.traverse(self.geometry)
        self._open_faces: dict[int, np.ndarray] = {}  # open mesh -> faces as last wound
        self._rgb_sensor = _sensor(width, height, fov_y, {"type": "ldsampler"})
        self._buffer_sensor = _sensor(width, height, fov_y, {"type": "stratified", "sample_count": 1, "jitter": False})
        self._emission = mi.load_dict({"type": "direct", "emitter_samples": 0, "bsdf_samples": 1})
        self._poses: dict[int, np.ndarray] = {}
        self._world: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # instance -> world vertices, normals

    @staticmethod
    def _light_dict(light: LightInfo) -> dict:
        black = {"type": "rgb", "value": [0.0, 0.0, 0.0]}
        if light.type == "point":
            return {"type": "point", "position": [0.0, 0.0, 0.0], "intensity": black}
        if light.type == "spot":
            cutoff = light.spot_angle / 2
            return {"type": "spot", "intensity": black, "cutoff_angle": cutoff,
                    "beam_width": max(cutoff * (1 - light.spot_softness), 1e-3)}
        if light.type == "directional":
            return {"type": "directional", "irradiance": black}
        return {"type": "rectangle", "emitter": {"type": "area", "radiance": black},
                "bsdf": {"type": "diffuse", "reflectance": {"type": "rgb", "value": [0.0, 0.0, 0.0]}}}

    def set_frame(self, poses: np.ndarray, light_position: np.ndarray, light_direction: np.ndarray,
                  light_color: np.ndarray, light_intensity: np.ndarray) -> None:
        """Pose everything for one frame.

        poses (N, 4, 4) instance local -> world (``simulation.instances.instance_poses`` of
        the frame); light_position (L, 3) m; light_direction (L, 3) unit; light_color (L, 3);
        light_intensity (L,)."""
        params = self.params
        for mesh in self.meshes:
            pose = poses[mesh.instance]
            previous = self._poses.get(mesh.instance)
            if previous is not None and np.array_equal(previous, pose):
                continue
            self._poses[mesh.instance] = pose.copy()
            key = f"instance_{mesh.instance}"
            vertices = (mesh.vertices @ pose[:3, :3].T + pose[:3, 3]).astype(np.float32)
            normals = (mesh.normals @ pose[:3, :3].T).astype(np.float32)
            self._world[mesh.instance] = vertices, normals
            _set(params, f"{key}.vertex_positions", vertices.ravel())
            _set(params, f"{key}.vertex_normals", normals.ravel())
            _set(self.geometry_params, f"{key}.vertex_positions", vertices.ravel())
        for l, light in enumerate(self.lights):
            key = f"light_{l}"
            power = (np.asarray(light_color[l]) * float(light_intensity[l])).tolist()
            if light.type == "point":
                _set(params, f"{key}.position", light_position[l].tolist())
                _set(params, f"{key}.intensity.value", power)
            elif light.type == "spot":
                _set(params, f"{key}.to_world", _light_matrix(light_position[l], light_direction[l]).tolist())
                _set(params, f"{key}.intensity.value", power)
            elif light.type == "directional":
                _set(params, f"{key}.to_world", _light_matrix(np.zeros(3), light_direction[l]).tolist())
                _set(params, f"{key}.irradiance.value", power)
            else:
                half = (light.size[0] / 2, light.size[1] / 2, 1.0)
                _set(params, f"{key}.to_world", _light_matrix(light_position[l], light_direction[l], half).tolist())
                _set(params, f"{key}.emitter.radiance.value", power)
        params.update()

    def _place(self, sensor: mi.Sensor, world_to_camera: np.ndarray) -> mi.Sensor:
        params = mi.traverse(sensor)
        _set(params, "to_world", (np.linalg.inv(world_to_camera) @ OPENCV_TO_MITSUBA_CAMERA).tolist())
        params.update()
        return sensor

    def render_rgb(self, world_to_camera: np.ndarray, spp: int, seed: int = 0) -> np.ndarray:
        """(H, W, 3) float32 linear radiance seen from the camera (4, 4) OpenCV world -> camera."""
        image = mi.render(self.scene, sensor=self._place(self._rgb_sensor, world_to_camera), spp=spp, seed=seed)
        return np.asarray(image, dtype=np.float32)

    def _face_camera(self, world_to_camera: np.ndarray) -> None:
        """Wind the triangles of open meshes so that their fronts face the camera."""
        centre = np.linalg.inv(world_to_camera)[:3, 3]
        changed = False
        for mesh in self.meshes:
            if mesh.closed:
                continue
            vertices = self._world[mesh.instance][0]
            a, b, c = (vertices[mesh.faces[:, i]] for i in range(3))
            away = np.einsum("ij,ij->i", np.cross(b - a, c - a), centre - a) < 0
            faces = np.where(away[:, None], mesh.faces[:, [0, 2, 1]], mesh.faces)
            if not np.array_equal(faces, self._open_faces.get(mesh.instance, mesh.faces)):
                self._open_faces[mesh.instance] = faces
                _set(self.geometry_params, f"instance_{mesh.instance}.faces", faces.ravel())
                changed = True
        if changed:
            self.geometry_params.update()

    def _emit(self, world_to_camera: np.ndarray, attribute) -> np.ndarray:
        """(H, W, 3) radiance of the geometry pass in which instance ``i`` emits
        ``attribute(i, vertices, normals)`` ((V, 3) float32 >= 0) at its vertices."""
        params = self.geometry_params
        for instance, (vertices, normals) in self._world.items():
            _set(params, f"instance_{instance}.vertex_color", attribute(instance, vertices, normals).ravel())
        params.update()
        sensor = self._place(self._buffer_sensor, world_to_camera)
        return np.asarray(mi.render(self.geometry, sensor=sensor, integrator=self._emission, spp=1))

    def render_buffers(self, world_to_camera: np.ndarray) -> Buffers:
        """Camera z-depth, shading normal and instance id at every pixel centre."""
        row = world_to_camera[2]

        def depth_and_id(instance, vertices, normals):
            z = vertices @ row[:3] + row[3]
            return np.stack([z, np.full_like(z, instance), np.ones_like(z)], axis=1).astype(np.float32)

        self._face_camera(world_to_camera)
        first = self._emit(world_to_camera, depth_and_id)
        hit = first[..., 2] > 0.5
        second = self._emit(world_to_camera, lambda instance, vertices, normals: normals + NORMAL_OFFSET)
        normal = second - NORMAL_OFFSET
        normal /= np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-12)
        return Buffers(
            depth=np.where(hit, first[..., 0], 0.0).astype(np.float32),
            normal=np.where(hit[..., None], normal, 0.0).astype(np.float32),
            instance=np.where(hit, np.rint(first[..., 1]), 0).astype(np.int32),
        )
