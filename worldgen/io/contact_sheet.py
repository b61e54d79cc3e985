"""Contact sheets: a PNG grid of chosen frames (rows) by modality (columns) for inspection."""

from __future__ import annotations

import os
import tempfile

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

CELL_INCHES = 2.0
DPI = 100


def pick_frames(num_frames: int, count: int = 4) -> list[int]:
    """``count`` frame indices spread evenly over ``num_frames``, first and last included
    (fewer when the clip is shorter)."""
    if num_frames < 1 or count < 1:
        raise ValueError(f"need num_frames >= 1 and count >= 1, got {num_frames}, {count}")
    if count == 1:
        return [0]
    return sorted({int(i) for i in np.rint(np.linspace(0, num_frames - 1, count))})


def contact_sheet(
    rows: dict[str, np.ndarray], frame_indices: list[int], path: str | os.PathLike, title: str | None = None
) -> None:
    """Write a PNG grid to ``path``: one column per entry of ``rows`` (named by its key,
    e.g. "rgb", "depth"), one row per frame of ``frame_indices`` (labelled "frame N").

    Each value is a (T, 3, H, W) (or (T, 1, H, W)) float image stack in [0, 1]; modalities
    may differ in size. Pixels are shown nearest-neighbour so control maps stay sharp. The
    file is written to a temporary name in the same folder, then moved into place.
    """
    if not rows or not frame_indices:
        raise ValueError("contact_sheet needs at least one modality and one frame")
    for name, images in rows.items():
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"{name}: expected (T, 3, H, W) or (T, 1, H, W), got {images.shape}")
        if not all(0 <= frame < len(images) for frame in frame_indices):
            raise ValueError(f"{name}: frame index out of range for {len(images)} frames")
    aspect = max(images.shape[3] / images.shape[2] for images in rows.values())
    width = CELL_INCHES * aspect * len(rows)
    height = CELL_INCHES * len(frame_indices) + (0.4 if title else 0.0)
    figure = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(frame_indices), len(rows), squeeze=False)
    for col, (name, images) in enumerate(rows.items()):
        for row, frame in enumerate(frame_indices):
            image = np.clip(np.asarray(images[frame], dtype=np.float32), 0.0, 1.0)
            ax = axes[row, col]
            ax.imshow(np.repeat(image, 3 // image.shape[0], axis=0).transpose(1, 2, 0), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(name, fontsize=10)
            if col == 0:
                ax.set_ylabel(f"frame {frame}", fontsize=10)
    if title:
        figure.suptitle(title)
    figure.tight_layout()

    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    handle, tmp = tempfile.mkstemp(suffix=".png", dir=directory)
    os.close(handle)
    try:
        figure.savefig(tmp, format="png")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
