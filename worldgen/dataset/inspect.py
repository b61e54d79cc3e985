"""``worldgen dataset inspect`` (counts, rejected episodes, per-modality statistics, a
contact sheet of random episodes) and ``worldgen dataset export`` (one episode as plain
files: PNG frames, mp4 previews of every modality, JSON and npz)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np

from worldgen.dataset.reader import EpisodeDataset, read_manifest

_STAT_MODALITIES = ("rgb", "depth", "segmentation", "flow", "depth_map")


def inspect_dataset(root: Path, sample: int = 64, sheet_episodes: int = 6, seed: int = 0) -> tuple[str, dict, Path | None]:
    """Report on the dataset in ``root``: returns the printed text, the statistics (also
    written to ``root/inspect.json``) and the contact sheet path (``root/inspect.png``).

    Counts are exact; per-modality statistics are over ``sample`` random stored episodes."""
    from worldgen.contact_sheet import contact_sheet

    manifest = read_manifest(root)
    data = EpisodeDataset(root, _STAT_MODALITIES)
    rng = random.Random(seed)
    chosen = sorted(rng.sample(range(len(data)), min(sample, len(data))))
    depth_lo, depth_hi, objects, visibility, motion, speed = [], [], [], [], [], []
    for i in chosen:
        item = data[i]
        meta = item["metadata"]
        hit = item["depth"][item["depth"] > 0]
        if hit.numel():
            depth_lo.append(float(hit.min())), depth_hi.append(float(hit.max()))
        seg = item["segmentation"]
        objects.extend(len(np.setdiff1d(np.unique(frame.numpy()), [0, 1])) for frame in seg)
        for inst in meta["instances"]:
            visibility.extend(v for v in inst.get("visibility", []) if v is not None)
            if inst["kind"] == "body" and not inst["fixed"]:
                speed.extend(float(np.linalg.norm(v)) for v in inst["linear_velocity"])
        valid = ~item["forward_occluded"][:-1] & (seg[:-1] >= 2)  # visible object pixels
        magnitude = item["forward_flow"][:-1].norm(dim=1)
        if valid.any():
            motion.append(float(magnitude[valid].mean()))

    def summary(values: list[float]) -> dict:
        a = np.asarray(values, float)
        return {"mean": float(a.mean()), "min": float(a.min()), "max": float(a.max())} if a.size else {}

    stored = sum(len(s["samples"]) for s in manifest["shards"])
    stats = {
        "family": manifest["family"], "split": manifest["split"], "episodes": manifest["episodes"],
        "complete": manifest["complete"], "stored": stored, "rejected": len(manifest["rejected"]),
        "shards": len(manifest["shards"]), "bytes": sum(s["bytes"] for s in manifest["shards"]),
        "sampled_episodes": len(chosen),
        "depth_min_m": summary(depth_lo), "depth_max_m": summary(depth_hi),
        "visible_objects_per_frame": summary(objects), "visibility_fraction": summary(visibility),
        "object_flow_px_per_frame": summary(motion), "body_speed_m_per_s": summary(speed),
    }
    (root / "inspect.json").write_text(json.dumps(stats, indent=1))

    sheet = None
    if len(data):
        picks = sorted(rng.sample(range(len(data)), min(sheet_episodes, len(data))))
        items = [data[i] for i in picks]
        from control.flow_colors import flow_to_color
        from control.segmentation_map import segmentation_map

        middle = [len(it["rgb"]) // 2 for it in items]
        columns = {
            "rgb first": np.stack([it["rgb"][0].numpy() for it in items]),
            "rgb middle": np.stack([it["rgb"][m].numpy() for it, m in zip(items, middle)]),
            "rgb last": np.stack([it["rgb"][-1].numpy() for it in items]),
            "depth map": np.stack([it["depth_map"][m].expand(3, -1, -1).numpy() for it, m in zip(items, middle)]),
            "segmentation": np.concatenate([segmentation_map(it["segmentation"][m:m + 1].numpy()) for it, m in zip(items, middle)]),
            "flow": np.concatenate([flow_to_color(it["forward_flow"][m:m + 1].numpy()) for it, m in zip(items, middle)]),
        }
        sheet = root / "inspect.png"
        contact_sheet(columns, list(range(len(items))), sheet,
                      title=f"{manifest['family']}: episodes {[data.samples[i]['key'] for i in picks]} (rows)")

    lines = [f"{root}: family {manifest['family']} ({manifest['split']} split), "
             f"{stored} of {manifest['episodes']} episodes stored in {stats['shards']} shards "
             f"({stats['bytes'] / 1e6:.1f} MB){'' if manifest['complete'] else ', INCOMPLETE (re-run generate to finish)'}"]
    lines.append(f"rejected: {len(manifest['rejected'])}")
    lines.extend(f"  {r['key']} (seed {r['seed']}): {r['reason']}" for r in manifest["rejected"][:20])
    lines.append(f"statistics over {len(chosen)} episodes (mean [min, max]):")
    for name in ("depth_min_m", "depth_max_m", "visible_objects_per_frame", "visibility_fraction",
                 "object_flow_px_per_frame", "body_speed_m_per_s"):
        s = stats[name]
        lines.append(f"  {name:<28} " + (f"{s['mean']:.3f} [{s['min']:.3f}, {s['max']:.3f}]" if s else "n/a"))
    lines.append(f"wrote {root / 'inspect.json'}" + (f" and {sheet}" if sheet else ""))
    return "\n".join(lines), stats, sheet


def export_episode(root: Path, episode: int, out: Path) -> list[Path]:
    """Write stored episode ``episode`` (its index in the dataset) as plain files in ``out``:
    every member (``rgb.003.png`` becomes ``rgb/003.png``) plus mp4 previews of the depth
    map, segmentation, normals, skeleton map and flow."""
    from control.flow_colors import flow_to_color
    from control.normal_map import normal_map
    from control.segmentation_map import segmentation_map
    from worldgen.video import write_video

    data = EpisodeDataset(root, ("segmentation", "normal", "flow", "depth_map", "skeleton", "camera"))
    keys = {s["index"]: i for i, s in enumerate(data.samples)}
    if episode not in keys:
        rejected = {r["index"]: r["reason"] for r in data.manifest["rejected"]}
        why = f"it was rejected: {rejected[episode]}" if episode in rejected else \
            f"stored episodes are {min(keys)}..{max(keys)}" if keys else "the dataset stores no episode"
        raise KeyError(f"no episode {episode} ({why})")
    position = keys[episode]
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for field, data_bytes in data.raw_members(position).items():
        name = field
        if field.startswith("rgb.") and field.endswith(".png"):
            (out / "rgb").mkdir(exist_ok=True)
            name = f"rgb/{field.split('.')[1]}.png"
        (out / name).write_bytes(data_bytes)
        files.append(out / name)
    item = data[position]
    fps = json.loads((out / "metadata.json").read_text())["fps"]
    previews = {
        "depth_map.mp4": item["depth_map"].expand(-1, 3, -1, -1).numpy(),
        "segmentation.mp4": segmentation_map(item["segmentation"].numpy()),
        "normals.mp4": normal_map(item["normal"].numpy(), item["world_to_camera"].numpy()),
        "skeleton_map.mp4": item["skeleton_map"].numpy(),
        "flow.mp4": flow_to_color(item["forward_flow"].numpy()),
    }
    for name, frames in previews.items():
        write_video(out / name, frames, fps)
        files.append(out / name)
    return files
