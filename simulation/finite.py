"""A simulation that leaves the finite numbers stops: the first body and frame whose pose
or velocity is not finite (NaN or infinite) become a one-line :class:`SceneError`, so that
no trajectory of NaNs is ever written as if it were fine."""

from __future__ import annotations

import numpy as np

from worldgen.scene.errors import SceneError

BODY_ARRAYS = ("body_position", "body_orientation", "body_linear_velocity", "body_angular_velocity")


def check_finite_bodies(arrays: dict[str, np.ndarray], names: list[str], fps: float, first_frame: int = 0) -> None:
    """Raise a :class:`SceneError` naming the first body and frame that is not finite.

    ``arrays``: the body arrays of :data:`BODY_ARRAYS` with a leading frame axis
    (T, B, ...), frame 0 being ``first_frame``; ``names``: the bodies' names."""
    position = arrays["body_position"]
    frames, bodies = position.shape[:2]
    if frames * bodies == 0:
        return
    bad = np.zeros((frames, bodies), bool)
    for key in BODY_ARRAYS:
        bad |= ~np.isfinite(arrays[key].reshape(frames, bodies, -1)).all(axis=-1)
    if bad.any():
        t, b = (int(i) for i in np.argwhere(bad)[0])
        frame = first_frame + t
        raise SceneError("simulation", f"body {names[b]!r} is no longer finite (NaN or infinite pose or velocity) at frame "
                         f"{frame} (t = {frame / fps:.3f} s); nothing was written. Its initial position, velocity, "
                         "mass or the forces on it are out of range")
