"""Entities of the learned world model: every rigid body, the floor, every light and every
humanoid link is one entity (one graph node).

Per scene the entities are ordered ``[bodies (B), floor (0 or 1), lights (L), humanoid
links (H*K)]``. :class:`EntityTable` holds what does not change (kind, shape, physical
and light attributes) and :class:`EntityState` one frame of motion; both are padded to N
entities per scene so that S scenes of different sizes batch together (``kind == PAD``
marks padding). Bodies and lights are predicted; the floor, fixed bodies and humanoid
links (whose motion the mocap clip gives) are kinematic.

Velocities follow the learned-simulator convention: ``velocity`` at frame t is the mean
velocity over the last frame, ``(x_t - x_{t-1}) * fps`` (m/s), and ``angular_velocity``
the rotation vector of ``q_t q_{t-1}^-1`` times fps (rad/s, world frame), so that integrating
them reproduces the poses exactly. Frame 0 has no previous frame: bodies use their
instantaneous initial velocities; lights and links have none (``has_velocity`` 0)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch

from simulation.dynamics import rotations
from simulation.state import Trajectory

PAD, BODY, FIXED, FLOOR, LIGHT, LINK = -1, 0, 1, 2, 3, 4
NUM_KINDS = 5
LIGHT_TYPES = ("point", "spot", "directional", "area")
LINK_RADIUS = 0.07  # m at humanoid scale 1: a humanoid link's collision stand-in (a sphere)
MIN_INTENSITY = 1e-3  # log-intensity floor (a light switched off)


@dataclass
class EntityTable:
    """Static attributes of S scenes' entities, padded to N.

    kind (S, N) long: BODY, FIXED, FLOOR, LIGHT, LINK or PAD.
    geometry (S, N, 5) m: the shape as a support function: box half extents (3) in the
    body frame, disc radius (round in the body's x-y plane) and rounding radius, so that a
    box is (hx, hy, hz, 0, 0), a sphere (0, 0, 0, 0, r), a cylinder (0, 0, h/2, r, 0) and a
    capsule (0, 0, h/2, 0, r). Meshes use their bounding box.
    physics (S, N, 3): log mass (kg; 0 unless a body), friction, restitution.
    light_type (S, N, 4): one-hot point, spot, directional, area.
    carrier (S, N) long: entity index of the body a light rides on, -1 if none."""

    kind: torch.Tensor
    geometry: torch.Tensor
    physics: torch.Tensor
    light_type: torch.Tensor
    carrier: torch.Tensor

    def rows(self, scenes: torch.Tensor) -> "EntityTable":
        """The table of the given scenes (indices into the scene axis)."""
        return EntityTable(**{f.name: getattr(self, f.name)[scenes] for f in dataclasses.fields(self)})

    def to(self, device: str | torch.device) -> "EntityTable":
        """The table on ``device``."""
        return EntityTable(**{f.name: getattr(self, f.name).to(device) for f in dataclasses.fields(self)})

    @property
    def predicted(self) -> torch.Tensor:
        """(S, N) bool: entities whose motion the model predicts (bodies, lights)."""
        return (self.kind == BODY) | (self.kind == LIGHT)

    @property
    def solid(self) -> torch.Tensor:
        """(S, N) bool: entities with a shape that collides (bodies, fixed bodies, humanoid links)."""
        return (self.kind == BODY) | (self.kind == FIXED) | (self.kind == LINK)


@dataclass
class EntityState:
    """One frame of every entity's motion (leading axes ``(..., N)``; a track adds a time
    axis before N). Non-lights have direction 0, colour 0 and log-intensity 0.

    position (..., N, 3) m; orientation (..., N, 4) quaternion (x, y, z, w);
    velocity, previous_velocity (..., N, 3) m/s; angular_velocity,
    previous_angular_velocity (..., N, 3) rad/s; has_velocity, has_previous (..., N) 0/1;
    direction (..., N, 3) unit; color (..., N, 3) linear [0, 1]; log_intensity (..., N);
    direction_change, color_change, log_intensity_change: the change over the last frame."""

    position: torch.Tensor
    orientation: torch.Tensor
    velocity: torch.Tensor
    angular_velocity: torch.Tensor
    previous_velocity: torch.Tensor
    previous_angular_velocity: torch.Tensor
    has_velocity: torch.Tensor
    has_previous: torch.Tensor
    direction: torch.Tensor
    color: torch.Tensor
    log_intensity: torch.Tensor
    direction_change: torch.Tensor
    color_change: torch.Tensor
    log_intensity_change: torch.Tensor

    def fields(self) -> dict[str, torch.Tensor]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def map(self, fn) -> "EntityState":
        """A state with ``fn`` applied to every tensor."""
        return EntityState(**{k: fn(v) for k, v in self.fields().items()})

    def where(self, mask: torch.Tensor, other: "EntityState") -> "EntityState":
        """``self`` where ``mask`` (..., N) is true, ``other`` elsewhere."""
        out = {}
        for name, a in self.fields().items():
            m = mask.reshape(mask.shape + (1,) * (a.dim() - mask.dim()))
            out[name] = torch.where(m, a, getattr(other, name))
        return EntityState(**out)


def _geometry(shape: str, size: list[float]) -> list[float]:
    if shape == "sphere":
        return [0.0, 0.0, 0.0, 0.0, size[0]]
    if shape == "cylinder":
        return [0.0, 0.0, size[1] / 2, size[0], 0.0]
    if shape == "capsule":
        return [0.0, 0.0, size[1] / 2, 0.0, size[0]]
    return [s / 2 for s in size[:3]] + [0.0, 0.0]  # box, mesh, asset: the (bounding) box


def scene_entities(trajectory: Trajectory) -> dict[str, np.ndarray]:
    """Static attributes of one trajectory's entities, unpadded (arrays as in
    :class:`EntityTable` without the scene axis)."""
    floor = trajectory.scene.get("floor", {})
    has_floor = bool(floor.get("enabled", True))
    K = len(trajectory.humanoids[0].link_names) if trajectory.humanoids else 0
    kinds, geometry, physics, light_type, carrier = [], [], [], [], []
    for body in trajectory.bodies:
        kinds.append(FIXED if body.fixed or body.mass <= 0 else BODY)
        geometry.append(_geometry(body.shape, body.size))
        physics.append([math.log(body.mass) if body.mass > 0 else 0.0, body.friction, body.restitution])
    if has_floor:
        kinds.append(FLOOR)
        geometry.append([0.0] * 5)
        physics.append([0.0, float(floor.get("friction", 0.8)), float(floor.get("restitution", 0.0))])
    names = {b.name: i for i, b in enumerate(trajectory.bodies)}
    for light in trajectory.lights:
        kinds.append(LIGHT)
        geometry.append([0.0] * 5)
        physics.append([0.0, 0.0, 0.0])
        light_type.append(len(kinds) - 1)
        carrier.append(names.get(light.attach_to, -1) if light.attach_to else -1)
    for humanoid in trajectory.humanoids:
        for _ in range(K):
            kinds.append(LINK)
            geometry.append([0.0, 0.0, 0.0, 0.0, LINK_RADIUS * humanoid.scale])
            physics.append([0.0, 0.0, 0.0])
    N = len(kinds)
    types = np.zeros((N, len(LIGHT_TYPES)))
    carriers = np.full(N, -1)
    for index, light, c in zip(light_type, trajectory.lights, carrier):
        types[index, LIGHT_TYPES.index(light.type)] = 1.0
        carriers[index] = c
    return {"kind": np.array(kinds, dtype=np.int64), "geometry": np.array(geometry, dtype=float).reshape(N, 5),
            "physics": np.array(physics, dtype=float).reshape(N, 3), "light_type": types, "carrier": carriers}


def scene_tracks(trajectory: Trajectory) -> dict[str, np.ndarray]:
    """Every entity's raw motion over the trajectory (float64): position (T, N, 3),
    orientation (T, N, 4), direction, color (T, N, 3), log_intensity (T, N), and the
    instantaneous velocities of the bodies at frame 0, initial_velocity and
    initial_angular_velocity (N, 3) (0 for other entities)."""
    s = trajectory.states
    T, B = s.body_position.shape[:2]
    has_floor = bool(trajectory.scene.get("floor", {}).get("enabled", True))
    L = s.light_position.shape[1]
    links_p = s.humanoid_link_position.reshape(T, -1, 3)
    links_q = s.humanoid_link_orientation.reshape(T, -1, 4)
    F = int(has_floor)
    identity = np.tile([0.0, 0.0, 0.0, 1.0], (T, F + L, 1))
    position = np.concatenate([s.body_position, np.zeros((T, F, 3)), s.light_position, links_p], axis=1)
    orientation = np.concatenate([s.body_orientation, identity, links_q], axis=1)
    N = position.shape[1]
    direction = np.zeros((T, N, 3))
    color = np.zeros((T, N, 3))
    log_intensity = np.zeros((T, N))
    lights = slice(B + F, B + F + L)
    direction[:, lights] = s.light_direction
    color[:, lights] = s.light_color
    log_intensity[:, lights] = np.log(np.maximum(s.light_intensity, MIN_INTENSITY))
    initial_velocity = np.zeros((N, 3))
    initial_angular = np.zeros((N, 3))
    initial_velocity[:B] = s.body_linear_velocity[0]
    initial_angular[:B] = s.body_angular_velocity[0]
    return {"position": position, "orientation": orientation, "direction": direction, "color": color,
            "log_intensity": log_intensity, "initial_velocity": initial_velocity,
            "initial_angular_velocity": initial_angular}


def track_states(tracks: dict[str, torch.Tensor], kind: torch.Tensor, fps: float) -> EntityState:
    """The :class:`EntityState` of every frame of raw tracks (leading axes ``(..., T, N)``,
    as from :func:`scene_tracks`, with ``initial_*`` of shape (..., N, 3)); ``kind``
    (..., N). Frame 0 takes the bodies' instantaneous velocities."""
    p, q = tracks["position"], rotations.normalise(tracks["orientation"])
    T = p.shape[-3]
    body = (kind == BODY) | (kind == FIXED)
    first_v = tracks["initial_velocity"].unsqueeze(-3)
    first_w = tracks["initial_angular_velocity"].unsqueeze(-3)
    v = torch.cat([first_v, (p[..., 1:, :, :] - p[..., :-1, :, :]) * fps], dim=-3)
    w = torch.cat([first_w, rotations.to_rotation_vector(rotations.multiply(q[..., 1:, :, :], rotations.conjugate(q[..., :-1, :, :]))) * fps], dim=-3)
    frame = torch.arange(T, device=p.device).reshape((T, 1))
    known = (frame >= 1) | body.unsqueeze(-2)
    has_velocity = known.to(p.dtype).expand(p.shape[:-1])
    has_previous = (frame >= 1).to(p.dtype).expand(p.shape[:-1])

    def previous(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.zeros_like(x[..., :1, :, :]), x[..., :-1, :, :]], dim=-3)

    def change(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.zeros_like(x[..., :1, :, :]), x[..., 1:, :, :] - x[..., :-1, :, :]], dim=-3)

    log_i = tracks["log_intensity"].unsqueeze(-1)
    return EntityState(
        position=p, orientation=q, velocity=v * has_velocity.unsqueeze(-1), angular_velocity=w * has_velocity.unsqueeze(-1),
        previous_velocity=previous(v) * has_previous.unsqueeze(-1), previous_angular_velocity=previous(w) * has_previous.unsqueeze(-1),
        has_velocity=has_velocity, has_previous=has_previous, direction=tracks["direction"], color=tracks["color"],
        log_intensity=tracks["log_intensity"], direction_change=change(tracks["direction"]),
        color_change=change(tracks["color"]), log_intensity_change=change(log_i).squeeze(-1),
    )


