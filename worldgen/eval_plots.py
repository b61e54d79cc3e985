"""Plots of ``worldgen eval video``: the per-frame curves of metrics.json as PNG."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from worldgen.files import write_atomic
from worldgen.metrics.flicker import GENERATOR_FLICKER_LEVELS

MOST_INSTANCES = 10  # lines in the instance plot (largest drift first)


def plot_temporal(per_frame: dict[str, list[float]], path: Path) -> Path:
    """Per pair t -> t+1: E_warp (with flow) and the inter-frame difference with the 12-level
    rule of thumb; per frame: the drift from frame 0 (with flow). One panel each."""
    panels = [("warp_error", "E_warp (squared, [0,1])", None),
              ("frame_difference", "inter-frame difference (0-255)", GENERATOR_FLICKER_LEVELS),
              ("drift_percent", "drift from frame 0 (%)", None)]
    panels = [panel for panel in panels if panel[0] in per_frame]
    figure = Figure(figsize=(8, 2.4 * len(panels)), dpi=100)
    FigureCanvasAgg(figure)
    for ax, (key, label, threshold) in zip(figure.subplots(len(panels), 1, squeeze=False)[:, 0], panels):
        ax.plot(np.arange(len(per_frame[key])), per_frame[key], lw=1.2)
        if threshold is not None:
            ax.axhline(threshold, color="tab:red", lw=0.8, ls="--", label=f"{threshold:g}: generator flicker above")
            ax.legend(fontsize=8, loc="upper right")
        ax.set_ylabel(label, fontsize=9)
        ax.grid(alpha=0.3)
    ax.set_xlabel("frame t (pairs t -> t+1)")
    figure.tight_layout()
    return _save(figure, path)


def plot_instance_drift(instances: list[dict], path: Path) -> Path:
    """Colour drift (0-255) per frame of the instances with the largest drift."""
    figure = Figure(figsize=(8, 3.5), dpi=100)
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    for record in instances[:MOST_INSTANCES]:
        ax.plot(np.arange(len(record["drift"])), record["drift"], lw=1.2, label=f"{record['id']} {record['name']}")
    ax.set_xlabel("frame")
    ax.set_ylabel("mean colour drift (0-255)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="upper left")
    figure.tight_layout()
    return _save(figure, path)


def _save(figure: Figure, path: Path) -> Path:
    """The figure as PNG at ``path``, written whole or not at all."""
    png = io.BytesIO()
    figure.savefig(png, format="png")
    return write_atomic(path, png.getvalue())
