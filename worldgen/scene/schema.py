"""The typed scene schema: what a scene YAML may say, with defaults.

Units: metres, kilograms, seconds; angles in the YAML are **degrees** (field names say so)
and become radians in code. World frame: right-handed, z up. Quaternions are (x, y, z, w).

These models check types, ranges and unknown fields. Rules that relate fields to each other
or to files (shape-specific sizes, asset names, references between entities) live in
:mod:`worldgen.scene.checks`, so that each rule reports its own field path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr

from worldgen.scene.limits import MAX_MAGNITUDE

PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]
UnitFloat = Annotated[float, Field(ge=0, le=1)]


def _vector(n: int, what: str):
    """A before-validator that accepts a list of exactly ``n`` items and names the layout."""

    def check(value):
        if isinstance(value, (list, tuple)) and len(value) == n:
            return tuple(value)
        raise ValueError(f"expected a list of {n} numbers {what}, got {value!r}")

    return BeforeValidator(check)


def _color(value):
    """Colours are [r, g, b] in [0, 1] (sRGB) or a hex string '#rrggbb'."""
    if isinstance(value, str) and len(value) == 7 and value.startswith("#"):
        try:
            return tuple(int(value[i : i + 2], 16) / 255.0 for i in (1, 3, 5))
        except ValueError:
            pass
    if isinstance(value, (list, tuple)) and len(value) == 3:
        return tuple(value)
    raise ValueError(f"expected a colour [r, g, b] with values in [0, 1] or '#rrggbb', got {value!r}")


Coordinate = Annotated[float, Field(ge=-MAX_MAGNITUDE, le=MAX_MAGNITUDE)]
Vec2 = Annotated[tuple[Coordinate, Coordinate], _vector(2, "[x, y]")]
Vec3 = Annotated[tuple[Coordinate, Coordinate, Coordinate], _vector(3, "[x, y, z]")]
Size2 = Annotated[tuple[PositiveFloat, PositiveFloat], _vector(2, "[width, depth] (m, > 0)")]
Size3 = Annotated[
    tuple[PositiveFloat, PositiveFloat, PositiveFloat], _vector(3, "[x, y, z] (m, > 0)")
]
Quaternion = Annotated[tuple[float, float, float, float], _vector(4, "[x, y, z, w]")]
Resolution = Annotated[
    tuple[Annotated[int, Field(gt=0)], Annotated[int, Field(gt=0)]],
    _vector(2, "[width, height] (pixels)"),
]
Color = Annotated[tuple[UnitFloat, UnitFloat, UnitFloat], BeforeValidator(_color)]


class Spec(BaseModel):
    """Base of every scene model: unknown fields are errors, types are strict (no 'yes'
    for a number, no '2' for an integer), numbers are finite, and values are re-checked
    on assignment."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, validate_assignment=True)


class Material(Spec):
    """Surface appearance, physically based (metallic/roughness)."""

    color: Color = (0.8, 0.8, 0.8)
    roughness: UnitFloat = 0.5
    metallic: UnitFloat = 0.0
    texture: str | None = None  # image file (png/jpg), relative to the scene file
    texture_scale: PositiveFloat = 1.0  # texture repeats per metre of surface


class Physics(Spec):
    """Rigid-body parameters, as pybullet takes them."""

    mass: PositiveFloat | None = None  # kg; default 1 kg, or the asset's own mass for assets
    friction: NonNegativeFloat = 0.5  # lateral (Coulomb) coefficient
    rolling_friction: NonNegativeFloat = 0.0
    spinning_friction: NonNegativeFloat = 0.0
    restitution: UnitFloat = 0.0
    linear_damping: NonNegativeFloat = 0.04
    angular_damping: NonNegativeFloat = 0.04
    fixed: bool = False  # static body: never moves, infinite mass


Shape = Literal["box", "sphere", "cylinder", "capsule", "mesh", "asset"]


class ObjectSpec(Spec):
    """A rigid body. Its position and orientation are those of its centre of mass.

    Size fields by shape: box ``size`` [x, y, z] full extents; sphere ``radius``;
    cylinder and capsule ``radius`` and ``height`` (along local z; for a capsule the
    distance between the two hemisphere centres); mesh ``mesh`` (file) and ``scale``;
    asset ``asset`` (pybullet_data name) and ``scale``."""

    name: str | None = None
    shape: Shape
    size: Size3 | None = None
    radius: PositiveFloat | None = None
    height: PositiveFloat | None = None
    mesh: str | None = None
    asset: str | None = None
    scale: PositiveFloat = 1.0
    material: Material = Material()
    physics: Physics = Physics()
    position: Vec3 = (0.0, 0.0, 0.0)
    euler: Vec3 | None = None  # degrees, rotations about fixed x, then y, then z
    quaternion: Quaternion | None = None  # (x, y, z, w); normalised on use
    linear_velocity: Vec3 = (0.0, 0.0, 0.0)  # m/s
    angular_velocity: Vec3 = (0.0, 0.0, 0.0)  # rad/s, world frame


class Orbit(Spec):
    """Circular motion about a vertical axis: position(t) = center + radius *
    (cos a, sin a, 0) with a = phase + 360 * t / period (degrees; negative period turns
    clockwise)."""

    center: Vec3 = (0.0, 0.0, 0.0)
    radius: Annotated[float, Field(gt=0, le=MAX_MAGNITUDE)]
    period: float = Field(description="seconds per turn; the sign gives the direction")
    phase: float = 0.0  # degrees


class Keyframe(Spec):
    """A key of a scripted animation; fields left out keep the value of the neighbours
    (linear interpolation between keys, held before the first and after the last)."""

    time: NonNegativeFloat  # seconds
    position: Vec3 | None = None
    look_at: Vec3 | None = None
    color: Color | None = None
    intensity: NonNegativeFloat | None = None


