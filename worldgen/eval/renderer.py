"""What ``worldgen eval renderer`` runs: renderers against the path-traced frames of
held-out dataset episodes, in one table.

Every variant paints the same episodes (the first ``frames`` frames of each, in windows of
its clip length, seeded) from the episode's own control stack and state tokens. Per
variant and family: PSNR and SSIM against the reference frames, E_warp and temporal
variance with the episode's exact flow, VBench's temporal-flickering score (1 = no change
between frames; the held-out families film with a still camera), and the largest
per-instance colour drift (0-255 levels) (:func:`worldgen.metrics.report.evaluate`; frames as uint8, as a video would hold
them, but never through a lossy codec). The ``reference`` row measures the path-traced
frames themselves: the floor that E_warp and temporal variance cannot go below without
smoothing what the reference shows.

``renderer_eval.json``: ``{"format": "worldgen.eval_renderer/1", "episodes": {family: n},
"frames": T, "variants": {name: {"checkpoint", "steps", "noise", "lock", "context", "families": {family: {metric:
mean}}, "all": {metric: mean}, "seconds_per_frame"}}, "goals": {...} or null, "coherence_goals": {...} or null
(with --ablate)}``."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from worldgen.scene import SceneError

FORMAT = "worldgen.eval_renderer/1"
METRICS = ("psnr_db", "ssim", "warp_error", "temporal_variance_percent", "vbench_temporal_flickering",
           "max_instance_drift")
GOAL_FAMILY = "objects_drop"


@dataclass
class Variant:
    """A row of the table: a renderer folder painted with ``steps`` sampling steps,
    ``noise`` (independent | warped), static-region ``lock`` and ``context`` frames
    (:class:`~worldgen.pipelines.generate.GenerateOptions`), or the reference (``renderer`` None)."""

    name: str
    renderer: object | None = None
    steps: int = 4
    checkpoint: str | None = None
    noise: str = "independent"
    lock: bool = False
    context: int = 0


@dataclass
class HeldOut:
    """One held-out episode: the reference frames (T, 3, H, W) in [0, 1], its renderer
    stack (T, 21, H, W) (:mod:`worldgen.pipelines.renderer_inputs`), state tokens (T, S,
    F), the exact flow of the frames (a :class:`control.flow.Flow`: forward and backward,
    (T, 2, H, W) px, with occlusion (T, H, W); the last frame's forward flow and the
    first's backward flow leave the clip), instance ids (T, H, W) and their names."""

    family: str
    rgb: np.ndarray
    controls: np.ndarray
    tokens: np.ndarray
    flow: object
    instance: np.ndarray
    names: dict[int, str]


def load_held_out(root: str | Path, episodes: int, frames: int) -> list[HeldOut]:
    """The first ``episodes`` episodes of the dataset folder ``root``, cut to ``frames``."""
    from control.flow import Flow
    from simulation.instances import InstanceTable
    from worldgen.dataset.reader import DatasetFormatError, EpisodeDataset
    from worldgen.pipelines.renderer_inputs import renderer_stack
    from worldgen.pipelines.state_tokens import state_tokens

    try:
        dataset = EpisodeDataset(root, modalities=("rgb", "controls", "camera", "flow", "segmentation", "depth",
                                                      "normal"))
    except (DatasetFormatError, ValueError) as err:
        raise SceneError("--data", str(err), str(root)) from None
    family = dataset.manifest["family"]
    held_out = []
    for index in range(min(episodes, len(dataset))):
        item = dataset[index]
        if len(item["rgb"]) < frames:
            raise SceneError("--frames", f"episodes have {len(item['rgb'])} frames; asked for {frames}", str(root))
        window = slice(0, frames)
        trajectory = dataset.trajectory(index)
        height, width = item["rgb"].shape[-2:]
        K, world_to_camera = item["K"][0].double().numpy(), item["world_to_camera"][window].double().numpy()
        tokens = state_tokens(trajectory, np.arange(frames), K, world_to_camera, width, height)
        flow = Flow(*(item[k][window].numpy().copy() for k in ("forward_flow", "backward_flow", "forward_occluded",
                                                                  "backward_occluded")))
        flow.forward[-1], flow.forward_occluded[-1] = 0, True  # the flow leaves the clip
        flow.backward[0], flow.backward_occluded[0] = 0, True
        instance = item["segmentation"][window].numpy()
        stack = renderer_stack(trajectory, np.arange(frames), item["controls"][window].numpy(), instance,
                               item["depth"][window, 0].numpy(), item["normal"][window].numpy(), K, world_to_camera)
        held_out.append(HeldOut(family, item["rgb"][window].numpy(), stack, tokens, flow, instance,
                                dict(enumerate(InstanceTable.of(trajectory).names))))
    return held_out


def evaluate_renderers(variants: list[Variant], held_out: list[HeldOut], seed: int = 0) -> dict:
    """The report of the module docstring (without ``goals``)."""
    from worldgen.io.flow_file import FlowFile
    from worldgen.io.video import to_uint8
    from worldgen.metrics.report import evaluate
    from worldgen.pipelines.generate import GenerateOptions, paint_windows

    report: dict = {"format": FORMAT, "frames": int(held_out[0].rgb.shape[0]), "episodes": {}, "variants": {}}
    for episode in held_out:
        report["episodes"][episode.family] = report["episodes"].get(episode.family, 0) + 1
    for variant in variants:
        rows: dict[str, list[dict]] = {}
        painting = 0.0
        for episode in held_out:
            reference = to_uint8(episode.rgb.transpose(0, 2, 3, 1))
            if variant.renderer is None:
                frames = reference
            else:
                start = time.perf_counter()
                painted = paint_windows(variant.renderer, episode.controls, episode.tokens,
                                        GenerateOptions(steps=variant.steps, seed=seed, noise=variant.noise,
                                                        lock=variant.lock, context=variant.context),
                                        flow=episode.flow)
                painting += time.perf_counter() - start
                frames = to_uint8(painted.transpose(0, 2, 3, 1))
            flow = FlowFile("exact", episode.flow.forward, episode.flow.forward_occluded, None, None,
                            episode.instance.astype(np.int64), episode.names)
            summary = evaluate(frames, flow, None if variant.renderer is None else reference)["summary"]
            rows.setdefault(episode.family, []).append({k: summary.get(k) for k in METRICS})
        families = {family: _means(records) for family, records in rows.items()}
        report["variants"][variant.name] = {
            "checkpoint": variant.checkpoint, "steps": None if variant.renderer is None else variant.steps,
            "noise": variant.noise, "lock": variant.lock, "context": variant.context,
            "families": families, "all": _means([r for records in rows.values() for r in records]),
            "seconds_per_frame": painting / (len(held_out) * report["frames"]) if variant.renderer else None,
        }
    return report


def goals(report: dict, diffusion: str, per_frame: str | None) -> dict | None:
    """The goals of the small renderer on objects_drop: PSNR >= 25 dB, SSIM >= 0.85, E_warp
    <= 2x the reference's, temporal variance < 1.2 %, E_warp below the per-frame variant's."""
    variants = report["variants"]
    if GOAL_FAMILY not in variants.get(diffusion, {}).get("families", {}):
        return None
    ours, floor = variants[diffusion]["families"][GOAL_FAMILY], variants["reference"]["families"][GOAL_FAMILY]
    checks = {
        "psnr_db >= 25": (ours["psnr_db"], ours["psnr_db"] >= 25),
        "ssim >= 0.85": (ours["ssim"], ours["ssim"] >= 0.85),
        "warp_error <= 2x reference": (ours["warp_error"] / max(floor["warp_error"], 1e-12),
                                       ours["warp_error"] <= 2 * floor["warp_error"]),
        "temporal_variance_percent < 1.2": (ours["temporal_variance_percent"], ours["temporal_variance_percent"] < 1.2),
    }
    if per_frame in variants:
        theirs = variants[per_frame]["families"][GOAL_FAMILY]["warp_error"]
        checks["warp_error < per-frame variant"] = (ours["warp_error"] / theirs, ours["warp_error"] < theirs)
    return {"family": GOAL_FAMILY, "variant": diffusion,
            "checks": {k: {"value": v, "met": bool(m)} for k, (v, m) in checks.items()},
            "met": all(m for _, m in checks.values())}


def coherence_goals(report: dict, plain: str, steps: int) -> dict | None:
    """The coherence goals on objects_drop: all together, E_warp <= 1.5x the reference's and
    temporal variance < 1.2 %; warped noise alone, E_warp at least 30 % below ``plain``
    sampling's (same steps, independent noise) at equal or better PSNR."""
    variants = report["variants"]
    names = {"together": f"all together {steps}", "warped": f"+ warped noise {steps}"}
    if any(GOAL_FAMILY not in variants.get(n, {}).get("families", {}) for n in (plain, *names.values())):
        return None
    floor, ours = variants["reference"]["families"][GOAL_FAMILY], variants[plain]["families"][GOAL_FAMILY]
    together, warped = (variants[names[k]]["families"][GOAL_FAMILY] for k in ("together", "warped"))
    cut = 1 - warped["warp_error"] / max(ours["warp_error"], 1e-12)
    checks = {
        "all together: warp_error <= 1.5x reference": (together["warp_error"] / max(floor["warp_error"], 1e-12),
                                                        together["warp_error"] <= 1.5 * floor["warp_error"]),
        "all together: temporal_variance_percent < 1.2": (together["temporal_variance_percent"],
                                                          together["temporal_variance_percent"] < 1.2),
        "warped noise: warp_error cut >= 30 %": (100 * cut, cut >= 0.3),
        "warped noise: psnr_db change >= 0": (warped["psnr_db"] - ours["psnr_db"], warped["psnr_db"] >= ours["psnr_db"]),
    }
    return {"family": GOAL_FAMILY, "variant": names["together"],
            "checks": {k: {"value": v, "met": bool(m)} for k, (v, m) in checks.items()},
            "met": all(m for _, m in checks.values())}


def format_table(report: dict) -> str:
    """One row per variant and family, one column per metric."""
    header = f"{'variant':<22}{'family':<18}" + "".join(f"{m:>16}" for m in ("PSNR dB", "SSIM", "E_warp", "temp. var %",
                                                                          "VBench flicker", "colour drift"))
    lines = [header]
    for name, variant in report["variants"].items():
        for family, means in [*variant["families"].items(), ("all", variant["all"])]:
            cells = "".join(f"{_cell(means.get(m)):>16}" for m in METRICS)
            lines.append(f"{name:<22}{family:<18}{cells}")
    met = {True: "met", False: "NOT met"}
    for key in ("goals", "coherence_goals"):
        if report.get(key):
            lines.append(f"{key.replace('_', ' ')} ({report[key]['variant']} on {report[key]['family']}): "
                         + "; ".join(f"{k} ({_cell(c['value'])}) {met[c['met']]}" for k, c in report[key]["checks"].items()))
    return "\n".join(lines)


def _means(records: list[dict]) -> dict:
    out = {}
    for key in METRICS:
        values = [r[key] for r in records if isinstance(r.get(key), (int, float)) and np.isfinite(r[key])]
        out[key] = float(np.mean(values)) if values else None
    return out


def _cell(value) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3e}" if abs(value) < 0.01 and value != 0 else f"{value:.3f}"
