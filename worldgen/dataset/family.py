"""Randomised scene families (``configs/dataset/*.yaml``): a scene template whose values are
distributions (see :mod:`worldgen.scene.distributions`), plus what every episode of the
family shares: image size, frame count and rate, renderer settings, seed ranges of the
splits and the rules that reject an episode whose simulation went wrong.

Episode ``i`` of split ``s`` is the template resolved with seed ``splits[s].first_seed + i``;
the seed ranges of the splits do not overlap, so validation and test scenes are never seen
in training."""

from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import Annotated, Any, Sequence

import numpy as np
from omegaconf import OmegaConf
from pydantic import Field, ValidationError

from worldgen.dataset.patterns import PATTERNS
from worldgen.scene import SceneError, scene_from_dict
from worldgen.scene.checks import spec_error
from worldgen.scene.distributions import resolve
from worldgen.scene.limits import MAX_SPP, check_at_most, check_video_size
from worldgen.scene.loading import CONFIG_DIR, apply_overrides, parse_overrides, read_yaml
from worldgen.scene.schema import PositiveFloat, Resolution, Scene, Spec

FAMILY_DIR = CONFIG_DIR / "dataset"


class SplitSpec(Spec):
    """A split's seeds: ``first_seed``, ``first_seed + 1``, ... (``size`` of them)."""

    first_seed: Annotated[int, Field(ge=0)]
    size: Annotated[int, Field(gt=0)]


class RejectSpec(Spec):
    """An episode is rejected (recorded with its reason, not written) when any state value
    is NaN/inf, a body moves faster than ``max_speed`` (m/s), or a body ends up farther than
    ``max_distance`` (m) from the origin or below ``min_height`` (m)."""

    max_speed: PositiveFloat = 30.0
    max_distance: PositiveFloat = 12.0
    min_height: float = -0.5


class LayoutSpec(Spec):
    """``separate``: before simulating, lift each movable object (in list order) straight up
    until its bounding sphere clears those of the objects before it by ``gap`` metres, so
    randomly placed objects never start interpenetrating."""

    separate: bool = True
    gap: Annotated[float, Field(ge=0)] = 0.02


class FamilySpec(Spec):
    """A scene family. ``scene`` is a scene template (the scene schema, values may be
    distributions); its ``seed``, ``fps``, ``num_frames`` and ``physics_hz`` are set per
    episode from the family, and every camera renders at ``resolution``."""

    name: str
    description: str = ""
    resolution: Resolution = (128, 128)  # [width, height] pixels
    num_frames: Annotated[int, Field(ge=2)] = 24
    fps: Annotated[int, Field(gt=0)] = 12
    physics_hz: Annotated[int, Field(gt=0)] = 240
    spp: Annotated[int, Field(gt=0)] = 8  # samples per pixel of the RGB pass
    max_depth: Annotated[int, Field(gt=0)] = 4  # path length (bounces + 1)
    camera: str | None = None  # camera name to render through; default the scene's first
    splits: dict[str, SplitSpec] = {
        "train": SplitSpec(first_seed=0, size=1_000_000),
        "validation": SplitSpec(first_seed=1_000_000, size=10_000),
        "test": SplitSpec(first_seed=1_010_000, size=10_000),
    }
    reject: RejectSpec = RejectSpec()
    layout: LayoutSpec = LayoutSpec()
    patterns: list[dict[str, Any]] = []  # generated objects, see worldgen.dataset.patterns
    scene: dict[str, Any]

    def seed(self, split: str, index: int) -> int:
        """Scene seed of episode ``index`` of ``split``."""
        return self.splits[split].first_seed + index


def bundled_families() -> dict[str, Path]:
    """Family configs shipped in ``configs/dataset``, by name."""
    return {p.stem: p for p in sorted(FAMILY_DIR.glob("*.yaml"))}


def load_family(spec: str, overrides: Sequence[str] = ()) -> tuple[FamilySpec, dict, str]:
    """The family named ``spec`` (bundled name or YAML path) with Hydra-syntax ``overrides``
    (``num_frames=48``, ``scene.objects.0.count=5``, ``resolution=[64,64]``).

    Returns the validated family, its plain config (what the manifest records) and the
    source name used in error messages. Checks the template by resolving the first
    training episode, so a mistake surfaces before any work starts."""
    families = bundled_families()
    if spec in families:
        path = families[spec]
    elif spec.endswith((".yaml", ".yml")) or os.sep in spec:
        path = Path(spec)
        if not path.is_file():
            raise SceneError("", "family file not found", spec)
    else:
        raise SceneError("FAMILY", f"no bundled family {spec!r} and no such file; bundled: {', '.join(families)}", "command line")
    source = str(path)
    raw = read_yaml(path, source)
    if not isinstance(raw, dict):
        raise SceneError("", "expected a mapping of family fields at the top of the file", source)
    defaults = {name: _plain(f.default) for name, f in FamilySpec.model_fields.items() if not f.is_required()}
    cfg = OmegaConf.create({**defaults, **raw})  # defaults spelt out: overridable, and recorded in manifests
    apply_overrides(cfg, parse_overrides(overrides))
    config = OmegaConf.to_container(cfg, resolve=True)
    try:
        family = FamilySpec.model_validate(config)
    except ValidationError as err:
        raise spec_error(err, FamilySpec, "", source) from None
    _check_splits(family, source)
    if family.physics_hz % family.fps:
        raise SceneError("physics_hz", f"expected a whole multiple of fps ({family.fps}), got {family.physics_hz}", source)
    check_video_size(family.num_frames, family.resolution, "resolution", source)
    check_at_most(family.spp, MAX_SPP, "spp", "the samples per pixel", "MAX_SPP", source)
    episode_scene(family, family.seed("train", 0), source)
    return family, config, source


