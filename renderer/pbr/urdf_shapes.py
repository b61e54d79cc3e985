"""The geometry elements of a URDF file (``<visual>`` or ``<collision>``), per link.

Only what the renderer needs: primitive shapes and mesh files with their origin in the
link frame. Lengths are the file's own units; callers apply any global scaling."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class UrdfShape:
    """One geometry element. ``origin``: (4, 4) shape frame -> link frame.
    ``kind`` box (``size`` full extents), sphere (``radius``), cylinder and capsule
    (``radius``, ``length`` along the shape's z), mesh (``mesh`` absolute path, ``scale`` (3,))."""

    kind: str
    origin: np.ndarray
    size: tuple[float, ...] = ()
    radius: float = 0.0
    length: float = 0.0
    mesh: Path | None = None
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0)
    rgba: tuple[float, float, float, float] | None = None  # <material><color> when given


def _floats(text: str | None, default: str) -> list[float]:
    return [float(v) for v in (text or default).split()]


def _origin(element: ET.Element) -> np.ndarray:
    """(4, 4) transform of an ``<origin xyz rpy>`` (roll, pitch, yaw about fixed x, y, z)."""
    node = element.find("origin")
    xyz = _floats(node.get("xyz") if node is not None else None, "0 0 0")
    roll, pitch, yaw = _floats(node.get("rpy") if node is not None else None, "0 0 0")
    cr, sr, cp, sp, cy, sy = np.cos(roll), np.sin(roll), np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw)
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    out = np.eye(4)
    out[:3, :3] = rz @ ry @ rx
    out[:3, 3] = xyz
    return out


def urdf_shapes(path: Path, element: str = "visual") -> dict[str, list[UrdfShape]]:
    """Geometry of every link of the URDF at ``path``, by link name, in file order.
    ``element``: "visual" or "collision"."""
    text = Path(path).read_bytes().replace(b"\x00", b"").decode("utf-8", errors="replace")
    root = ET.fromstring(text)
    out: dict[str, list[UrdfShape]] = {}
    for link in root.iter("link"):
        shapes = []
        for node in link.findall(element):
            geometry = node.find("geometry")
            if geometry is None or len(geometry) == 0:
                continue
            geom = geometry[0]
            color = node.find("material/color")
            rgba = tuple(_floats(color.get("rgba"), "1 1 1 1")) if color is not None else None
            common = {"origin": _origin(node), "rgba": rgba}
            if geom.tag == "box":
                shapes.append(UrdfShape("box", size=tuple(_floats(geom.get("size"), "1 1 1")), **common))
            elif geom.tag == "sphere":
                shapes.append(UrdfShape("sphere", radius=float(geom.get("radius")), **common))
            elif geom.tag in ("cylinder", "capsule"):
                shapes.append(UrdfShape(geom.tag, radius=float(geom.get("radius")), length=float(geom.get("length")), **common))
            elif geom.tag == "mesh":
                scale = tuple(_floats(geom.get("scale"), "1 1 1"))
                mesh = (Path(path).parent / geom.get("filename")).resolve()
                shapes.append(UrdfShape("mesh", mesh=mesh, scale=scale, **common))
        out[link.get("name")] = shapes
    return out
