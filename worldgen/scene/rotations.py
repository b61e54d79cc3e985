"""Rotations on numpy arrays: quaternions ``(x, y, z, w)`` as pybullet returns them,
rotation matrices, Euler angles in degrees, rotation vectors (axis times angle, radians).

The one place for this algebra outside the learned model; ``simulation.dynamics.rotations``
is its batched, differentiable torch counterpart (the tests check that the two agree)."""

from __future__ import annotations

import numpy as np


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


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product ``a * b`` of quaternions ``(x, y, z, w)`` (rotate by b, then by a)."""
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return np.array([
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
        aw * bw - ax * bx - ay * by - az * bz,
    ])


def quat_conjugate(q: np.ndarray) -> np.ndarray:
    """Inverse of a unit quaternion ``(x, y, z, w)``."""
    return np.array([-q[0], -q[1], -q[2], q[3]])


def quat_slerp(a: np.ndarray, b: np.ndarray, fraction: float) -> np.ndarray:
    """Shortest-path spherical interpolation between unit quaternions ``(x, y, z, w)``;
    ``fraction`` 0 gives ``a``, 1 gives ``b`` (or ``-b``)."""
    dot = float(np.dot(a, b))
    if dot < 0.0:
        b, dot = -b, -dot
    if dot > 0.9995:  # nearly parallel: normalised lerp avoids dividing by sin(~0)
        q = a + fraction * (b - a)
        return q / np.linalg.norm(q)
    theta = np.arccos(dot)
    return (np.sin((1.0 - fraction) * theta) * a + np.sin(fraction * theta) * b) / np.sin(theta)


def quat_to_rotvec(q: np.ndarray) -> np.ndarray:
    """Rotation vector (axis * angle, radians, angle in [0, pi]) of a unit quaternion
    ``(x, y, z, w)``."""
    if q[3] < 0.0:
        q = -q
    sin_half = np.linalg.norm(q[:3])
    if sin_half < 1e-12:
        return 2.0 * q[:3]
    return q[:3] / sin_half * (2.0 * np.arctan2(sin_half, q[3]))
