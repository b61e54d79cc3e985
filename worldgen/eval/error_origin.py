"""Where a learned rollout's error is made: the restart oracle.

Each body of held-out pybullet episodes is held on its true states until ``k`` frames after
its first contact (the first frame whose one-frame velocity change departs from free fall
by more than ``threshold`` m/s), then left to the network; every other body and frame is
the network's. The error that remains at frame T - 1 when a body is released ``k`` frames
after its contact is the error made after that point, so the drop from one ``k`` to the
next is what those frames cost. The network alone (no sleeping, no floor projection: what
training-time validation measures) is the ``network_alone`` row.

Run as ``worldgen eval error-origin --data DIR [--checkpoint DIR]`` on a
``--states-only`` dataset at the model's frame rate (docs/world_model.md: the world-model
data); it prints a table and writes JSON. Units: m, rad."""

from __future__ import annotations

import torch

from simulation.dynamics import DynamicsModel, rotations
from simulation.dynamics.entities import BODY, EntityState, EntityTable
from simulation.dynamics.features import GRAVITY
from simulation.dynamics.integrate import targets
from simulation.dynamics.rollout import rollout
from worldgen.scene import SceneError

DELAYS = (0, 1, 2, 4, 6, 12)  # frames after the first contact at which bodies are released
NEVER = 10**6  # first-contact frame of a body that makes none


def first_contact_frames(table: EntityTable, states: EntityState, fps: float, threshold: float) -> torch.Tensor:
    """(S, N) long: per entity, the first frame t >= 1 whose step t -> t + 1 changes the
    velocity by more than ``threshold`` m/s away from free fall; NEVER if none does.
    Frame 0 is skipped: its velocity is the instantaneous one, not a mean over a frame.
    ``states``: (S, T, N) true states."""
    T = states.position.shape[1]
    free_fall = torch.tensor([0.0, 0.0, -GRAVITY / fps], dtype=states.position.dtype)
    departs = torch.stack([
        (targets(table, states.map(lambda x: x[:, t]), states.map(lambda x: x[:, t + 1]), fps)[..., :3] - free_fall)
        .norm(dim=-1) > threshold
        for t in range(1, T - 1)], dim=1)  # (S, T - 2, N)
    return torch.where(departs.any(1), departs.float().argmax(1) + 1, torch.full(departs.shape[::2], NEVER))


def error_origin(model: DynamicsModel, table: EntityTable, states: EntityState, delays=DELAYS,
                 threshold: float = 0.3) -> dict:
    """Rollout errors of the network alone and with bodies released ``k`` frames after
    their first contact, for each ``k`` in ``delays``: mean translation (m) and rotation
    (rad) error of the dynamic bodies over frames 1..T-1 (``whole``) and at frame T - 1
    (``last``); plus the number of bodies, of bodies with a contact and the median
    first-contact frame."""
    fps = model.config.fps
    body = table.kind == BODY
    first = first_contact_frames(table, states, fps, threshold)
    touched = body & (first < NEVER)

    def errors(held_until: torch.Tensor) -> dict:
        out = rollout(model, table, states, states.position.shape[1], held_until=held_until)
        moved = (out.position[:, 1:] - states.position[:, 1:]).norm(dim=-1)
        turned = rotations.angle_between(out.orientation[:, 1:], states.orientation[:, 1:])
        mask = body.unsqueeze(1).expand_as(moved)
        return {"translation_whole_m": float(moved[mask].mean()), "rotation_whole_rad": float(turned[mask].mean()),
                "translation_last_m": float(moved[:, -1][body].mean()), "rotation_last_rad": float(turned[:, -1][body].mean())}

    rows = {"network_alone": errors(torch.full_like(first, -1))}
    for k in delays:
        rows[f"released_{k}_after_contact"] = errors(first + k)
    return {"bodies": int(body.sum()), "bodies_with_contact": int(touched.sum()),
            "median_first_contact_frame": float(first[touched].float().median()) if touched.any() else None,
            "threshold_m_per_s": threshold, "frames": int(states.position.shape[1]), "rows": rows}


def error_origin_report(model: DynamicsModel, data: str, episodes: int = 64, frames: int = 25,
                        threshold: float = 0.3) -> dict:
    """:func:`error_origin` on the first ``episodes`` episodes of the states-only dataset
    ``data``, cut to their first ``frames`` frames; a SceneError when the data cannot serve."""
    from worldgen.pipelines.train_dynamics import load_group

    group = load_group(data, model.config.fps, episodes)
    if group.frames < frames:
        raise SceneError("--frames", f"episodes have {group.frames} frames; --frames asks for {frames}", data)
    report = error_origin(model, group.table, group.states.map(lambda x: x[:, :frames]), threshold=threshold)
    report.update(data=data, episodes=group.episodes)
    return report


def format_table(report: dict) -> str:
    """The report as text: counts, then one row per release delay."""
    lines = [f"{report['bodies']} bodies, {report['bodies_with_contact']} with a contact, median first contact at "
             f"frame {report['median_first_contact_frame']}",
             f"{'':28s} {'whole (m)':>10s} {'whole (rad)':>12s} {'last (m)':>10s} {'last (rad)':>11s}"]
    for name, row in report["rows"].items():
        lines.append(f"{name:28s} {row['translation_whole_m']:10.4f} {row['rotation_whole_rad']:12.3f} "
                     f"{row['translation_last_m']:10.4f} {row['rotation_last_rad']:11.3f}")
    return "\n".join(lines)
