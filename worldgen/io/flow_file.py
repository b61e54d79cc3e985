"""Flow files: the motion that the temporal metrics and the flow-guided deflicker need.

A flow file is an ``.npz`` holding some of the arrays of a worldgen render's
``buffers.npz``, one entry per video frame (T = the video's frame count, H x W its size):

- ``forward_flow`` (T, 2, H, W) float, pixels (x right, y down): entry t maps frame t to
  t+1 (the last entry is unused). Required.
- ``forward_occluded`` (T, H, W) bool or 0/1: True where frame t's pixel has no
  correspondence in frame t+1. Optional: without it every pixel counts as visible.
- ``backward_flow`` (T, 2, H, W) and ``backward_occluded`` (T, H, W): frame t to t-1 (the
  first entry unused). Optional; ``deflicker --method flow`` needs them.
- ``instance`` (T, H, W) int: instance id per pixel, 0 = background, below 65536. Optional; enables the
  per-instance colour drift, named from ``instances.json`` next to the file when present.

So a worldgen render folder (``out/dominoes``) or its ``buffers.npz`` is a flow file, with
flow and occlusion exact from the simulated state. The file is read with
``allow_pickle=False``. Every mistake is a :class:`SceneError` naming the file and the array."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from worldgen.scene.errors import SceneError

BUFFERS = "buffers.npz"
KEYS = ("forward_flow", "forward_occluded", "backward_flow", "backward_occluded", "instance")
MAX_INSTANCE_ID = 1 << 16  # ids are counted densely (worldgen's are consecutive from 0)


@dataclass
class FlowFile:
    """The arrays of a flow file (module docstring), checked; None where absent."""

    source: str
    forward: np.ndarray  # (T, 2, H, W) float32
    forward_occluded: np.ndarray | None  # (T, H, W) bool
    backward: np.ndarray | None  # (T, 2, H, W) float32
    backward_occluded: np.ndarray | None  # (T, H, W) bool
    instance: np.ndarray | None  # (T, H, W) int64
    instance_names: dict[int, str]

    @property
    def shape(self) -> tuple[int, int, int]:
        """(T, H, W)."""
        T, _, height, width = self.forward.shape
        return T, height, width


def flow_path(path: str | Path) -> Path:
    """The ``.npz`` that ``path`` names: the file itself, or a render folder's buffers.npz."""
    path = Path(path)
    if path.is_dir():
        if not (path / BUFFERS).is_file():
            raise SceneError("--flow", f"the folder has no {BUFFERS}; expected a worldgen render folder or an "
                             ".npz flow file", str(path))
        return path / BUFFERS
    if not path.is_file():
        raise SceneError("--flow", "no such file or folder", str(path))
    return path


def render_flow_for(video: str | Path) -> Path | None:
    """The buffers.npz of the worldgen render folder ``video`` sits in, if there is one."""
    candidate = Path(video).parent / BUFFERS
    return candidate if candidate.is_file() else None


def load_flow(path: str | Path) -> FlowFile:
    """Read and check the flow file at ``path`` (an .npz or a render folder)."""
    path = flow_path(path)
    source = str(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            names = data.files
            arrays = {key: data[key] for key in KEYS if key in names}  # not the rest of a buffers.npz
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise SceneError("--flow", f"not a readable .npz flow file ({err})", source) from None
    if "forward_flow" not in arrays:
        raise SceneError("forward_flow", f"missing; the file has {sorted(names) or 'no arrays'} "
                         "(expected forward_flow (T, 2, H, W) pixels, see `worldgen eval video --help`)", source)
    forward = _flow(arrays, "forward_flow", source)
    T, _, height, width = forward.shape
    names = _instance_names(path.parent / "instances.json") if "instance" in arrays else {}
    return FlowFile(
        source=source,
        forward=forward,
        forward_occluded=_mask(arrays, "forward_occluded", (T, height, width), source),
        backward=_flow(arrays, "backward_flow", source, forward.shape) if "backward_flow" in arrays else None,
        backward_occluded=_mask(arrays, "backward_occluded", (T, height, width), source),
        instance=_instance(arrays, (T, height, width), source),
        instance_names=names,
    )


def _flow(arrays: dict, key: str, source: str, shape: tuple | None = None) -> np.ndarray:
    value = arrays[key]
    ok = value.ndim == 4 and value.shape[1] == 2 and np.issubdtype(value.dtype, np.floating)
    if not ok or (shape is not None and value.shape != shape):
        expected = f"float {shape}" if shape else "float (T, 2, H, W) pixels"
        raise SceneError(key, f"expected {expected}, got {value.dtype} {value.shape}", source)
    if value.shape[0] < 2:
        raise SceneError(key, f"expected at least 2 frames, got {value.shape[0]}", source)
    if not np.isfinite(value).all():
        raise SceneError(key, "expected finite numbers, found NaN or infinity", source)
    return value.astype(np.float32)


def _mask(arrays: dict, key: str, shape: tuple, source: str) -> np.ndarray | None:
    if key not in arrays:
        return None
    value = arrays[key]
    if value.shape != shape or not (value.dtype == bool or np.isin(value, (0, 1)).all()):
        raise SceneError(key, f"expected bool (or 0/1) {shape}, got {value.dtype} {value.shape}", source)
    return value.astype(bool)


def _instance(arrays: dict, shape: tuple, source: str) -> np.ndarray | None:
    if "instance" not in arrays:
        return None
    value = arrays["instance"]
    if value.shape != shape or not np.issubdtype(value.dtype, np.integer) or value.min() < 0 \
            or value.max() >= MAX_INSTANCE_ID:
        raise SceneError("instance", f"expected int ids 0..{MAX_INSTANCE_ID - 1} of shape {shape}, got {value.dtype} "
                         f"{value.shape}", source)
    return value.astype(np.int64)


def _instance_names(path: Path) -> dict[int, str]:
    """id -> name from a render's instances.json; empty if absent or not in that format."""
    try:
        records = json.loads(path.read_text())["instances"]
        return {int(r["id"]): str(r["name"]) for r in records}
    except (OSError, ValueError, KeyError, TypeError):
        return {}
