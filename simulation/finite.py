"""A simulation that leaves the finite numbers stops: the first entity and frame whose
state is not finite (NaN or infinite) become a one-line :class:`SceneError`, so that no
trajectory of NaNs is ever written as if it were fine."""

from __future__ import annotations

import numpy as np

from worldgen.scene.errors import SceneError

BODY_ARRAYS = ("body_position", "body_orientation", "body_linear_velocity", "body_angular_velocity")
_ADVICE = {
    "body": "its initial position, velocity, mass or the forces on it are out of range",
    "light": "its position, motion (orbit, keyframes) or intensity is out of range",
    "humanoid": "its position, scale or speed is out of range",
}


def check_finite(arrays: dict[str, np.ndarray], names: dict[str, list[str]], fps: float, first_frame: int = 0) -> None:
    """Raise a :class:`SceneError` naming the first entity and frame that is not finite.

    ``arrays``: state arrays by :class:`~simulation.state.SceneState` field name (``time``
    is skipped), each with a leading frame axis then an entity axis, frame 0 being
    ``first_frame``; ``names``: entity names by kind (``body``, ``light``, ``humanoid``)."""
    first = None  # (frame, kind, entity index)
    for key, values in arrays.items():
        kind = key.split("_")[0]
        if kind not in _ADVICE or values.ndim < 2 or values.size == 0:
            continue
        bad = ~np.isfinite(values.reshape(values.shape[0], values.shape[1], -1)).all(axis=-1)
        if bad.any():
            t, i = (int(v) for v in np.argwhere(bad)[0])
            first = min(first or (t, kind, i), (t, kind, i))
    if first is not None:
        t, kind, i = first
        frame = first_frame + t
        raise SceneError("simulation", f"{kind} {names[kind][i]!r} is no longer finite (NaN or infinite state) at frame "
                         f"{frame} (t = {frame / fps:.3f} s); nothing was written. Check the scene: {_ADVICE[kind]}")


def entity_names(trajectory) -> dict[str, list[str]]:
    """The names :func:`check_finite` takes, from a :class:`~simulation.state.Trajectory`."""
    return {"body": [b.name for b in trajectory.bodies], "light": [x.name for x in trajectory.lights],
            "humanoid": [h.name for h in trajectory.humanoids]}