def _plain(value: Any) -> Any:
    """A field default as plain data (models dumped, tuples as lists)."""
    if isinstance(value, Spec):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _check_splits(family: FamilySpec, source: str) -> None:
    ranges = sorted((s.first_seed, s.first_seed + s.size, name) for name, s in family.splits.items())
    if "train" not in family.splits:
        raise SceneError("splits", "expected a 'train' split", source)
    for (_, end, a), (start, _, b) in zip(ranges, ranges[1:]):
        if start < end:
            raise SceneError(f"splits.{b}", f"seed range overlaps split {a!r} (ends at seed {end - 1})", source)


def episode_scene(family: FamilySpec, seed: int, source: str = "family") -> Scene:
    """The concrete scene of the episode with scene seed ``seed``."""
    raw = copy.deepcopy(family.scene)
    raw.update(seed=seed, fps=family.fps, num_frames=family.num_frames, physics_hz=family.physics_hz)
    raw.setdefault("name", family.name)
    raw.pop("duration", None)
    raw["objects"] = list(raw.get("objects") or []) + _pattern_objects(family, seed, source)
    try:
        scene = scene_from_dict(raw, FAMILY_DIR)
    except SceneError as err:
        err.field = f"scene.{err.field}" if err.field else "scene"
        err.source = err.source or f"{source} (seed {seed})"
        raise
    if not scene.cameras:
        raise SceneError("scene.cameras", "expected at least one camera to render through", source)
    for camera in scene.cameras:
        camera.resolution = tuple(family.resolution)
    if family.layout.separate:
        separate_objects(scene, family.layout.gap)
    return scene


def _pattern_objects(family: FamilySpec, seed: int, source: str) -> list[dict]:
    objects = []
    for i, entry in enumerate(family.patterns):
        where = f"patterns[{i}]"
        entry = resolve(entry, seed, where)
        kind = PATTERNS.get(entry.get("type") if isinstance(entry, dict) else None)
        if kind is None:
            raise SceneError(f"{where}.type", f"expected one of {', '.join(PATTERNS)}, got {entry!r}", source)
        try:
            objects.extend(kind.model_validate(entry).objects())
        except ValidationError as err:
            raise spec_error(err, PATTERNS[entry["type"]], f"{where}.", source) from None
    return objects


def bounding_radius(obj) -> float:
    """Radius (m) of a sphere about the object's position that holds its shape. Assets and
    meshes are bounded through their collision shape, measured in a throwaway pybullet world."""
    if obj.shape == "box":
        return 0.5 * float(np.linalg.norm(obj.size))
    if obj.shape == "sphere":
        return float(obj.radius)
    if obj.shape == "cylinder":
        return float(np.hypot(obj.radius, obj.height / 2))
    if obj.shape == "capsule":
        return float(obj.height / 2 + obj.radius)
    return _collision_radius(obj.shape, obj.asset, obj.mesh, obj.scale, str(FAMILY_DIR))


@functools.cache
def _collision_radius(shape: str, asset: str | None, mesh: str | None, scale: float, base_dir: str) -> float:
    """Farthest corner of the collision shape's box from the centre of mass, measured at the
    identity orientation (a sphere about the centre of mass holds the shape however it turns)."""
    from simulation.pybullet_engine import PybulletWorld

    probe = Scene(objects=[{"shape": shape, "asset": asset, "mesh": mesh, "scale": scale}], floor={"enabled": False})
    probe._base_dir = Path(base_dir)
    world = PybulletWorld(probe)
    try:
        lo, hi = (np.asarray(v) for v in world.client.getAABB(world.bodies[0], -1))
    finally:
        world.close()
    return float(np.linalg.norm(np.maximum(np.abs(lo), np.abs(hi))))


def separate_objects(scene: Scene, gap: float) -> None:
    """Lift movable objects, in list order, until no two bounding spheres (plus ``gap``)
    intersect; fixed objects stay where they are but block the ones after them."""
    placed: list[tuple[np.ndarray, float]] = []
    for obj in scene.objects:
        centre, radius = np.asarray(obj.position, float), bounding_radius(obj)
        if not obj.physics.fixed:
            for _ in range(len(placed) + 1):  # each pass clears at least one sphere for good
                lift = 0.0
                for other, other_radius in placed:
                    reach = radius + other_radius + gap
                    dxy = float(np.hypot(*(centre[:2] - other[:2])))
                    if dxy < reach and np.linalg.norm(centre - other) < reach:
                        lift = max(lift, other[2] + np.sqrt(reach**2 - dxy**2) - centre[2])
                if lift <= 0:
                    break
                centre[2] += lift + 1e-6
            obj.position = tuple(float(v) for v in centre)
        placed.append((centre, radius))