class Flicker(Spec):
    """Multiplicative intensity noise: intensity * (1 + amplitude * n(t)), n smooth in
    [-1, 1] with about ``frequency`` changes per second, seeded by the scene seed."""

    amplitude: UnitFloat = 0.3
    frequency: PositiveFloat = 8.0  # Hz


class LightSpec(Spec):
    """A light. ``intensity`` units: radiant intensity W/sr for point and spot,
    irradiance W/m^2 for directional, radiance W/(m^2 sr) for area.

    Position comes from ``position``, or from ``attach_to`` (an object's pose times
    ``offset``, given in that object's frame), or from an ``orbit`` or ``keyframes``.
    Direction comes from ``direction`` or ``look_at`` (spot, directional, area)."""

    name: str | None = None
    type: Literal["point", "spot", "directional", "area"]
    color: Color = (1.0, 1.0, 1.0)
    intensity: NonNegativeFloat = 10.0
    position: Vec3 | None = None
    direction: Vec3 | None = None
    look_at: Vec3 | None = None
    spot_angle: Annotated[float, Field(gt=0, lt=180)] = 40.0  # full cone angle, degrees
    spot_softness: Annotated[float, Field(ge=0, le=1)] = 0.2  # fraction of the cone that fades
    size: Size2 = (0.5, 0.5)  # area light, metres
    attach_to: str | None = None
    offset: Vec3 = (0.0, 0.0, 0.0)
    orbit: Orbit | None = None
    keyframes: list[Keyframe] | None = None
    flicker: Flicker | None = None


class Dolly(Spec):
    """Straight camera move from the camera's ``position`` to ``to`` over [start, end]
    seconds (end defaults to the end of the clip), smoothstep-eased."""

    to: Vec3
    start: NonNegativeFloat = 0.0
    end: PositiveFloat | None = None


class CameraSpec(Spec):
    """A pinhole camera. Pose from ``position`` + ``look_at`` (+ ``up``), or a full pose
    ``position`` + ``quaternion`` (camera-to-world rotation of the OpenCV camera frame:
    x right, y down, z forward). Motion: ``orbit`` (around the orbit centre, looking at
    ``look_at``), ``dolly`` or ``keyframes``; none of them = static."""

    name: str | None = None
    position: Vec3 | None = None
    look_at: Vec3 = (0.0, 0.0, 0.0)
    up: Vec3 = (0.0, 0.0, 1.0)
    quaternion: Quaternion | None = None
    fov: Annotated[float, Field(gt=0, lt=180)] = 45.0  # vertical field of view, degrees
    resolution: Resolution = (256, 256)
    orbit: Orbit | None = None
    dolly: Dolly | None = None
    keyframes: list[Keyframe] | None = None


class HumanoidSpec(Spec):
    """The DeepMimic humanoid playing a mocap clip from pybullet_data/data/motions.

    The clip's first root position lands above ``position`` (x, y; z is an extra lift);
    ``heading`` turns the clip about +z (degrees, 0 = the clip's own direction)."""

    name: str | None = None
    motion: str
    position: Vec3 = (0.0, 0.0, 0.0)
    heading: float = 0.0
    scale: PositiveFloat = 1.0
    speed: PositiveFloat = 1.0  # playback rate
    loop: bool = True
    start_time: NonNegativeFloat = 0.0  # seconds into the clip at scene time 0


class ConstraintSpec(Spec):
    """A joint between an object and the world (``parent`` empty) or another object.
    ``pivot`` is a world point at time 0; ``axis`` (hinge) a world direction."""

    type: Literal["point", "hinge", "fixed"]
    child: str
    parent: str | None = None
    pivot: Vec3
    axis: Vec3 = (0.0, 1.0, 0.0)


class Floor(Spec):
    """A static slab whose top face is the plane z = 0, centred on the origin."""

    enabled: bool = True
    size: Size2 = (20.0, 20.0)
    friction: NonNegativeFloat = 0.6
    restitution: UnitFloat = 0.0
    rolling_friction: NonNegativeFloat = 0.0
    spinning_friction: NonNegativeFloat = 0.0
    material: Material = Material(color=(0.6, 0.6, 0.62), roughness=0.8)


class Scene(Spec):
    """A whole scene. Length: ``num_frames`` or ``duration`` (seconds; frames =
    round(duration * fps)), default 4 s. Frame t shows time t / fps; frame 0 is the
    initial state."""

    name: str = "scene"
    description: str = ""
    seed: Annotated[int, Field(ge=0)] = 0
    fps: Annotated[int, Field(gt=0)] = 24
    physics_hz: Annotated[int, Field(gt=0)] = 240
    duration: PositiveFloat | None = None
    num_frames: Annotated[int, Field(gt=0)] | None = None
    gravity: Vec3 = (0.0, 0.0, -9.81)
    floor: Floor = Floor()
    objects: list[ObjectSpec] = []
    lights: list[LightSpec] = []
    cameras: list[CameraSpec] = []
    humanoids: list[HumanoidSpec] = []
    constraints: list[ConstraintSpec] = []
    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @property
    def base_dir(self) -> Path:
        """Folder that the scene's relative file names (meshes, textures) refer to."""
        return self._base_dir

    @property
    def frame_count(self) -> int:
        """Number of video frames (states) in the trajectory."""
        if self.num_frames is not None:
            return self.num_frames
        return max(1, round((self.duration if self.duration is not None else 4.0) * self.fps))

    @property
    def substeps(self) -> int:
        """Physics steps per video frame."""
        return self.physics_hz // self.fps
