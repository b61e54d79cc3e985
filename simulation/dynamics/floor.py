"""The floor as a hard constraint of the learned engine (a position-based projection).

The network learns contact with the floor but, stepping one video frame at a time, it can
end a frame with a body partly below it (a few millimetres on average, centimetres after
a fast impact), which a render shows as an object sunk into the ground. Position-based
dynamics (Müller et al. 2007) resolves such violations after the step: the body is moved
up by its penetration depth, and its velocity, the mean over the last frame in this
model's convention, gains the same displacement per frame time, so that the state stays
what integrating its velocity gives. The depth is exact for primitives (the support
function of :mod:`simulation.dynamics.features`; a mesh counts as its bounding box)."""

from __future__ import annotations

import dataclasses

import torch

from simulation.dynamics import rotations
from simulation.dynamics.entities import BODY, FLOOR, EntityState, EntityTable
from simulation.dynamics.features import floor_clearance


def lift_above_floor(table: EntityTable, state: EntityState, fps: float) -> EntityState:
    """``state`` (S, N) with every body of a scene that has a floor moved up out of it
    (lowest point at z = 0) and its velocity (m/s) raised by the lift (m) times ``fps``."""
    has_floor = (table.kind == FLOOR).any(-1, keepdim=True)
    depth = -floor_clearance(table, state, rotations.to_matrix(state.orientation))
    lift = torch.where((table.kind == BODY) & has_floor, depth.clamp_min(0.0), torch.zeros_like(depth))
    up = torch.zeros_like(state.position)
    up[..., 2] = lift
    return dataclasses.replace(state, position=state.position + up, velocity=state.velocity + up * fps)
