"""Mocap clip sampling and the kinematically driven DeepMimic humanoid (real pybullet, DIRECT)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pybullet
import pytest
from pybullet_utils.bullet_client import BulletClient

from simulation.humanoid import COCO18_NAMES, HumanoidActor
from simulation.mocap import MOCAP_JOINTS, MocapClip
from worldgen.scene.assets import mocap_clips

DT = 1.0 / 240.0
KP = {name: i for i, name in enumerate(COCO18_NAMES)}


@dataclass(frozen=True)
class Spec:
    name: str = "person"
    motion: str = "walk"
    position: tuple[float, float, float] = (0.0, 0.0, 0.0)
    heading: float = 0.0
    scale: float = 1.0
    speed: float = 1.0
    loop: bool = True
    start_time: float = 0.0


@pytest.fixture
def client():
    c = BulletClient(connection_mode=pybullet.DIRECT)
    c.setGravity(0, 0, -9.81)
    yield c
    c.disconnect()


def trace(actor: HumanoidActor, seconds: float, fps: float = 30.0):
    """Root positions (T, 3) and keypoints (T, 18, 3) driven over ``seconds`` of scene time."""
    roots, keypoints = [], []
    for t in np.arange(0.0, seconds, 1.0 / fps):
        actor.drive(t)
        roots.append(actor.link_poses()[0][0])
        keypoints.append(actor.keypoints())
    return np.array(roots), np.array(keypoints)


@pytest.mark.parametrize("name", list(mocap_clips()))
def test_every_clip_loads_and_samples_finite_poses(name):
    clip = MocapClip.load(name)
    assert clip.name == name and clip.duration > 0
    for loop in (True, False):
        for t in np.linspace(-0.5, 2.5 * clip.duration, 23):
            pose = clip.sample(t, loop)
            assert pose.root_position.shape == (3,) and np.isfinite(pose.root_position).all()
            np.testing.assert_allclose(np.linalg.norm(pose.root_orientation), 1.0, atol=1e-9)
            assert list(pose.joint_rotations) == list(MOCAP_JOINTS)
            for joint, spherical in MOCAP_JOINTS.items():
                value = pose.joint_rotations[joint]
                assert value.shape == ((4,) if spherical else (1,)) and np.isfinite(value).all()
                if spherical:
                    np.testing.assert_allclose(np.linalg.norm(value), 1.0, atol=1e-9)


def test_unknown_clip_is_a_clear_key_error():
    with pytest.raises(KeyError, match="moonwalk.*available.*walk"):
        MocapClip.load("moonwalk")


def test_sample_hits_keyframes_converted_to_z_up_and_interpolates_between():
    clip = MocapClip.load("walk")
    frames = json.loads(mocap_clips()["walk"].read_text())["Frames"]
    f0, f1 = np.array(frames[0]), np.array(frames[1])
    pose = clip.sample(0.0, loop=False)
    x, y, z = f0[1:4]
    np.testing.assert_allclose(pose.root_position, [x, -z, y])
    w, qx, qy, qz = f0[4:8] / np.linalg.norm(f0[4:8])
    s = np.sqrt(0.5)  # +90 deg about x, then the file's root rotation
    expected = [s * (w + qx), s * (qy - qz), s * (qz + qy), s * (w - qx)]
    np.testing.assert_allclose(pose.root_orientation, expected, atol=1e-12)
    np.testing.assert_allclose(pose.joint_rotations["right_knee"], f0[20:21])

    half = clip.sample(0.5 * f0[0], loop=False)
    np.testing.assert_allclose(half.joint_rotations["right_knee"], 0.5 * (f0[20:21] + f1[20:21]))
    np.testing.assert_allclose(half.root_position[0], 0.5 * (f0[1] + f1[1]))


def test_walk_feet_stay_near_the_floor_and_root_at_hip_height(client):
    roots, keypoints = trace(HumanoidActor(client, Spec(), DT), 4.0)
    ankles = keypoints[:, [KP["right_ankle"], KP["left_ankle"]], 2]
    # The ankle joint sits ~5 cm above the sole; at toe-off it rises to ~0.26 m.
    assert ankles.min() > 0.0 and ankles.max() < 0.3
    assert np.all(ankles.min(axis=1) < 0.1)  # one foot is always (nearly) on the ground
    assert 0.8 < roots[:, 2].min() and roots[:, 2].max() < 0.95


@pytest.mark.parametrize("heading, axis", [(0.0, 0), (90.0, 1)])
def test_looping_walk_advances_along_its_heading(client, heading, axis):
    actor = HumanoidActor(client, Spec(heading=heading), DT)
    assert 4.0 > actor.clip.duration * 3  # 4 s spans several cycles
    actor.drive(0.0)
    start = actor.link_poses()[0][0]
    actor.drive(4.0)
    travel = actor.link_poses()[0][0] - start
    assert travel[axis] > 2.0
    assert abs(travel[1 - axis]) < 0.2 * travel[axis]


def test_loop_is_continuous_across_the_cycle_boundary():
    clip = MocapClip.load("walk")
    times = np.arange(clip.duration - 0.2, clip.duration + 0.2, DT)
    roots = np.array([clip.sample(t, loop=True).root_position for t in times])
    steps = np.linalg.norm(np.diff(roots, axis=0), axis=1)
    assert steps.max() < 2.0 * np.median(steps)


def test_keypoints_are_ordered_like_a_standing_body(client):
    _, keypoints = trace(HumanoidActor(client, Spec(), DT), 2.0)
    z = keypoints[..., 2]
    for upper, lower in [("nose", "neck"), ("neck", "right_hip"), ("right_hip", "right_knee"),
                         ("right_knee", "right_ankle"), ("left_hip", "left_knee"),
                         ("left_knee", "left_ankle"), ("right_eye", "nose")]:
        assert np.all(z[:, KP[upper]] > z[:, KP[lower]]), (upper, lower)
    for right, left in [("right_shoulder", "left_shoulder"), ("right_hip", "left_hip"),
                        ("right_eye", "left_eye"), ("right_ear", "left_ear")]:
        assert np.all(keypoints[:, KP[right], 1] < keypoints[:, KP[left], 1]), (right, left)
    assert np.all(keypoints[:, KP["nose"], 0] > keypoints[:, KP["right_ear"], 0])  # faces +x


def test_placement_puts_frame0_root_above_position_and_scale_scales(client):
    big = HumanoidActor(client, Spec(position=(1.0, 2.0, 0.5), scale=2.0), DT)
    small = HumanoidActor(client, Spec(), DT)
    for t in (0.0, 0.7):
        big.drive(t)
        small.drive(t)
        big_root, small_root = big.link_poses()[0][0], small.link_poses()[0][0]
        np.testing.assert_allclose(big_root - [1.0, 2.0, 0.5], 2.0 * small_root, atol=1e-9)
        np.testing.assert_allclose(big.keypoints() - [1.0, 2.0, 0.5], 2.0 * small.keypoints(),
                                   atol=1e-6)
    big.drive(0.0)
    np.testing.assert_allclose(big.link_poses()[0][0, :2], [1.0, 2.0])


def test_speed_and_start_time_map_scene_time_to_clip_time(client):
    reference = HumanoidActor(client, Spec(), DT)
    shifted = HumanoidActor(client, Spec(speed=2.0, start_time=0.3), DT)
    reference.drive(0.3 + 2.0 * 0.25)
    shifted.drive(0.25)
    np.testing.assert_allclose(shifted.link_poses()[0], reference.link_poses()[0], atol=1e-9)


def test_same_inputs_give_bit_identical_link_poses():
    poses = []
    for _ in range(2):
        c = BulletClient(connection_mode=pybullet.DIRECT)
        actor = HumanoidActor(c, Spec(heading=30.0, scale=1.1), DT)
        actor.drive(1.234)
        poses.append(actor.link_poses())
        c.disconnect()
    assert np.array_equal(poses[0][0], poses[1][0]) and np.array_equal(poses[0][1], poses[1][1])


def test_without_loop_the_last_pose_is_held(client):
    actor = HumanoidActor(client, Spec(loop=False), DT)
    end = actor.clip.duration
    held = []
    for t in (end + 0.5, end + 3.0):
        actor.drive(t)
        held.append(actor.link_poses())
        velocity = client.getBaseVelocity(actor.body_id)
        assert np.allclose(velocity, 0.0)
    np.testing.assert_array_equal(held[0][0], held[1][0])
    np.testing.assert_array_equal(held[0][1], held[1][1])


def test_link_velocities_match_the_motion(client):
    actor = HumanoidActor(client, Spec(heading=45.0), DT)
    links = list(range(len(actor.link_names) - 1))
    for t in (0.3, 0.9):
        actor.drive(t + DT)
        after = actor.link_poses()[0]
        actor.drive(t)
        before = actor.link_poses()[0]
        states = client.getLinkStates(actor.body_id, links, computeLinkVelocity=True,
                                      computeForwardKinematics=True)
        # Link-frame velocity = COM velocity + omega x (frame origin - COM).
        reported = np.array([np.array(s[6]) + np.cross(s[7], np.array(s[4]) - s[0])
                             for s in states])
        expected = (after[1:] - before[1:]) / DT
        np.testing.assert_allclose(reported, expected, atol=0.05)
        np.testing.assert_allclose(client.getBaseVelocity(actor.body_id)[0],
                                   (after[0] - before[0]) / DT, atol=1e-6)


def test_link_names_and_no_self_collision(client):
    actor = HumanoidActor(client, Spec(motion="spin"), DT)
    assert len(COCO18_NAMES) == 18 and COCO18_NAMES[:2] == ("nose", "neck")
    assert actor.link_names[:4] == ("base", "root", "chest", "neck")
    assert len(actor.link_names) == 16 and actor.link_names[-1] == "left_wrist"
    positions, orientations = actor.link_poses()
    assert positions.shape == (16, 3) and orientations.shape == (16, 4)
    actor.drive(3.5)  # a pose where the links overlap (they touch with URDF_USE_SELF_COLLISION)
    client.performCollisionDetection()
    assert client.getContactPoints(bodyA=actor.body_id, bodyB=actor.body_id) == ()
