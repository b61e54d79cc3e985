"""Quaternion and rotation-vector operations on torch tensors, batched over leading axes.

Quaternions are ``(..., 4)`` in pybullet's order ``(x, y, z, w)``; rotation vectors are
``(..., 3)``, axis times angle in radians. All rotations act on world-frame vectors."""

from __future__ import annotations

import torch

_SMALL = 1e-8


def multiply(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product ``a * b`` (apply ``b`` first, then ``a``); (..., 4) (x, y, z, w)."""
    ax, ay, az, aw = a.unbind(-1)
    bx, by, bz, bw = b.unbind(-1)
    return torch.stack(
        (
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz,
        ),
        dim=-1,
    )


def conjugate(q: torch.Tensor) -> torch.Tensor:
    """Inverse of a unit quaternion (..., 4)."""
    return torch.cat((-q[..., :3], q[..., 3:]), dim=-1)


def normalise(q: torch.Tensor) -> torch.Tensor:
    """Unit quaternion (..., 4) with a non-negative w (q and -q are the same rotation)."""
    q = q / q.norm(dim=-1, keepdim=True).clamp_min(_SMALL)
    return torch.where(q[..., 3:] < 0, -q, q)


def to_matrix(q: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) of unit quaternions (..., 4) (x, y, z, w)."""
    x, y, z, w = q.unbind(-1)
    return torch.stack(
        (
            1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
            2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
            2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
        ),
        dim=-1,
    ).reshape(q.shape[:-1] + (3, 3))


def from_rotation_vector(v: torch.Tensor) -> torch.Tensor:
    """Unit quaternion (..., 4) of the rotation by |v| radians about v / |v| (exp map)."""
    angle = v.norm(dim=-1, keepdim=True)
    half = 0.5 * angle
    # sin(half) / angle, with its series near 0 so small rotations stay exact.
    scale = torch.where(angle > 1e-4, torch.sin(half) / angle.clamp_min(_SMALL), 0.5 - angle * angle / 48.0)
    return torch.cat((v * scale, torch.cos(half)), dim=-1)


def to_rotation_vector(q: torch.Tensor) -> torch.Tensor:
    """Rotation vector (..., 3) of unit quaternions (..., 4): the shortest rotation, angle in
    [0, pi] (log map)."""
    q = torch.where(q[..., 3:] < 0, -q, q)
    sin_half = q[..., :3].norm(dim=-1, keepdim=True)
    angle = 2.0 * torch.atan2(sin_half, q[..., 3:])
    scale = torch.where(sin_half > 1e-4, angle / sin_half.clamp_min(_SMALL), 2.0 + sin_half * sin_half / 3.0)
    return q[..., :3] * scale


def angle_between(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Geodesic angle (...) in radians between the rotations of unit quaternions a, b (..., 4)."""
    dot = (a * b).sum(-1).abs().clamp(max=1.0)
    return 2.0 * torch.acos(dot)
