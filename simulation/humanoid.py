"""The DeepMimic humanoid (pybullet_data/humanoid/humanoid.urdf) as a kinematically driven
pybullet body: link poses and COCO-18 keypoints in the Z-up world frame, metres.

The URDF is Y-up in units of 0.25 m. Its link frames keep that convention: in every link's
own frame forward is +x, up is +y and the body's right is +z. Mocap poses arrive already
turned to the Z-up world (``simulation.mocap``), where the body faces +x with its right side
on -y before the actor's heading is applied.
"""

from __future__ import annotations

import math

import numpy as np

from simulation.mocap import MOCAP_JOINTS, MocapClip
from worldgen.scene.assets import humanoid_urdf
from worldgen.scene.rotations import quat_conjugate, quat_multiply, quat_to_rotvec

URDF_UNIT = 0.25  # metres per DeepMimic URDF length unit

COCO18_NAMES: tuple[str, ...] = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
    "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip",
    "left_knee", "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear",
)

# COCO-18 keypoints at the origin of the URDF link of the same name (the joint centre).
JOINT_KEYPOINTS = tuple(
    f"{side}_{part}" for side in ("right", "left")
    for part in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")
)
# Head sphere centre in the neck link frame, metres at scale 1 (0.70 URDF units up).
HEAD_CENTRE = np.array([0.0, 0.175, 0.0])
# Face keypoints relative to the head centre in the neck link frame (forward +x, up +y,
# right +z), metres at scale 1; the head sphere has radius 0.1025 m.
FACE_OFFSETS: dict[str, np.ndarray] = {
    "nose": np.array([0.100, -0.010, 0.0]),
    "right_eye": np.array([0.085, 0.030, 0.035]),
    "left_eye": np.array([0.085, 0.030, -0.035]),
    "right_ear": np.array([-0.010, 0.010, 0.100]),
    "left_ear": np.array([-0.010, 0.010, -0.100]),
}


def _quat_about_z(angle: float) -> np.ndarray:
    """Rotation by ``angle`` radians about +z as a quaternion ``(x, y, z, w)``."""
    return np.array([0.0, 0.0, math.sin(angle / 2), math.cos(angle / 2)])


