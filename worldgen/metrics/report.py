"""Every temporal metric a clip allows, in one report: flow-free measures always, warping
error, temporal variance, drift and per-instance colour drift with flow, the seam score
with a chunk size, PSNR and SSIM with a reference, and with both the colour-drift slopes
against the reference's (``colour_drift_slope``, ``colour_drift_reference_slope``,
``colour_drift_slope_gap`` in levels per 100 frames, ``colour_drift_indistinguishable``). Definitions: :mod:`worldgen.metrics`."""

from __future__ import annotations

import numpy as np

from worldgen import metrics
from worldgen.io.flow_file import FlowFile
from worldgen.metrics.frames import as_float_frames
from worldgen.scene.errors import SceneError


def evaluate(frames: np.ndarray, flow: FlowFile | None = None, reference: np.ndarray | None = None,
             chunk: int | None = None) -> dict:
    """Every metric that ``frames`` (uint8 (T, H, W, 3)) and what is given allow:
    ``{"summary": {...}, "per_frame": {...}, "instances": [...]}`` (module docstring)."""
    floats = as_float_frames(frames)
    differences = metrics.frame_differences(frames)
    mean_difference = float(differences.mean())
    summary: dict = {
        "vbench_temporal_flickering": metrics.vbench_score(mean_difference),
        "mean_frame_difference": mean_difference,
        "flicker_source": metrics.flicker_source(mean_difference),
    }
    per_frame: dict = {"frame_difference": differences}
    seam_series = differences
    instances: list[dict] = []
    if flow is not None:
        errors = metrics.warping_errors(floats, flow.forward, flow.forward_occluded)
        drift = metrics.composed_drift(floats, flow.forward, flow.forward_occluded)
        summary.update(
            warp_error=errors.mean_warp_error, temporal_variance_percent=errors.mean_temporal_variance,
            visible_fraction=float(errors.visible.mean()), drift_final_percent=float(drift.drift[-1]),
            drift_max_percent=float(np.nanmax(drift.drift)),  # drift_0 = 0: never all NaN
            tracked_final=float(drift.tracked[-1]),
        )
        per_frame.update(warp_error=errors.warp_error, temporal_variance_percent=errors.temporal_variance,
                         drift_percent=drift.drift, tracked=drift.tracked)
        seam_series = errors.warp_error
        if flow.instance is not None:
            colors = metrics.instance_color_drift(floats, flow.instance)
            instances = _instance_records(colors, flow.instance_names)
            summary["max_instance_drift"] = max((r["max_drift"] for r in instances if r["max_drift"] is not None),
                                                default=None)
    if chunk is not None:
        try:
            summary["seam_score"] = metrics.seam_score(seam_series, chunk)
        except ValueError as err:
            raise SceneError("--chunk", str(err), "command line") from None
        summary["seam_measure"] = f"{'warp_error' if flow is not None else 'frame_difference'}, chunks of {chunk}"
    if reference is not None:
        reference = as_float_frames(reference)
        per_frame["psnr_db"] = metrics.psnr(floats, reference)
        per_frame["ssim"] = metrics.ssim(floats, reference)
        summary.update(psnr_db=float(np.mean(per_frame["psnr_db"])), ssim=float(np.mean(per_frame["ssim"])))
        if flow is not None and flow.instance is not None:
            agreement = metrics.slope_agreement(metrics.color_drift_slopes(colors), metrics.color_drift_slopes(
                metrics.instance_color_drift(reference, flow.instance)))
            if agreement is not None:
                summary.update({f"colour_drift_{key}": value for key, value in agreement.items()})
    per_frame = {key: value.tolist() for key, value in per_frame.items()}
    return {"summary": summary, "per_frame": per_frame, "instances": instances}


def _instance_records(colors, names: dict[int, str]) -> list[dict]:
    """One record per instance, largest drift first."""
    records = []
    for k, instance_id in enumerate(colors.ids.tolist()):
        drift = colors.drift[:, k]
        seen = ~np.isnan(drift)
        records.append({
            "id": instance_id, "name": names.get(instance_id, f"instance {instance_id}"),
            "frames_seen": int(seen.sum()),
            "max_drift": float(np.max(drift[seen])) if seen.any() else None,
            "final_drift": float(drift[seen][-1]) if seen.any() else None,
            "drift": drift.tolist(),
        })
    return sorted(records, key=lambda r: -1.0 if r["max_drift"] is None else r["max_drift"], reverse=True)
