"""``worldgen dataset inspect`` (counts, rejected episodes, per-modality statistics, a
contact sheet of random episodes) and ``worldgen dataset export`` (one episode as plain
files: PNG frames, mp4 previews of every modality, JSON and npz)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import torch

from worldgen.dataset.reader import EpisodeDataset, read_manifest
from worldgen.dataset.store import ALL, dataset_content

_IMAGE_STAT_MODALITIES = ("rgb", "depth", "segmentation", "flow", "depth_map")
_IMAGE_STATS = ("depth_min_m", "depth_max_m", "visible_objects_per_frame", "visibility_fraction", "object_flow_px_per_frame")
_STATE_STATS = ("bodies_per_episode", "body_speed_m_per_s", "body_height_m")


def _movable(meta: dict) -> np.ndarray:
    """(B,) bool: which bodies of an episode move (full metadata lists them among its
    instances, states-only metadata under ``bodies``; both in the state's body order)."""
    bodies = meta["bodies"] if "bodies" in meta else [i for i in meta["instances"] if i["kind"] == "body"]
    return np.array([not b["fixed"] for b in bodies], bool)


def inspect_dataset(root: Path, sample: int = 64, sheet_episodes: int = 6, seed: int = 0) -> tuple[str, dict, Path | None]:
    """Report on the dataset in ``root``: returns the printed text, the statistics (also
    written to ``root/inspect.json``) and the contact sheet path (``root/inspect.png``).

    Counts are exact; per-modality statistics are over ``sample`` random stored episodes.
    A states-only dataset gets the state statistics only and no contact sheet (None)."""
    manifest = read_manifest(root)
    images = dataset_content(manifest) == ALL
    data = EpisodeDataset(root, (_IMAGE_STAT_MODALITIES if images else ()) + ("state",))
    rng = random.Random(seed)
    chosen = sorted(rng.sample(range(len(data)), min(sample, len(data))))
    values: dict[str, list[float]] = {name: [] for name in (_IMAGE_STATS if images else ()) + _STATE_STATS}
    for i in chosen:
        item = data[i]
        meta = item["metadata"]
        movable = torch.from_numpy(_movable(meta))
        values["bodies_per_episode"].append(meta["num_bodies"])
        values["body_speed_m_per_s"].extend(item["body_linear_velocity"][:, movable].norm(dim=-1).flatten().tolist())
        values["body_height_m"].extend(item["body_position"][:, movable, 2].flatten().tolist())
        if not images:
            continue
        hit = item["depth"][item["depth"] > 0]
        if hit.numel():
            values["depth_min_m"].append(float(hit.min())), values["depth_max_m"].append(float(hit.max()))
        seg = item["segmentation"]
        values["visible_objects_per_frame"].extend(len(np.setdiff1d(np.unique(frame.numpy()), [0, 1])) for frame in seg)
        for inst in meta["instances"]:
            values["visibility_fraction"].extend(v for v in inst.get("visibility", []) if v is not None)
        valid = ~item["forward_occluded"][:-1] & (seg[:-1] >= 2)  # visible object pixels
        magnitude = item["forward_flow"][:-1].norm(dim=1)
        if valid.any():
            values["object_flow_px_per_frame"].append(float(magnitude[valid].mean()))

    def summary(values: list[float]) -> dict:
        a = np.asarray(values, float)
        return {"mean": float(a.mean()), "min": float(a.min()), "max": float(a.max())} if a.size else {}

    stored = sum(len(s["samples"]) for s in manifest["shards"])
    stats = {
        "family": manifest["family"], "split": manifest["split"], "episodes": manifest["episodes"],
        "complete": manifest["complete"], "stored": stored, "rejected": len(manifest["rejected"]),
        "shards": len(manifest["shards"]), "bytes": sum(s["bytes"] for s in manifest["shards"]),
        "content": dataset_content(manifest), "sampled_episodes": len(chosen),
        **{name: summary(v) for name, v in values.items()},
    }
    (root / "inspect.json").write_text(json.dumps(stats, indent=1))

    sheet = None
    if images and len(data):
        picks = sorted(rng.sample(range(len(data)), min(sheet_episodes, len(data))))
        items = [data[i] for i in picks]
        from control.flow_colors import flow_to_color
        from control.segmentation_map import segmentation_map
        from worldgen.io.contact_sheet import contact_sheet

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
    lines.append(f"statistics over {len(chosen)} episodes (mean [min, max])"
                 + ("" if images else "; a states-only dataset: no image statistics, no contact sheet") + ":")
    for name in values:
        s = stats[name]
        lines.append(f"  {name:<28} " + (f"{s['mean']:.3f} [{s['min']:.3f}, {s['max']:.3f}]" if s else "n/a"))
    lines.append(f"wrote {root / 'inspect.json'}" + (f" and {sheet}" if sheet else ""))
    return "\n".join(lines), stats, sheet


def export_episode(root: Path, episode: int, out: Path) -> list[Path]:
    """Write stored episode ``episode`` (its index in the dataset) as plain files in ``out``:
    every member (``rgb.003.png`` becomes ``rgb/003.png``) plus mp4 previews of the depth
    map, segmentation, normals, skeleton map and flow (none for a states-only episode)."""
    from control.flow_colors import flow_to_color
    from control.normal_map import normal_map
    from control.segmentation_map import segmentation_map
    from worldgen.io.video import write_video

    images = dataset_content(read_manifest(root)) == ALL
    data = EpisodeDataset(root, ("segmentation", "normal", "flow", "depth_map", "skeleton", "camera") if images else ("state",))
    keys = {s["index"]: i for i, s in enumerate(data.samples)}
    if episode not in keys:
        rejected = {r["index"]: r["reason"] for r in data.manifest["rejected"]}
        why = f"it was rejected: {rejected[episode]}" if episode in rejected else \
            f"stored episodes are {min(keys)}..{max(keys)}" if keys else "the dataset stores no episode"
        raise KeyError(f"no episode {episode} ({why})")
    position = keys[episode]
    members = data.raw_members(position)  # read (and checked against its digest) before anything is written
    item = data[position] if images else None
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for field, data_bytes in members.items():
        name = field
        if field.startswith("rgb.") and field.endswith(".png"):
            (out / "rgb").mkdir(exist_ok=True)
            name = f"rgb/{field.split('.')[1]}.png"
        (out / name).write_bytes(data_bytes)
        files.append(out / name)
    if item is None:  # a states-only episode: its members are all there is
        return files
    fps = json.loads(members["metadata.json"])["fps"]
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
