"""One dataset episode: resolve the family's scene for a seed, simulate it with pybullet,
reject it if the simulation went wrong, render it with the reference renderer and encode
every modality as WebDataset members (``{key}.{field}``). A states-only episode
(``states_only=True``, content ``"state"``) skips rendering: it holds only the
``trajectory``, ``events``, ``scene`` members and a reduced ``metadata.json`` (see
:func:`state_metadata`).

Members of an episode (T frames, H x W pixels, N instance ids, B bodies, P humanoids):

===========================  ===============================================================
``rgb.000.png`` ...          RGB frame t, sRGB uint8, lossless
``rgb.mp4``                  H.264 preview of the RGB frames
``depth.npz``                ``depth`` (T, H, W) float32 metric z-depth, m (0 = background)
``segmentation.npz``         ``instance`` (T, H, W) uint16 instance ids (see instances)
``normal.npz``               ``normal`` (T, 3, H, W) float16 unit world-frame normals
``flow.npz``                 ``forward``/``backward`` (T, 2, H, W) float32 pixels (x, y),
                             rounded to 1/1024 px; ``forward_occluded``/``backward_occluded``
                             (T, H, W) bool
``object_coordinates.npz``   ``coordinates`` (T, 3, H, W) float32: the surface point in its
                             body's or humanoid link's local frame, m, rounded to 1/8192 m
                             (Kubric's object coordinates, metric); 0 on floor and background
``controls.npz``             the control stack: ``maps`` (T, 10, H, W) uint8, ``flow``
                             (T, 2, H, W) float16, ``occlusion`` (T, H, W) bool,
                             ``channels`` (layout in :mod:`control.stack`)
``skeleton.npz``             ``keypoints_3d`` (T, P, 18, 3) world m; ``keypoints_2d``
                             (T, P, 18, 2) pixels; ``visible`` (T, P, 18) bool (COCO-18)
``camera.npz``               ``K`` (T, 3, 3) pixels; ``world_to_camera`` (T, 4, 4) OpenCV
``trajectory.npz/.json``     the full :class:`~simulation.state.Trajectory`
``events.json``              collision events (frame, a, b, impulse N s, position, normal)
``metadata.json``            episode and per-instance metadata (see :func:`metadata`)
``scene.yaml``               the concrete scene
===========================  ===============================================================
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
from scipy.spatial import ConvexHull, QhullError

from worldgen.dataset.family import FamilySpec, episode_scene
from worldgen.dataset.store import Episode
from worldgen.io.encoding import json_bytes, npz_bytes, png_bytes
from worldgen.io.video import video_bytes
from worldgen.scene import scene_to_yaml

MEMBER_FORMAT = "worldgen.episode/1"
FLOW_STEP = 2.0**-10  # pixels: stored flow is exact to 1/2048 px
COORDINATE_STEP = 2.0**-13  # metres: stored object coordinates are exact to 0.06 mm


def rejection_reason(trajectory, reject) -> str | None:
    """Why a simulated trajectory is unusable, or None. ``reject``: a RejectSpec."""
    states = trajectory.states
    for name, array in states.arrays().items():
        if not np.all(np.isfinite(array)):
            return f"non-finite {name} (simulation blew up)"
    if not trajectory.bodies:
        return None
    movable = np.array([not b.fixed for b in trajectory.bodies])
    speed = np.linalg.norm(states.body_linear_velocity[:, movable], axis=-1)
    if speed.size and speed.max() > reject.max_speed:
        t, b = np.unravel_index(int(speed.argmax()), speed.shape)
        return f"body {trajectory.bodies[np.flatnonzero(movable)[b]].name} reached {speed.max():.1f} m/s at frame {t} (max_speed {reject.max_speed})"
    position = states.body_position[:, movable]
    distance = np.linalg.norm(position, axis=-1)
    if distance.size and distance.max() > reject.max_distance:
        return f"a body flew {distance.max():.1f} m from the origin (max_distance {reject.max_distance})"
    if position.size and position[..., 2].min() < reject.min_height:
        return f"a body fell to z = {position[..., 2].min():.2f} m (min_height {reject.min_height})"
    return None


def generate_episode(family: FamilySpec, split: str, index: int, dynamics: str = "pybullet",
                     states_only: bool = False) -> Episode:
    """Simulate, check and render episode ``index`` of ``split``; encode its members.
    ``states_only``: no rendering; only the state members and :func:`state_metadata`."""
    from simulation.engines import make_engine

    start = time.perf_counter()
    seed = family.seed(split, index)
    scene = episode_scene(family, seed)
    trajectory = make_engine(dynamics).rollout(scene)
    reason = rejection_reason(trajectory, family.reject)
    if reason is not None:
        return Episode(index, seed, {}, reason, time.perf_counter() - start)
    if states_only:
        members = state_members(scene, trajectory, state_metadata(family, split, index, seed, trajectory))
    else:
        members, clip = rendered_members(family, scene, trajectory)
        members.update(state_members(scene, trajectory, metadata(family, split, index, seed, trajectory, clip)))
    return Episode(index, seed, members, None, time.perf_counter() - start)


def rendered_members(family: FamilySpec, scene, trajectory) -> tuple[dict[str, bytes], object]:
    """Render ``trajectory`` through the family's camera: the image members (RGB to
    camera) and the rendered clip (a :class:`renderer.pbr.render.RenderedClip`)."""
    from control.skeleton_map import project_keypoints
    from renderer.pbr.render import RenderSettings
    from worldgen.pipelines.clip import render_controls

    camera = next((c for c in scene.cameras if c.name == family.camera), scene.cameras[0])
    rendered = render_controls(trajectory, camera, RenderSettings(spp=family.spp, max_depth=family.max_depth),
                               coordinates=True)
    clip, flow = rendered.clip, rendered.flow
    width, height = clip.size
    T = len(clip.frames)
    coordinates = rendered.coordinates.transpose(0, 3, 1, 2)
    keypoints_2d = np.zeros(clip.keypoints.shape[:-1] + (2,), np.float32)
    visible = np.zeros(clip.keypoints.shape[:-1], bool)
    for t in range(T):
        keypoints_2d[t], visible[t] = project_keypoints(clip.keypoints[t], clip.K, clip.world_to_camera[t], width, height)

    members = {f"rgb.{t:03d}.png": png_bytes(clip.rgb[t]) for t in range(T)}
    members["rgb.mp4"] = video_bytes(clip.rgb, trajectory.fps)
    members["depth.npz"] = npz_bytes(depth=clip.depth)
    members["segmentation.npz"] = npz_bytes(instance=clip.instance.astype(np.uint16))
    members["normal.npz"] = npz_bytes(normal=clip.normal.astype(np.float16))
    members["flow.npz"] = npz_bytes(forward=_quantise(flow.forward, FLOW_STEP), backward=_quantise(flow.backward, FLOW_STEP),
                                    forward_occluded=flow.forward_occluded, backward_occluded=flow.backward_occluded)
    on_objects = (clip.instance >= 2)[:, None]
    members["object_coordinates.npz"] = npz_bytes(coordinates=np.where(on_objects, _quantise(coordinates, COORDINATE_STEP), 0).astype(np.float32))
    members["controls.npz"] = npz_bytes(**rendered.maps.arrays())
    members["skeleton.npz"] = npz_bytes(keypoints_3d=clip.keypoints.astype(np.float32),
                                        keypoints_2d=keypoints_2d, visible=visible)
    members["camera.npz"] = npz_bytes(K=np.repeat(clip.K[None], T, axis=0), world_to_camera=clip.world_to_camera)
    return members, clip


def state_members(scene, trajectory, meta: dict) -> dict[str, bytes]:
    """The members every episode has: trajectory, events, ``meta`` as metadata.json, scene."""
    return {
        "trajectory.npz": npz_bytes(**trajectory.states.arrays()),
        "trajectory.json": json_bytes(trajectory.document()),
        "events.json": json_bytes([dataclasses.asdict(c) for c in trajectory.contacts]),
        "metadata.json": json_bytes(meta),
        "scene.yaml": scene_to_yaml(scene).encode(),
    }


def _quantise(x: np.ndarray, step: float) -> np.ndarray:
    """float32 ``x`` rounded to multiples of ``step`` (a power of two, so exactly): float
    noise far below the step goes, and the arrays compress about tenfold."""
    return (np.round(x / step) * step).astype(np.float32)


def metadata(family: FamilySpec, split: str, index: int, seed: int, trajectory, clip) -> dict:
    """Episode metadata: ids, sizes, camera, and per instance (``instances``, indexed by
    instance id): name, kind, and for bodies shape, asset, size (see BodyInfo), mass (kg),
    friction, restitution, colour (sRGB), per-frame ``position`` (m), ``quaternion``
    (x, y, z, w), ``linear_velocity`` (m/s) and ``angular_velocity`` (rad/s); for every
    instance per frame ``pixels`` (visible pixel count), ``bbox`` ([x0, y0, x1, y1]
    pixel-edge bounds of the visible pixels, None when unseen) and ``visibility``: visible
    pixels / area of the whole projected silhouette (the convex hull of the projected mesh:
    exact for convex shapes, an underestimate for concave ones), so both occlusion and
    leaving the frame lower it; None when the object is partly behind the camera."""
    from renderer.pbr.meshes import scene_meshes

    states = trajectory.states
    table = clip.instances
    width, height = clip.size
    hull_area = _silhouette_areas(scene_meshes(trajectory, table), clip.poses, clip.K, clip.world_to_camera)
    instances = []
    for i, (name, kind) in enumerate(zip(table.names, table.kinds)):
        record: dict = {"id": i, "name": name, "kind": kind}
        b = int(table.body[i])
        if b >= 0:
            info = trajectory.bodies[b]
            record.update(
                **body_attributes(info),
                color=info.material.get("color"), roughness=info.material.get("roughness"),
                metallic=info.material.get("metallic"),
                position=_rows(states.body_position[:, b]), quaternion=_rows(states.body_orientation[:, b]),
                linear_velocity=_rows(states.body_linear_velocity[:, b]),
                angular_velocity=_rows(states.body_angular_velocity[:, b]),
            )
        elif kind == "humanoid_link":
            record.update(humanoid=trajectory.humanoids[int(table.humanoid[i])].name,
                          position=_rows(clip.poses[:, i, :3, 3]))
        mask = clip.instance == i
        pixels = mask.sum(axis=(1, 2))
        record["pixels"] = [int(p) for p in pixels]
        record["bbox"] = [_bbox(m) if p else None for m, p in zip(mask, pixels)]
        if i >= 2:  # instances without a mesh (a humanoid's root link) have no silhouette
            areas = hull_area.get(i, [None] * len(pixels))
            record["visibility"] = [None if a is None else float(min(1.0, p / a)) if a > 0 else 0.0
                                    for p, a in zip(pixels, areas)]
        instances.append(record)
    return {
        **_episode_identity(family, split, index, seed, trajectory),
        "width": width,
        "height": height,
        "camera": clip.camera,
        "spp": family.spp,
        "renderer": f"mitsuba {clip.variant}",
        **_entity_counts(trajectory),
        "instances": instances,
    }


def state_metadata(family: FamilySpec, split: str, index: int, seed: int, trajectory) -> dict:
    """Metadata of a states-only episode: the identity fields of :func:`metadata`,
    ``content: "state"`` and, per body (``bodies``, in the order of the state's body
    axis), its instance ``id``, ``name`` and static attributes (see :func:`body_attributes`).
    Full episodes carry no ``content`` key (it means ``"all"``)."""
    from simulation.instances import InstanceTable

    table = InstanceTable.of(trajectory)
    bodies = [{"id": table.body_id(b), "name": info.name, **body_attributes(info)}
              for b, info in enumerate(trajectory.bodies)]
    return {**_episode_identity(family, split, index, seed, trajectory), "content": "state",
            **_entity_counts(trajectory), "bodies": bodies}


def body_attributes(info) -> dict:
    """Static attributes of a body (a BodyInfo): shape, asset, size, scale, mass (kg),
    friction, restitution, fixed."""
    return dict(shape=info.shape, asset=info.asset, size=info.size, scale=info.scale, mass=info.mass,
                friction=info.friction, restitution=info.restitution, fixed=info.fixed)


def _episode_identity(family: FamilySpec, split: str, index: int, seed: int, trajectory) -> dict:
    return {"format": MEMBER_FORMAT, "family": family.name, "split": split, "index": index, "seed": seed,
            "num_frames": len(trajectory), "fps": trajectory.fps}


def _entity_counts(trajectory) -> dict:
    return {"num_bodies": len(trajectory.bodies), "num_humanoids": len(trajectory.humanoids)}


def _rows(array: np.ndarray) -> list[list[float]]:
    return [[float(v) for v in row] for row in array]


def _bbox(mask: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def _silhouette_areas(meshes, poses: np.ndarray, K: np.ndarray, world_to_camera: np.ndarray) -> dict[int, list]:
    """Per instance id, per frame: area (pixels^2) of the convex hull of its projected
    vertices, or None when a vertex lies behind the camera."""
    areas: dict[int, list] = {}
    for mesh in meshes:
        local = np.concatenate([mesh.vertices, np.ones((len(mesh.vertices), 1))], axis=1)
        per_frame = []
        for pose, E in zip(poses[:, mesh.instance], world_to_camera):
            cam = local @ (E @ pose)[:3].T
            if np.any(cam[:, 2] <= 1e-6):
                per_frame.append(None)
                continue
            pixels = (cam @ K.T)[:, :2] / cam[:, 2:3]
            try:
                per_frame.append(float(ConvexHull(pixels).volume))  # a 2-D hull's volume is its area
            except QhullError:  # degenerate (edge-on flat mesh)
                per_frame.append(0.0)
        areas[mesh.instance] = per_frame
    return areas
