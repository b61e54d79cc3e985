"""Deactivation ("sleeping") of bodies that have come to rest, as rigid-body engines do.

A network's predicted changes are never exactly zero, so without this a body at rest
creeps: an error of 1 mm/s per frame integrates to metres over a minute. Bullet solves the
same problem in its own solver by deactivating a body that stays below its speed thresholds
for a while; the learned engine does the same after the network's step: a body whose
predicted next velocity stays below ``speed`` and angular velocity below ``angular_speed``
for ``seconds`` (that many consecutive frames at the model's rate) is held where it is with zero velocity. The network still
predicts its change every frame, so a body that is pushed or hit (its predicted velocity
rising above a threshold again) wakes at once and moves on the network's prediction."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from simulation.dynamics.entities import BODY, EntityState, EntityTable


@dataclass(frozen=True)
class SleepRule:
    """Thresholds of deactivation (m/s, rad/s, s)."""

    speed: float = 0.05
    angular_speed: float = 0.5
    seconds: float = 0.5

    def apply(self, table: EntityTable, state: EntityState, following: EntityState,
              quiet: torch.Tensor, fps: float) -> tuple[EntityState, torch.Tensor]:
        """The next frame with sleeping bodies held at their pose in ``state`` (S, N) with
        zero velocities, and the updated count (S, N) of consecutive slow frames (start
        from zeros) at ``fps`` frames per second."""
        slow = ((table.kind == BODY) & (following.velocity.norm(dim=-1) < self.speed)
                & (following.angular_velocity.norm(dim=-1) < self.angular_speed))
        quiet = torch.where(slow, quiet + 1, torch.zeros_like(quiet))
        zero = torch.zeros_like(state.velocity)
        held = dataclasses.replace(following, position=state.position, orientation=state.orientation,
                                   velocity=zero, angular_velocity=zero)
        return held.where(quiet >= round(self.seconds * fps), following), quiet
