"""Metrics of ``worldgen eval dynamics``: how far a dynamics engine's rollout strays from
pybullet's, measured against pybullet's own sensitivity to a tiny perturbation (the chaos
floor), and whether its states are physically plausible (penetration, rest, energy).

Units: metres, radians, kilograms, joules; quaternions (x, y, z, w); world z up. Shapes:
T frames, B bodies, L lights. Only dynamic (non-fixed) bodies are measured."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from simulation.state import SceneState
from worldgen.scene.rotations import quat_multiply, rotation_matrix

HORIZONS = (1, 6, 12, 24)  # frames after frame 0 at which errors are reported
PERTURB_TRANSLATION = 1e-3  # m, chaos floor: shift of each dynamic body's centre of mass
PERTURB_ANGLE = np.radians(0.5)  # rad, chaos floor: turn of each dynamic body
ENERGY_WINDOW = 12  # frames: window of the energy growth
ENERGY_JUMP = 0.01  # a frame whose energy rises by more than this fraction of E(0) is a jump
ENERGY_SCALE = 1.0  # J/kg: energy growth is divided by KE(0) + ENERGY_SCALE * total mass


def dynamic_mask(scene) -> np.ndarray:
    """(B,) bool: which of ``scene.objects`` are dynamic (not fixed)."""
    return np.array([not obj.physics.fixed for obj in scene.objects], dtype=bool)


def geodesic_angle(q: np.ndarray, r: np.ndarray) -> np.ndarray:
    """(...) rotation angle, rad in [0, pi], between orientations ``q`` and ``r``
    (..., 4) quaternions (x, y, z, w), normalised here: 2 acos(|<q, r>|), computed as
    4 atan2(|q - s r|, |q + s r|) with s = sign <q, r>, which is exact near zero (q vs q and
    q vs -q give exactly 0, where acos of a rounded 1 would give 1e-8)."""
    q = np.asarray(q, dtype=float)
    r = np.asarray(r, dtype=float)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    r = r / np.linalg.norm(r, axis=-1, keepdims=True)
    s = np.where(np.sum(q * r, axis=-1, keepdims=True) < 0, -1.0, 1.0)
    return 4.0 * np.arctan2(np.linalg.norm(q - s * r, axis=-1), np.linalg.norm(q + s * r, axis=-1))


def perturb(state: SceneState, dynamic: np.ndarray, rng: np.random.Generator,
            translation: float = PERTURB_TRANSLATION, angle: float = PERTURB_ANGLE) -> SceneState:
    """A copy of the one-frame ``state`` in which each dynamic body (``dynamic`` (B,) bool)
    is moved ``translation`` m along a random direction and turned ``angle`` rad about a
    random axis through its centre of mass; velocities, lights and the rest unchanged."""
    B = len(dynamic)
    direction = _unit(rng.normal(size=(B, 3)))
    axis = _unit(rng.normal(size=(B, 3)))
    turn = np.concatenate([axis * np.sin(angle / 2), np.full((B, 1), np.cos(angle / 2))], axis=1)
    arrays = {k: np.array(v, copy=True) for k, v in state.arrays().items()}
    arrays["body_position"][dynamic] += translation * direction[dynamic]
    turned = quat_multiply(turn.T, arrays["body_orientation"].T).T  # world-frame turn, then the pose
    arrays["body_orientation"][dynamic] = turned[dynamic]
    return SceneState(**arrays)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


@dataclass
class StateErrors:
    """Per-frame errors of one rollout against the ground truth (same frames)."""

    translation: np.ndarray  # (T, B') m, |x - x_true| of the B' dynamic bodies
    rotation: np.ndarray  # (T, B') rad, geodesic angle to the true orientation
    light_position: np.ndarray  # (T, L) m
    light_moves: np.ndarray  # (L,) bool: the light's true position moves (> 1 micrometre)
    light_intensity: np.ndarray  # (T, L) |I - I_true| / |I_true|
    light_color: np.ndarray  # (T, L) mean absolute difference over the 3 channels

    @classmethod
    def concatenate(cls, errors: list["StateErrors"]) -> "StateErrors":
        """Pool episodes (same T) along the body / light axis."""
        return cls(*(np.concatenate([getattr(e, name) for e in errors], axis=-1) for name in cls.__dataclass_fields__))


def state_errors(states: SceneState, truth: SceneState, dynamic: np.ndarray) -> StateErrors:
    """Errors of ``states`` against ``truth`` (both (T, ...) stacked, same scene and T);
    ``dynamic`` (B,) bool picks the bodies measured."""
    true_light = truth.light_position
    return StateErrors(
        translation=np.linalg.norm(states.body_position[:, dynamic] - truth.body_position[:, dynamic], axis=-1),
        rotation=geodesic_angle(states.body_orientation[:, dynamic], truth.body_orientation[:, dynamic]),
        light_position=np.linalg.norm(states.light_position - true_light, axis=-1),
        light_moves=np.linalg.norm(true_light - true_light[:1], axis=-1).max(axis=0, initial=0.0) > 1e-6,
        light_intensity=np.abs(states.light_intensity - truth.light_intensity)
        / np.maximum(np.abs(truth.light_intensity), 1e-9),
        light_color=np.abs(states.light_color - truth.light_color).mean(axis=-1),
    )


def finite_mean(values: np.ndarray) -> float | None:
    """Mean of the finite entries of ``values``; None when there are none."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else None


