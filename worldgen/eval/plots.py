"""Plots of ``worldgen eval video`` (the per-frame curves of metrics.json) and ``worldgen eval
dynamics`` (error against horizon, energy of long rollouts), as PNG."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from worldgen.io.atomic import write_atomic
from worldgen.metrics.flicker import GENERATOR_FLICKER_LEVELS

MOST_INSTANCES = 10  # lines in the instance plot (largest drift first)
ENERGY_RANGE = (-0.5, 3.0)  # y range of the energy plot, relative to E(0)


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


def plot_error_vs_horizon(families: dict[str, dict], engine: str, path: Path) -> Path:
    """Translation (m) and rotation (rad) error per frame 1..T-1, log scale: the engine
    (solid) and the chaos floor (dashed), one colour per family. ``families``: family name ->
    its dynamics_eval.json report. Zero errors (pybullet against itself) are not drawn."""
    figure = Figure(figsize=(9, 3.6), dpi=100)
    FigureCanvasAgg(figure)
    for ax, (key, label) in zip(figure.subplots(1, 2), (("translation_m", "translation error (m)"),
                                                         ("rotation_rad", "rotation error (rad)"))):
        for k, (name, report) in enumerate(families.items()):
            curves = report[key]["per_frame"]
            for curve, style, who in ((curves["engine"], "-", f"engine {engine}"), (curves["chaos_floor"], "--", "chaos floor")):
                values = np.array([np.nan if v is None or v <= 0 else v for v in curve[1:]], float)
                ax.plot(np.arange(1, len(curve)), values, style, color=f"C{k}", lw=1.4, label=f"{name}: {who}")
        ax.set_yscale("log")
        ax.set_xlabel("horizon (frames)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="lower right")
    figure.suptitle("error against pybullet (zero errors are not drawn)", fontsize=9)
    figure.tight_layout()
    return _save(figure, path)


def plot_energy(families: dict[str, dict], engine: str, path: Path) -> Path:
    """Mean relative energy E(t) / E(0) per frame t >= 1 (log scale) of the long rollouts:
    the engine (solid) and pybullet (dashed), one colour per family (``families`` as in
    :func:`plot_error_vs_horizon`). The y range stops at ENERGY_RANGE, where bodies that
    leave the floor and fall would flatten every other detail; the title says so."""
    figure = Figure(figsize=(8, 3.6), dpi=100)
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    values = []
    for k, (name, report) in enumerate(families.items()):
        for key, who, style in (("engine", f"engine {engine}", "-"), ("pybullet", "pybullet", "--")):
            curve = report["long"].get(key, {}).get("energy_curve")
            if curve and len(curve) > 1:
                ax.plot(np.arange(1, len(curve)), curve[1:], style, color=f"C{k}", lw=1.2, label=f"{name}: {who}")
                values += curve
    ax.axhline(1.0, color="gray", lw=0.8)
    if values:
        low, high = min(values), max(values)
        ax.set_ylim(max(low, ENERGY_RANGE[0]) - 0.05, min(high, ENERGY_RANGE[1]) + 0.05)
        if low < ENERGY_RANGE[0] or high > ENERGY_RANGE[1]:
            ax.set_title(f"clipped: the curves reach {low:.3g} .. {high:.3g}", fontsize=9)
        ax.set_xscale("log")
        ax.legend(fontsize=7)
    ax.set_xlabel("frame")
    ax.set_ylabel("mean E(t) / E(0)")
    ax.grid(alpha=0.3, which="both")
    figure.tight_layout()
    return _save(figure, path)


def _save(figure: Figure, path: Path) -> Path:
    """The figure as PNG at ``path``, written whole or not at all."""
    png = io.BytesIO()
    figure.savefig(png, format="png")
    return write_atomic(path, png.getvalue())
