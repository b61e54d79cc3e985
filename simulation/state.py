"""Scene state types: :class:`SceneState` (dynamic state, one frame or stacked) and
:class:`Trajectory` (one state per video frame plus the static attributes of every entity
and the contact events). Saved as a compressed ``.npz`` (arrays) and a ``.json``
(everything else) — no pickle anywhere.

Units: metres, seconds, kilograms, radians; world frame z up; quaternions (x, y, z, w).
Array shapes below use B bodies, L lights, H humanoids, K humanoid links, 18 COCO-18
keypoints; a :class:`SceneState` may carry extra leading axes (``...``), e.g. time.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simulation.finite import check_finite, entity_names

FORMAT = "worldgen.trajectory/1"


@dataclass
class SceneState:
    """Dynamic state. Every array has the same leading axes ``...`` (none for one frame,
    ``(T,)`` inside a trajectory, ``(N, T)`` for a batch of rollouts)."""

    time: np.ndarray  # (...) seconds
    body_position: np.ndarray  # (..., B, 3) centre of mass, m
    body_orientation: np.ndarray  # (..., B, 4) quaternion (x, y, z, w)
    body_linear_velocity: np.ndarray  # (..., B, 3) m/s
    body_angular_velocity: np.ndarray  # (..., B, 3) rad/s, world frame
    light_position: np.ndarray  # (..., L, 3) m
    light_direction: np.ndarray  # (..., L, 3) unit vector the light points along
    light_color: np.ndarray  # (..., L, 3) linear weights in [0, 1]
    light_intensity: np.ndarray  # (..., L) W/sr (point, spot), W/m^2 (directional), W/(m^2 sr) (area)
    humanoid_keypoints: np.ndarray  # (..., H, 18, 3) COCO-18 order, m
    humanoid_link_position: np.ndarray  # (..., H, K, 3) link frame origins, m
    humanoid_link_orientation: np.ndarray  # (..., H, K, 4) quaternion (x, y, z, w)

    def __getitem__(self, index) -> "SceneState":
        """Index the leading axes of every array (``trajectory.states[5]`` is frame 5)."""
        return SceneState(**{k: v[index] for k, v in self.arrays().items()})

    def arrays(self) -> dict[str, np.ndarray]:
        """The state's arrays by field name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def stack(cls, states: list["SceneState"]) -> "SceneState":
        """Stack states along a new leading axis."""
        return cls(**{f.name: np.stack([getattr(s, f.name) for s in states]) for f in dataclasses.fields(cls)})


@dataclass
class BodyInfo:
    """Static attributes of a rigid body (index b in the body arrays).

    ``size``: box [x, y, z] full extents; sphere [radius]; cylinder and capsule [radius,
    height]; mesh and asset: the full extents of the collision shape's bounding box.
    ``frame_offset_*``: pose of the mesh file's / URDF link's own frame in the body frame
    (the centre-of-mass frame that the state's poses describe); identity for primitives."""

    name: str
    shape: str
    size: list[float]
    mass: float  # kg (0 for fixed bodies: pybullet's static)
    friction: float
    rolling_friction: float
    spinning_friction: float
    restitution: float
    fixed: bool
    material: dict[str, Any]
    scale: float = 1.0
    mesh: str | None = None  # absolute path of the mesh file
    asset: str | None = None  # pybullet_data asset name
    urdf: str | None = None  # absolute path of the asset's URDF
    frame_offset_position: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    frame_offset_orientation: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, 1.0])


@dataclass
class LightInfo:
    """Static attributes of a light (index l in the light arrays)."""

    name: str
    type: str  # point | spot | directional | area
    spot_angle: float  # full cone angle, degrees
    spot_softness: float
    size: list[float]  # area light [width, height], m
    attach_to: str | None = None


@dataclass
class HumanoidInfo:
    """Static attributes of a humanoid (index h in the humanoid arrays)."""

    name: str
    motion: str
    scale: float
    link_names: list[str]  # K names, order of the link arrays
    keypoint_names: list[str]  # the 18 COCO-18 names