def by_horizon(per_frame: np.ndarray, horizons=HORIZONS) -> dict[str, float | None]:
    """``{"1": ..., "6": ..., "12": ..., "24": ..., "whole": ...}`` of a (T, N) error array
    (frame, pooled body or light): the mean over N at each horizon frame (those < T) and
    over frames 1..T-1 ("whole"). Non-finite entries are left out; None where nothing is left."""
    summary: dict[str, float | None] = {str(h): finite_mean(per_frame[h]) for h in horizons if h < len(per_frame)}
    summary["whole"] = finite_mean(per_frame[1:])
    return summary


def ratio(model: float | None, floor: float | None) -> float | None:
    """``model / floor``, with a zero floor well defined: 0 when the model's error is 0 too,
    inf otherwise; None when either is unmeasured."""
    if model is None or floor is None:
        return None
    if floor > 0:
        return model / floor
    return 0.0 if model == 0 else float("inf")


def penetration_depths(world, position: np.ndarray, orientation: np.ndarray) -> np.ndarray:
    """(T, B) penetration depth, m: per frame and body, max(0, -min signed distance) over its
    pairs with the other bodies and the floor, from pybullet ``getClosestPoints(a, b,
    distance=0)`` with the bodies of ``world`` (a :class:`~simulation.pybullet_engine.PybulletWorld`
    of the scene) placed at ``position`` (T, B, 3) m and ``orientation`` (T, B, 4) (x, y, z, w).
    Pairs of two fixed bodies are skipped; a frame with a non-finite pose is NaN."""
    client, bodies = world.client, world.bodies
    fixed = [info.fixed for info in world.body_infos]
    pairs = [(i, j) for i in range(len(bodies)) for j in range(i + 1, len(bodies)) if not (fixed[i] and fixed[j])]
    T, B = position.shape[:2]
    depth = np.zeros((T, B))
    for t in range(T):
        if not (np.all(np.isfinite(position[t])) and np.all(np.isfinite(orientation[t]))):
            depth[t] = np.nan
            continue
        for b, body in enumerate(bodies):
            client.resetBasePositionAndOrientation(body, position[t, b].tolist(), orientation[t, b].tolist())
        for i, j in pairs:
            points = client.getClosestPoints(bodies[i], bodies[j], distance=0.0)
            if points:
                d = max(0.0, -min(p[8] for p in points))
                depth[t, i] = max(depth[t, i], d)
                depth[t, j] = max(depth[t, j], d)
        if world.floor is not None:
            for b, body in enumerate(bodies):
                if not fixed[b] and (points := client.getClosestPoints(body, world.floor, distance=0.0)):
                    depth[t, b] = max(depth[t, b], -min(p[8] for p in points))
    return depth


def mass_properties(world) -> tuple[np.ndarray, np.ndarray]:
    """(mass (B,) kg, principal moments of inertia (B, 3) kg m^2 in the body's centre-of-mass
    frame, the frame the state's orientation describes) from pybullet ``getDynamicsInfo``."""
    info = [world.client.getDynamicsInfo(body, -1) for body in world.bodies]
    B = len(info)
    return np.array([i[0] for i in info], float).reshape(B), np.array([i[2] for i in info], float).reshape(B, 3)


def mechanical_energy(states: SceneState, mass: np.ndarray, inertia: np.ndarray, gravity) -> np.ndarray:
    """(T,) total mechanical energy, J: sum over bodies of 0.5 m |v|^2 + 0.5 w^T I w - m g.x
    (kinetic, rotational, potential with the floor z = 0 at zero for gravity -z), from the
    state's velocities. ``mass`` (B,) kg (0 for fixed bodies, which then count nothing),
    ``inertia`` (B, 3) principal moments in the body frame, ``gravity`` (3,) m/s^2."""
    return kinetic_energy(states, mass, inertia) - np.einsum("b,tbi,i->t", mass, states.body_position, np.asarray(gravity, float))


