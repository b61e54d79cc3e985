"""DeepMimic mocap clips (pybullet_data/data/motions/humanoid3d_*.txt), sampled at any time.

A clip file is JSON ``{"Loop": "wrap" | "none", "Frames": [[...], ...]}``. Each frame holds
44 numbers: the duration in seconds until the next frame (0 for the last one), the root
position (3, metres) and orientation, then the 12 driven joints of the DeepMimic humanoid in
``MOCAP_JOINTS`` order: a quaternion for spherical joints and one angle (radians) for the knees
and elbows. File quaternions are ``(w, x, y, z)`` and the file frame is **Y-up**; everything
this module returns is converted to the project's **Z-up** world and ``(x, y, z, w)``
quaternions. Sampling follows pybullet's own ``deep_mimic`` playback
(``humanoid_pose_interpolator.py``, ``humanoid_stable_pd.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache

import numpy as np

from worldgen.scene.assets import mocap_clips
from worldgen.scene.rotations import quat_multiply, quat_slerp

# The 12 driven joints in file order (also the humanoid.urdf joint names); True = spherical
# (quaternion), False = revolute (one angle).
MOCAP_JOINTS: dict[str, bool] = {
    "chest": True, "neck": True,
    "right_hip": True, "right_knee": False, "right_ankle": True,
    "right_shoulder": True, "right_elbow": False,
    "left_hip": True, "left_knee": False, "left_ankle": True,
    "left_shoulder": True, "left_elbow": False,
}
FRAME_SIZE = 1 + 3 + 4 + sum(4 if spherical else 1 for spherical in MOCAP_JOINTS.values())

# +90 degrees about x, (x, y, z, w): maps the Y-up file frame to the Z-up world,
# (x, y, z) -> (x, -z, y).
Y_UP_TO_Z_UP = np.array([np.sqrt(0.5), 0.0, 0.0, np.sqrt(0.5)])


@dataclass
class HumanoidPose:
    """One pose of the DeepMimic humanoid in the Z-up world frame, metres, before an actor's
    placement (heading, offset, scale).

    root_position: (3,) base link origin.
    root_orientation: (4,) base link orientation, quaternion ``(x, y, z, w)``.
    joint_rotations: per ``MOCAP_JOINTS`` name (the URDF joint names), the joint position
        relative to its parent link: (4,) quaternion ``(x, y, z, w)`` for spherical joints,
        (1,) angle in radians for the knees and elbows.
    """

    root_position: np.ndarray
    root_orientation: np.ndarray
    joint_rotations: dict[str, np.ndarray]


def _y_up_point(p: np.ndarray) -> np.ndarray:
    """Y-up file coordinates -> Z-up world coordinates: (x, y, z) -> (x, -z, y)."""
    return np.array([p[0], -p[2], p[1]])


def _wxyz_to_xyzw(q: np.ndarray) -> np.ndarray:
    q = np.array([q[1], q[2], q[3], q[0]])
    return q / np.linalg.norm(q)


class MocapClip:
    """A DeepMimic clip: keyframes and their times, sampled with lerp/slerp.

    name: short clip name ("walk"); duration: seconds of one cycle (sum of the keyframe
    durations; the last keyframe closes the cycle); wraps: the file's ``"Loop" == "wrap"``.
    """

    def __init__(self, name: str, frames: np.ndarray, wraps: bool):
        """frames: (N, 44) rows as in the file (Y-up, ``(w, x, y, z)`` quaternions)."""
        if frames.ndim != 2 or frames.shape[1] != FRAME_SIZE or len(frames) < 2:
            raise ValueError(f"clip {name!r}: expected at least 2 frames of {FRAME_SIZE} numbers")
        if np.any(frames[:-1, 0] <= 0.0):
            raise ValueError(f"clip {name!r}: every keyframe but the last needs a duration > 0")
        self.name = name
        self.wraps = wraps
        self._durations = frames[:-1, 0]
        self._times = np.concatenate([[0.0], np.cumsum(self._durations)])  # (N,) seconds
        self.duration = float(self._times[-1])
        self._frames = frames
        start, end = frames[0, 1:4], frames[-1, 1:4]
        # Horizontal root displacement over one cycle (file y is up), as DeepMimic loops it.
        self._cycle_offset = _y_up_point(np.array([end[0] - start[0], 0.0, end[2] - start[2]]))

    @classmethod
    @cache
    def load(cls, name: str) -> MocapClip:
        """Clip by short name as in ``worldgen.scene.assets.mocap_clips()`` (cached)."""
        clips = mocap_clips()
        if name not in clips:
            raise KeyError(f"unknown mocap clip {name!r}; available: {', '.join(clips)}")
        data = json.loads(clips[name].read_text())
        return cls(name, np.asarray(data["Frames"], dtype=np.float64), data["Loop"] == "wrap")

    def sample(self, t: float, loop: bool) -> HumanoidPose:
        """Pose at clip time ``t`` seconds.

        loop=True repeats the clip forever, shifting the root by the horizontal cycle
        displacement once per cycle (so a walk keeps going forward; t < 0 runs cycles
        backwards); loop=False holds the first frame before 0 and the last after the end.
        """
        cycles = np.floor(t / self.duration) if loop else 0.0
        local_t = float(np.clip(t - cycles * self.duration, 0.0, self.duration))
        i = min(int(np.searchsorted(self._times, local_t, side="right")) - 1, len(self._frames) - 2)
        fraction = min((local_t - self._times[i]) / self._durations[i], 1.0)
        a, b = self._frames[i], self._frames[i + 1]

        position = _y_up_point(a[1:4] + fraction * (b[1:4] - a[1:4])) + cycles * self._cycle_offset
        root = quat_slerp(_wxyz_to_xyzw(a[4:8]), _wxyz_to_xyzw(b[4:8]), fraction)
        joints = {}
        k = 8
        for joint, spherical in MOCAP_JOINTS.items():
            if spherical:
                qa, qb = _wxyz_to_xyzw(a[k:k + 4]), _wxyz_to_xyzw(b[k:k + 4])
                joints[joint] = quat_slerp(qa, qb, fraction)
                k += 4
            else:
                joints[joint] = a[k:k + 1] + fraction * (b[k:k + 1] - a[k:k + 1])
                k += 1
        return HumanoidPose(position, quat_multiply(Y_UP_TO_Z_UP, root), joints)
