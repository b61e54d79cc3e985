"""Unshadowed direct irradiance: what each light sends to a surface point, ignoring what
stands between them.

The light models are the reference renderer's (:mod:`renderer.pbr.mitsuba_scene`), in
linear RGB, colour times intensity:

- ``point``: radiant intensity I (W/sr) at distance d: E = I cos(theta) / d^2;
- ``spot``: the same inside the cone, at full intensity out to the beam angle
  (``(1 - spot_softness)`` of the half angle) and falling linearly in angle to 0 at the
  half angle, as mitsuba's ``spot`` does;
- ``directional``: irradiance E0 (W/m^2) on a plane facing the light: E = E0 cos(theta);
- ``area``: a one-sided rectangle of radiance L (W/(m^2 sr)) and area A, taken as a point
  at its centre of intensity L A cos(theta_light) (exact far from the rectangle).

theta is the angle between the surface normal and the direction to the light; surfaces
facing away get nothing. Shadows, interreflection and the specular lobe are what the
path tracer adds on top."""

from __future__ import annotations

import numpy as np


def direct_irradiance(position: np.ndarray, normal: np.ndarray, lights, light_position: np.ndarray,
                      light_direction: np.ndarray, light_color: np.ndarray,
                      light_intensity: np.ndarray) -> np.ndarray:
    """(..., 3) float32 linear RGB irradiance, W/m^2, at world points ``position`` (..., 3)
    m with unit world normals ``normal`` (..., 3), from ``lights`` (LightInfo, one per
    light) at ``light_position`` (L, 3) m, pointing along ``light_direction`` (L, 3) unit,
    of ``light_color`` (L, 3) linear RGB and ``light_intensity`` (L,) in each type's unit."""
    position, normal = np.asarray(position, np.float64), np.asarray(normal, np.float64)
    total = np.zeros(position.shape[:-1] + (3,))
    for light, origin, axis, color, intensity in zip(lights, light_position, light_direction, light_color,
                                                     light_intensity):
        axis = np.asarray(axis, np.float64) / max(np.linalg.norm(axis), 1e-12)
        if light.type == "directional":
            received = np.full(position.shape[:-1], float(intensity)) * np.clip(normal @ -axis, 0.0, None)
        else:
            offset = np.asarray(origin, np.float64) - position
            distance2 = np.maximum((offset ** 2).sum(-1), 1e-8)
            towards = offset / np.sqrt(distance2)[..., None]  # surface -> light, unit
            cosine = np.clip((normal * towards).sum(-1), 0.0, None)
            received = float(intensity) * cosine / distance2 * _emission(light, -towards @ axis)
        total += received[..., None] * np.asarray(color, np.float64)
    return total.astype(np.float32)


def _emission(light, cosine: np.ndarray) -> np.ndarray | float:
    """The fraction of a light's intensity sent at ``cosine`` of the angle from its axis."""
    if light.type == "point":
        return 1.0
    if light.type == "area":
        return np.clip(cosine, 0.0, None) * float(light.size[0]) * float(light.size[1])
    cutoff = np.radians(light.spot_angle / 2)
    beam = max(cutoff * (1 - light.spot_softness), 1e-3)
    angle = np.arccos(np.clip(cosine, -1.0, 1.0))
    ramp = np.clip((cutoff - angle) / max(cutoff - beam, 1e-6), 0.0, 1.0)
    return np.where(angle <= beam, 1.0, ramp)
