"""Scripted motion shared by lights and cameras: orbits, keyframes, dolly moves, flicker,
plus the rotation helpers they need. Pure numpy; time in seconds, angles in radians
unless a name says degrees; quaternions (x, y, z, w)."""

from __future__ import annotations

import zlib

import numpy as np

from worldgen.scene.schema import Dolly, Flicker, Keyframe, Orbit


def quaternion_from_euler_degrees(euler) -> np.ndarray:
    """(4,) quaternion (x, y, z, w) of rotations about the fixed x, then y, then z axes by
    the given degrees (the convention of pybullet's ``getQuaternionFromEuler``)."""
    rx, ry, rz = np.radians(np.asarray(euler, dtype=float)) / 2
    cx, sx, cy, sy, cz, sz = np.cos(rx), np.sin(rx), np.cos(ry), np.sin(ry), np.cos(rz), np.sin(rz)
    return np.array([
        sx * cy * cz - cx * sy * sz,
        cx * sy * cz + sx * cy * sz,
        cx * cy * sz - sx * sy * cz,
        cx * cy * cz + sx * sy * sz,
    ])


def rotation_matrix(q) -> np.ndarray:
    """(..., 3, 3) rotation matrices of (..., 4) quaternions (x, y, z, w), normalised."""
    q = np.asarray(q, dtype=float)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    x, y, z, w = np.moveaxis(q, -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def quaternion_from_matrix(m) -> np.ndarray:
    """(4,) quaternion (x, y, z, w) of a 3x3 rotation matrix."""
    m = np.asarray(m, dtype=float)
    trace = np.trace(m)
    if trace > 0:
        s = 2 * np.sqrt(trace + 1)
        q = [(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, s / 4]
    else:
        i = int(np.argmax(np.diag(m)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2 * np.sqrt(1 + m[i, i] - m[j, j] - m[k, k])
        q = [0.0, 0.0, 0.0, (m[k, j] - m[j, k]) / s]
        q[i] = s / 4
        q[j] = (m[j, i] + m[i, j]) / s
        q[k] = (m[k, i] + m[i, k]) / s
    q = np.array(q)
    return q / np.linalg.norm(q)


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


def look_at_rotation(position, target, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """(3, 3) world-to-camera rotation of a camera at ``position`` looking at ``target``,
    OpenCV axes: x right, y down, z forward. Falls back to another up vector when the
    view direction is parallel to ``up``."""
    forward = np.asarray(target, dtype=float) - np.asarray(position, dtype=float)
    forward /= np.linalg.norm(forward)
    up = np.asarray(up, dtype=float)
    right = np.cross(forward, up)
    if np.linalg.norm(right) < 1e-9:
        right = np.cross(forward, [0.0, 1.0, 0.0] if abs(forward[1]) < 0.9 else [1.0, 0.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    return np.stack([right, down, forward])
