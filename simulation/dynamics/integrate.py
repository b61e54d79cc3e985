"""Frame-to-frame update of the learned world model, and its exact inverse (the training
targets).

Per predicted entity, with velocities as defined in :mod:`simulation.dynamics.entities`
and ``dt = 1 / fps``: ``v' = v + dv``, ``x' = x + v' dt`` (semi-implicit Euler, as in GNS);
bodies ``w' = w + dw``, ``q' = exp(w' dt) q`` (a unit quaternion by construction, and
renormalised); lights ``direction' = normalise(direction + d_direction)``,
``colour' = colour + d_colour``, ``log I' = log I + d_log_I``. ``targets`` inverts this,
so that applying the targets of a recorded frame reproduces the next frame exactly."""

from __future__ import annotations

import torch

from simulation.dynamics import rotations
from simulation.dynamics.entities import BODY, LIGHT, EntityState, EntityTable

VELOCITY, ANGULAR, DIRECTION, COLOR, INTENSITY = slice(0, 3), slice(3, 6), slice(6, 9), slice(9, 12), slice(12, 13)


def output_mask(kind: torch.Tensor) -> torch.Tensor:
    """(S, N, 13) 0/1: the outputs that exist for each entity (bodies: velocity and angular
    velocity changes; lights: velocity, direction, colour and intensity changes)."""
    mask = torch.zeros(kind.shape + (13,), device=kind.device)
    body, light = kind == BODY, kind == LIGHT
    mask[..., VELOCITY] = (body | light).unsqueeze(-1).float()
    mask[..., ANGULAR] = body.unsqueeze(-1).float()
    mask[..., 6:] = light.unsqueeze(-1).float()
    return mask


def turned(orientation: torch.Tensor, angular_velocity: torch.Tensor, fps: float) -> torch.Tensor:
    """Unit quaternions (..., 4) after turning at ``angular_velocity`` (..., 3) rad/s for one
    frame (1 / ``fps`` s): ``exp(w dt) q``, renormalised."""
    return rotations.normalise(rotations.multiply(rotations.from_rotation_vector(angular_velocity / fps), orientation))


def advance(table: EntityTable, state: EntityState, change: torch.Tensor, fps: float) -> EntityState:
    """The next frame of the predicted entities given per-entity changes (S, N, 13) in
    physical units (m/s, rad/s, unit vector, colour, log W); other entities are returned
    unchanged except for their velocity history (the caller puts them where their given
    motion says)."""
    mask = output_mask(table.kind).to(change.dtype)
    change = change * mask
    body = (table.kind == BODY).unsqueeze(-1)
    light = (table.kind == LIGHT).unsqueeze(-1)
    v = state.velocity + change[..., VELOCITY]
    w = state.angular_velocity + change[..., ANGULAR]
    q = turned(state.orientation, w, fps)
    direction = state.direction + change[..., DIRECTION]
    direction = direction / direction.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    direction = torch.where(light, direction, state.direction)
    log_intensity = state.log_intensity + change[..., 12]
    one = torch.ones_like(state.has_velocity)
    return EntityState(
        position=state.position + v / fps,
        orientation=torch.where(body, q, state.orientation),
        velocity=v,
        angular_velocity=w,
        previous_velocity=state.velocity,
        previous_angular_velocity=state.angular_velocity,
        has_velocity=one,
        has_previous=one,
        direction=direction,
        color=state.color + change[..., COLOR],
        log_intensity=log_intensity,
        direction_change=direction - state.direction,
        color_change=change[..., COLOR],
        log_intensity_change=change[..., 12],
    )


def targets(table: EntityTable, state: EntityState, following: EntityState, fps: float) -> torch.Tensor:
    """Changes (S, N, 13) that take ``state`` to ``following`` under :func:`advance`,
    zero where the entity has no such output."""
    v = (following.position - state.position) * fps
    w = rotations.to_rotation_vector(rotations.multiply(following.orientation, rotations.conjugate(state.orientation))) * fps
    change = torch.cat(
        [
            v - state.velocity, w - state.angular_velocity, following.direction - state.direction,
            following.color - state.color, (following.log_intensity - state.log_intensity).unsqueeze(-1),
        ],
        dim=-1,
    )
    return change * output_mask(table.kind).to(change.dtype)
