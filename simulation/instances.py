"""Instance ids of a trajectory's surfaces, and each instance's rigid pose over time.

Layout (docs/design.md): id 0 = background (no surface hit), id 1 = the floor, ids 2 .. B+1 =
the rigid bodies in ``trajectory.bodies`` order, then one id per humanoid link, humanoid by
humanoid, in ``link_names`` order. Ids depend only on the trajectory's entities, so they are
stable over time and the same for every camera.

Every surface point of an instance is fixed in that instance's local frame, whose pose is
``poses[t, id]``: the identity for background and floor, the centre-of-mass pose for
bodies, the URDF link frame for humanoid links. The renderer places geometry with these
poses and the exact optical flow moves hit points with them, so both always agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulation.state import SceneState, Trajectory
from worldgen.scene.rotations import rotation_matrix

BACKGROUND = 0
FLOOR = 1


@dataclass(frozen=True)
class InstanceTable:
    """What each instance id is. Arrays have length N = number of ids (background included)."""

    names: tuple[str, ...]  # "background", "floor", body names, "HUMANOID/LINK"
    kinds: tuple[str, ...]  # background | floor | body | humanoid_link
    body: np.ndarray  # (N,) int body index, -1 when not a body
    humanoid: np.ndarray  # (N,) int humanoid index, -1 when not a humanoid link
    link: np.ndarray  # (N,) int link index within its humanoid, -1 otherwise

    @classmethod
    def of(cls, trajectory: Trajectory) -> "InstanceTable":
        names, kinds, body, humanoid, link = ["background", "floor"], ["background", "floor"], [-1, -1], [-1, -1], [-1, -1]
        for b, info in enumerate(trajectory.bodies):
            names.append(info.name), kinds.append("body"), body.append(b), humanoid.append(-1), link.append(-1)
        for h, info in enumerate(trajectory.humanoids):
            for k, link_name in enumerate(info.link_names):
                names.append(f"{info.name}/{link_name}"), kinds.append("humanoid_link")
                body.append(-1), humanoid.append(h), link.append(k)
        return cls(tuple(names), tuple(kinds), np.array(body), np.array(humanoid), np.array(link))

    def __len__(self) -> int:
        return len(self.names)

    def body_id(self, b: int) -> int:
        """Instance id of body ``b``."""
        return 2 + b

    def link_id(self, h: int, k: int) -> int:
        """Instance id of link ``k`` of humanoid ``h``."""
        return int(np.flatnonzero((self.humanoid == h) & (self.link == k))[0])

    def to_json(self) -> list[dict]:
        """One record per id (for saving next to the buffers)."""
        return [
            {"id": i, "name": n, "kind": k, "body": int(b), "humanoid": int(h), "link": int(l)}
            for i, (n, k, b, h, l) in enumerate(zip(self.names, self.kinds, self.body, self.humanoid, self.link))
        ]


def instance_poses(table: InstanceTable, states: SceneState) -> np.ndarray:
    """(T, N, 4, 4) local -> world transform of every instance at every frame of ``states``
    (leading axis T). Background and floor are the identity."""
    T = states.time.shape[0]
    poses = np.tile(np.eye(4), (T, len(table), 1, 1))
    bodies = table.body >= 0
    if bodies.any():
        b = table.body[bodies]
        poses[:, bodies] = _rigid(states.body_position[:, b], states.body_orientation[:, b])
    links = table.humanoid >= 0
    if links.any():
        h, k = table.humanoid[links], table.link[links]
        poses[:, links] = _rigid(states.humanoid_link_position[:, h, k], states.humanoid_link_orientation[:, h, k])
    return poses


def _rigid(position: np.ndarray, orientation: np.ndarray) -> np.ndarray:
    """(..., 4, 4) transforms from positions (..., 3) and quaternions (..., 4) (x, y, z, w)."""
    out = np.zeros(position.shape[:-1] + (4, 4))
    out[..., :3, :3] = rotation_matrix(orientation)
    out[..., :3, 3] = position
    out[..., 3, 3] = 1.0
    return out