@dataclass
class ContactEvent:
    """Contact between two entities during one video frame, summed over its physics
    steps and contact points. Entities are named: ``floor``, an object's name, or
    ``HUMANOID/LINK`` for a humanoid link."""

    frame: int  # the frame whose interval [frame - 1, frame] saw the contact
    a: str
    b: str
    impulse: float  # total normal impulse, N s
    position: list[float]  # impulse-weighted mean contact point, world, m
    normal: list[float]  # unit contact normal, pointing from b to a


@dataclass
class Trajectory:
    """One state per video frame (frame 0 = initial state) and what does not change."""

    fps: int
    physics_hz: int
    states: SceneState  # arrays with leading axis T
    bodies: list[BodyInfo]
    lights: list[LightInfo]
    humanoids: list[HumanoidInfo]
    contacts: list[ContactEvent]
    scene: dict[str, Any]  # the concrete scene it came from (plain data)
    engine: str = "pybullet"

    def __len__(self) -> int:
        return int(self.states.time.shape[0])

    def __getitem__(self, t: int) -> SceneState:
        return self.states[t]

    def body_index(self, name: str) -> int:
        """Index of the body called ``name``."""
        for i, body in enumerate(self.bodies):
            if body.name == name:
                return i
        raise KeyError(f"no body named {name!r}")

    def document(self) -> dict[str, Any]:
        """Everything but the state arrays, as plain JSON-ready data (``trajectory.json``)."""
        return {
            "format": FORMAT,
            "engine": self.engine,
            "fps": self.fps,
            "physics_hz": self.physics_hz,
            "num_frames": len(self),
            "bodies": [dataclasses.asdict(b) for b in self.bodies],
            "lights": [dataclasses.asdict(x) for x in self.lights],
            "humanoids": [dataclasses.asdict(h) for h in self.humanoids],
            "contacts": [dataclasses.asdict(c) for c in self.contacts],
            "scene": self.scene,
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any], arrays, where: str = "trajectory") -> "Trajectory":
        """Rebuild a trajectory from :meth:`document` and the state arrays (a mapping by
        field name, e.g. an open ``np.load``); ``where`` names the source in errors."""
        if doc.get("format") != FORMAT:
            raise ValueError(f"{where}: expected format {FORMAT}, got {doc.get('format')!r}")
        states = SceneState(**{f.name: np.asarray(arrays[f.name]) for f in dataclasses.fields(SceneState)})
        return cls(
            fps=doc["fps"],
            physics_hz=doc["physics_hz"],
            states=states,
            bodies=[BodyInfo(**b) for b in doc["bodies"]],
            lights=[LightInfo(**x) for x in doc["lights"]],
            humanoids=[HumanoidInfo(**h) for h in doc["humanoids"]],
            contacts=[ContactEvent(**c) for c in doc["contacts"]],
            scene=doc["scene"],
            engine=doc["engine"],
        )

    def save(self, folder: str | Path) -> tuple[Path, Path]:
        """Write ``trajectory.npz`` and ``trajectory.json`` into ``folder``, each through
        a temporary file renamed into place (an interrupted save leaves no torn file).
        A trajectory whose state is not finite is refused (a :class:`SceneError`)."""
        check_finite(self.states.arrays(), entity_names(self), self.fps)
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        npz, meta = folder / "trajectory.npz", folder / "trajectory.json"
        tmp = folder / ".trajectory.npz.tmp"
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **self.states.arrays())
        os.replace(tmp, npz)
        tmp = folder / ".trajectory.json.tmp"
        tmp.write_text(json.dumps(self.document(), indent=1))
        os.replace(tmp, meta)
        return npz, meta

    @classmethod
    def load(cls, folder: str | Path) -> "Trajectory":
        """Read a trajectory written by :meth:`save` (arrays loaded without pickle)."""
        folder = Path(folder)
        doc = json.loads((folder / "trajectory.json").read_text())
        with np.load(folder / "trajectory.npz", allow_pickle=False) as data:
            return cls.from_document(doc, data, str(folder / "trajectory.json"))
