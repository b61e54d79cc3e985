"""Lookup of the data that scenes refer to by name: pybullet_data object assets and
DeepMimic mocap clips. Pure file-system queries (no pybullet import), so the scene layer
can validate names without starting a physics engine."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pybullet_data

# Single-body props from pybullet_data that read well as scene objects; any other
# single-link URDF under pybullet_data is accepted by its relative path too
# (e.g. "random_urdfs/123", "objects/mug").
CURATED_ASSETS = (
    "duck", "teddy", "soccerball", "cube", "cube_small", "block", "sphere2", "sphere_small",
    "domino", "jenga", "lego", "mug", "table",
)
_ALIASES = {"duck": "duck_vhacd", "teddy": "teddy_vhacd", "mug": "objects/mug"}


def pybullet_data_dir() -> Path:
    """Root folder of the pybullet_data package."""
    return Path(pybullet_data.getDataPath())


@functools.cache
def mocap_clips() -> dict[str, Path]:
    """DeepMimic humanoid clips shipped with pybullet_data, by short name ("walk" for
    data/motions/humanoid3d_walk.txt), sorted by name."""
    folder = pybullet_data_dir() / "data" / "motions"
    clips = {p.stem.removeprefix("humanoid3d_"): p for p in folder.glob("humanoid3d_*.txt")}
    return dict(sorted(clips.items()))


def humanoid_urdf() -> Path:
    """The DeepMimic humanoid model (Y-up, lengths in units of 0.25 m)."""
    return pybullet_data_dir() / "humanoid" / "humanoid.urdf"


def resolve_asset(name: str) -> Path | None:
    """URDF file for an asset name, or None if there is none.

    Tried in order: an alias ("duck" -> duck_vhacd.urdf), ``NAME.urdf``, ``NAME_vhacd.urdf``
    and ``NAME/BASENAME.urdf`` (so "random_urdfs/123" -> random_urdfs/123/123.urdf).
    Names must stay inside pybullet_data."""
    if not re.fullmatch(r"[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*", name):
        return None
    root = pybullet_data_dir()
    stem = _ALIASES.get(name, name)
    for candidate in (f"{stem}.urdf", f"{stem}_vhacd.urdf", f"{stem}/{Path(stem).name}.urdf"):
        path = root / candidate
        if path.is_file():
            return path
    return None


def urdf_link_count(path: Path) -> int:
    """Number of <link> elements in a URDF file."""
    text = path.read_text(errors="replace")
    return len(re.findall(r"<link\b", text))