def kinetic_energy(states: SceneState, mass: np.ndarray, inertia: np.ndarray) -> np.ndarray:
    """(T,) translational plus rotational kinetic energy, J (see :func:`mechanical_energy`)."""
    rotation = rotation_matrix(states.body_orientation)  # (T, B, 3, 3) body -> world
    spin = np.einsum("tbji,tbj->tbi", rotation, states.body_angular_velocity)  # body frame, rad/s
    linear = np.einsum("b,tbi,tbi->t", mass, states.body_linear_velocity, states.body_linear_velocity)
    angular = np.einsum("bi,tbi,tbi->t", inertia, spin, spin)
    return 0.5 * (linear + angular)


def energy_growth(energy: np.ndarray, window: int = ENERGY_WINDOW) -> float:
    """Largest increase of ``energy`` (T,) J over any span of at most ``window`` frames:
    max over t and 1 <= k <= window of E(t + k) - E(t), and 0 if it never rises."""
    growth = 0.0
    for k in range(1, min(window, len(energy) - 1) + 1):
        growth = max(growth, float(np.max(energy[k:] - energy[:-k])))
    return growth


def energy_jumps(energy: np.ndarray, fraction: float = ENERGY_JUMP) -> int:
    """Frames in which ``energy`` (T,) rises by more than ``fraction`` of |E(0)|."""
    return int(np.sum(np.diff(energy) > fraction * abs(energy[0])))


def explosion_reason(trajectory, reject) -> str | None:
    """Why a rollout counts as exploded, or None: a non-finite value, a body faster than
    ``reject.max_speed``, or a body below ``reject.min_height`` while above the floor (it
    went through it). Leaving the floor area is not an explosion: with the families' zero
    rolling friction, a cylinder or capsule on its side rolls on for ever in pybullet too
    and drops off the floor's edge (see :func:`left_floor`)."""
    from worldgen.pipelines.dataset_episode import rejection_reason

    loose = reject.model_copy(update={"max_distance": float("inf"), "min_height": -float("inf")})
    reason = rejection_reason(trajectory, loose)
    if reason is not None:
        return reason
    if not trajectory.bodies or not trajectory.scene.get("floor", {}).get("enabled", True):
        return None
    position, over = _over_floor(trajectory)
    sunk = over & (position[..., 2] < reject.min_height)
    if sunk.any():
        return f"a body went through the floor to z = {position[..., 2][sunk].min():.2f} m (min_height {reject.min_height})"
    return None


def _over_floor(trajectory) -> tuple[np.ndarray, np.ndarray]:
    """Dynamic bodies' positions (T, B', 3) m and whether each is over the floor (T, B')."""
    half = np.asarray(trajectory.scene.get("floor", {}).get("size", [30.0, 30.0]), dtype=float) / 2
    position = trajectory.states.body_position[:, [not b.fixed for b in trajectory.bodies]]
    return position, np.all(np.abs(position[..., :2]) < half, axis=-1)


def left_floor(trajectory) -> bool:
    """Whether a dynamic body is beyond the floor's edge at some frame."""
    return not bool(_over_floor(trajectory)[1].all())


def explosion_frame(trajectory, reject) -> tuple[int, str] | None:
    """(first frame, reason) at which ``trajectory`` explodes by :func:`explosion_reason`,
    or None when it never does. Every check is a max or min over frames, so a prefix that
    fails stays failed: bisection."""

    def reason(frames: int) -> str | None:
        return explosion_reason(dataclasses.replace(trajectory, states=trajectory.states[:frames]), reject)

    if reason(len(trajectory)) is None:
        return None
    low, high = 1, len(trajectory)  # the first `high` frames fail, the first `low - 1` do not
    while low < high:
        middle = (low + high) // 2
        low, high = (middle + 1, high) if reason(middle) is None else (low, middle)
    return high - 1, reason(high)


def rest_motion(states: SceneState, dynamic: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(displacement (B',) m, rotation (B',) rad) of the dynamic bodies from the first frame
    of ``states`` (T, ...) to the last."""
    first, last = states[0], states[-1]
    return (np.linalg.norm(last.body_position[dynamic] - first.body_position[dynamic], axis=-1),
            geodesic_angle(last.body_orientation[dynamic], first.body_orientation[dynamic]))


def at_rest(state: SceneState) -> SceneState:
    """A copy of the one-frame ``state`` with every body velocity zero."""
    arrays = {k: np.array(v, copy=True) for k, v in state.arrays().items()}
    arrays["body_linear_velocity"][:] = 0.0
    arrays["body_angular_velocity"][:] = 0.0
    return SceneState(**arrays)