class HumanoidActor:
    """The DeepMimic humanoid in a pybullet client, its links moved kinematically along a
    mocap clip.

    The body is floating-base (so contacts see the links' real velocities) without
    self-collision. ``drive(t)`` before every ``stepSimulation`` overrides whatever its own
    dynamics did.

    spec attributes: name; motion (clip name); position (3,) world metres where the clip's
    frame-0 root projects on the ground, plus a z offset; heading, degrees about +z (0 = the
    clip's own direction); scale (size multiplier); speed (playback rate); loop; start_time
    (clip seconds at scene time 0).
    """

    def __init__(self, client, spec, physics_dt: float):
        """client: a pybullet ``BulletClient``; physics_dt: seconds per physics step, the
        finite-difference step for the velocities ``drive`` sets."""
        self.name = spec.name
        self.clip = MocapClip.load(spec.motion)
        self.scale = float(spec.scale)
        self.speed = float(spec.speed)
        self.loop = bool(spec.loop)
        self.start_time = float(spec.start_time)
        self.physics_dt = float(physics_dt)
        self._client = client
        self._position = np.asarray(spec.position, dtype=np.float64)
        heading = math.radians(spec.heading)
        self._heading_quat = _quat_about_z(heading)
        c, s = math.cos(heading), math.sin(heading)
        self._heading_matrix = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        self._clip_origin = self.clip.sample(0.0, loop=False).root_position * [1.0, 1.0, 0.0]

        # Without URDF_USE_SELF_COLLISION pybullet builds the body with self-collision off.
        self.body_id = client.loadURDF(
            str(humanoid_urdf()), globalScaling=URDF_UNIT * self.scale, useFixedBase=False,
            flags=client.URDF_MAINTAIN_LINK_ORDER,
        )
        joints = [client.getJointInfo(self.body_id, j)
                  for j in range(client.getNumJoints(self.body_id))]
        self.link_names: tuple[str, ...] = ("base",) + tuple(info[12].decode() for info in joints)
        joint_index = {info[1].decode(): info[0] for info in joints}
        self._joint_indices = [joint_index[name] for name in MOCAP_JOINTS]
        self._keypoint_links = {name: self.link_names.index(name) for name in JOINT_KEYPOINTS}
        self._neck_link = self.link_names.index("neck")
        self.drive(0.0)

    def _placed_pose(self, t: float) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Base position (3,), base orientation (4,) ``(x, y, z, w)`` and joint positions in
        the world at scene time ``t`` seconds."""
        pose = self.clip.sample(self.start_time + self.speed * t, self.loop)
        position = self._heading_matrix @ (self.scale * (pose.root_position - self._clip_origin))
        orientation = quat_multiply(self._heading_quat, pose.root_orientation)
        return position + self._position, orientation, pose.joint_rotations

    def drive(self, t: float) -> None:
        """Put every link at its pose at scene time ``t`` seconds (clip time =
        start_time + speed * t), with base and joint velocities equal to the forward
        difference to ``t + physics_dt``: base linear (m/s) and angular (rad/s) velocity in
        the world frame, spherical joint velocities in the child link frame, knee and elbow
        velocities in rad/s."""
        dt = self.physics_dt
        position, orientation, joints = self._placed_pose(t)
        next_position, next_orientation, next_joints = self._placed_pose(t + dt)
        linear = (next_position - position) / dt
        angular = quat_to_rotvec(quat_multiply(next_orientation, quat_conjugate(orientation))) / dt
        velocities = []
        for name, spherical in MOCAP_JOINTS.items():
            if spherical:
                delta = quat_multiply(quat_conjugate(joints[name]), next_joints[name])
                velocities.append(quat_to_rotvec(delta) / dt)
            else:
                velocities.append((next_joints[name] - joints[name]) / dt)

        client = self._client
        client.resetBasePositionAndOrientation(self.body_id, position, orientation)
        client.resetBaseVelocity(self.body_id, linear, angular)
        client.resetJointStatesMultiDof(
            self.body_id, self._joint_indices,
            [joints[name] for name in MOCAP_JOINTS], velocities,
        )

    def link_poses(self) -> tuple[np.ndarray, np.ndarray]:
        """World poses of the link frames, in ``link_names`` order: positions (K, 3) metres and
        orientations (K, 4) quaternions ``(x, y, z, w)``. The base link's inertial frame is its
        link frame, so the base pose is pybullet's base pose."""
        client = self._client
        base_position, base_orientation = client.getBasePositionAndOrientation(self.body_id)
        states = client.getLinkStates(self.body_id, list(range(len(self.link_names) - 1)),
                                      computeForwardKinematics=True)
        positions = np.array([base_position] + [state[4] for state in states])
        orientations = np.array([base_orientation] + [state[5] for state in states])
        return positions, orientations

    def keypoints(self) -> np.ndarray:
        """COCO-18 keypoints (18, 3), world metres, in ``COCO18_NAMES`` order.

        Limb keypoints are the joint centres (link frame origins); the neck is the midpoint of
        the shoulders; nose, eyes and ears sit at ``FACE_OFFSETS`` (times scale) from the head
        sphere centre in the neck link frame."""
        positions, orientations = self.link_poses()
        neck_orientation = orientations[self._neck_link]
        head_rotation = np.array(self._client.getMatrixFromQuaternion(neck_orientation)).reshape(3, 3)
        head_centre = positions[self._neck_link] + head_rotation @ (self.scale * HEAD_CENTRE)
        points = {name: positions[link] for name, link in self._keypoint_links.items()}
        points["neck"] = 0.5 * (points["right_shoulder"] + points["left_shoulder"])
        for name, offset in FACE_OFFSETS.items():
            points[name] = head_centre + head_rotation @ (self.scale * offset)
        return np.array([points[name] for name in COCO18_NAMES])
