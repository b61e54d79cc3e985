"""Scripted motion shared by lights and cameras: orbits, keyframes, dolly moves, flicker.
Pure numpy; time in seconds, angles in radians unless a name says degrees. Rotations:
:mod:`worldgen.scene.rotations`."""

from __future__ import annotations

import zlib

import numpy as np

from worldgen.scene.schema import Dolly, Flicker, Keyframe, Orbit


def orbit_position(orbit: Orbit, t: np.ndarray) -> np.ndarray:
    """(T, 3) positions on the orbit at times ``t`` (T,) seconds."""
    angle = np.radians(orbit.phase) + 2 * np.pi * np.asarray(t, dtype=float) / orbit.period
    offset = np.stack([np.cos(angle), np.sin(angle), np.zeros_like(angle)], -1) * orbit.radius
    return np.asarray(orbit.center) + offset


def keyframe_track(keys: list[Keyframe], attribute: str, t: np.ndarray) -> np.ndarray | None:
    """Values of ``attribute`` at times ``t`` (T,), linearly interpolated between the keys
    that set it and held outside them; None if no key sets it. Shape (T,) or (T, D)."""
    times = [k.time for k in keys if getattr(k, attribute) is not None]
    if not times:
        return None
    values = np.array([getattr(k, attribute) for k in keys if getattr(k, attribute) is not None], dtype=float)
    t = np.asarray(t, dtype=float)
    if values.ndim == 1:
        return np.interp(t, times, values)
    return np.stack([np.interp(t, times, values[:, d]) for d in range(values.shape[1])], -1)


def dolly_position(start, dolly: Dolly, t: np.ndarray, clip_end: float) -> np.ndarray:
    """(T, 3) camera positions moving from ``start`` to ``dolly.to`` between
    ``dolly.start`` and ``dolly.end`` (default ``clip_end``) seconds, smoothstep-eased."""
    end = dolly.end if dolly.end is not None else clip_end
    span = max(end - dolly.start, 1e-9)
    s = np.clip((np.asarray(t, dtype=float) - dolly.start) / span, 0.0, 1.0)
    s = s * s * (3 - 2 * s)
    return np.asarray(start, dtype=float) + s[:, None] * (np.asarray(dolly.to) - np.asarray(start))


def flicker_gain(flicker: Flicker, t: np.ndarray, seed: int, key: str) -> np.ndarray:
    """(T,) intensity multipliers 1 + amplitude * n(t): n is value noise in [-1, 1],
    random values at 1/frequency spacing joined by smoothstep, drawn from (seed, key)."""
    t = np.asarray(t, dtype=float) * flicker.frequency
    count = int(np.floor(t.max(initial=0.0))) + 2
    knots = np.random.default_rng([seed, zlib.crc32(key.encode())]).uniform(-1, 1, count)
    i = np.floor(t).astype(int)
    s = t - i
    s = s * s * (3 - 2 * s)
    return 1 + flicker.amplitude * ((1 - s) * knots[i] + s * knots[i + 1])

