"""Per-frame light state from the scene script and the bodies' poses.

A light's position is fixed, follows an object (``attach_to`` with an ``offset`` in the
object's frame), an orbit, or keyframes. Its direction is ``direction`` (in the object's
frame when attached) or points at ``look_at``. Colour and intensity follow keyframes;
intensity is then multiplied by the flicker gain."""

from __future__ import annotations

import numpy as np

from simulation.state import LightInfo
from worldgen.scene.animation import flicker_gain, keyframe_track, orbit_position
from worldgen.scene.rotations import rotation_matrix
from worldgen.scene.schema import LightSpec, Scene

DOWN = np.array([0.0, 0.0, -1.0])


def light_info(light: LightSpec) -> LightInfo:
    """Static attributes of a light."""
    return LightInfo(
        name=light.name,
        type=light.type,
        spot_angle=light.spot_angle,
        spot_softness=light.spot_softness,
        size=list(light.size),
        attach_to=light.attach_to,
    )


def light_states(
    scene: Scene, times: np.ndarray, body_position: np.ndarray, body_orientation: np.ndarray
) -> dict[str, np.ndarray]:
    """Light arrays over a trajectory.

    times (T,) s; body_position (T, B, 3); body_orientation (T, B, 4) (x, y, z, w), bodies
    in ``scene.objects`` order. Returns ``light_position`` (T, L, 3), ``light_direction``
    (T, L, 3) unit, ``light_color`` (T, L, 3), ``light_intensity`` (T, L)."""
    T, L = len(times), len(scene.lights)
    out = {
        "light_position": np.zeros((T, L, 3)),
        "light_direction": np.tile(DOWN, (T, L, 1)),
        "light_color": np.zeros((T, L, 3)),
        "light_intensity": np.zeros((T, L)),
    }
    index = {obj.name: i for i, obj in enumerate(scene.objects)}
    for l, light in enumerate(scene.lights):
        keys = light.keyframes or []
        rotation = None
        if light.attach_to is not None:
            b = index[light.attach_to]
            rotation = rotation_matrix(body_orientation[:, b])  # (T, 3, 3)
            position = body_position[:, b] + rotation @ np.asarray(light.offset)
        elif light.orbit is not None:
            position = orbit_position(light.orbit, times)
        else:
            track = keyframe_track(keys, "position", times) if keys else None
            fixed = light.position if light.position is not None else (0.0, 0.0, 0.0)
            position = track if track is not None else np.tile(np.asarray(fixed, dtype=float), (T, 1))
        if light.look_at is not None:
            direction = np.asarray(light.look_at) - position
        elif light.direction is not None:
            direction = np.tile(np.asarray(light.direction, dtype=float), (T, 1))
            if rotation is not None:
                direction = (rotation @ direction[:, :, None])[:, :, 0]
        else:
            direction = np.tile(DOWN, (T, 1))
        norm = np.linalg.norm(direction, axis=-1, keepdims=True)
        direction = np.where(norm > 1e-12, direction / np.maximum(norm, 1e-12), DOWN)
        color = keyframe_track(keys, "color", times) if keys else None
        intensity = keyframe_track(keys, "intensity", times) if keys else None
        if color is None:
            color = np.tile(np.asarray(light.color, dtype=float), (T, 1))
        if intensity is None:
            intensity = np.full(T, light.intensity, dtype=float)
        if light.flicker is not None:
            intensity = intensity * flicker_gain(light.flicker, times, scene.seed, f"lights[{l}]")
        out["light_position"][:, l] = position
        out["light_direction"][:, l] = direction
        out["light_color"][:, l] = color
        out["light_intensity"][:, l] = intensity
    return out