_ENTITY_FIRST = ("kind", "geometry", "physics", "light_type", "carrier", "initial_velocity", "initial_angular_velocity")


def _pad(a: np.ndarray, n: int, axis: int, key: str) -> np.ndarray:
    """``a`` padded along ``axis`` to ``n`` entities: kind PAD, carrier -1, orientation
    the identity quaternion, anything else 0."""
    missing = n - a.shape[axis]
    if missing <= 0:
        return a
    shape = list(a.shape)
    shape[axis] = missing
    pad = np.full(shape, {"kind": PAD, "carrier": -1}.get(key, 0), dtype=a.dtype)
    if key == "orientation":
        pad[..., 3] = 1
    return np.concatenate([a, pad], axis=axis)


def pad_stack(items: list[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    """Stack per-scene arrays (from :func:`scene_entities` and :func:`scene_tracks`) into
    tensors with a leading scene axis S, padding the entity axis to the largest N (axis 0
    of the static arrays, axis 1, after time, of the tracks). Integers become int64,
    floats float32."""
    def axis(key: str) -> int:
        return 0 if key in _ENTITY_FIRST else 1

    first = next(iter(items[0]))
    N = max(item[first].shape[axis(first)] for item in items)
    out = {}
    for key in items[0]:
        stacked = np.stack([_pad(item[key], N, axis(key), key) for item in items])
        out[key] = torch.from_numpy(stacked.astype(np.int64 if stacked.dtype.kind in "iu" else np.float32))
    return out
