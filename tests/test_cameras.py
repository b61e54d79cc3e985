"""Camera intrinsics/extrinsics and scripted motion (OpenCV convention, world z up)."""

from __future__ import annotations

import numpy as np
import pytest

from worldgen.scene.animation import flicker_gain
from worldgen.scene.cameras import extrinsics, intrinsics, project
from worldgen.scene.rotations import quaternion_from_matrix, rotation_matrix
from worldgen.scene.schema import CameraSpec, Flicker

TIMES = np.linspace(0, 4, 9)


def test_look_at_target_projects_to_the_image_centre_with_y_down():
    cam = CameraSpec(position=(3, -4, 2), look_at=(0, 0, 0.5), resolution=(320, 240), fov=60)
    K, E = intrinsics(cam), extrinsics(cam, TIMES, 4.0)[0]
    pixels, depth = project(np.array([[0, 0, 0.5], [0, 0, 1.5], [3, -4, 2]]), K, E)
    np.testing.assert_allclose(pixels[0], [160, 120], atol=1e-9)
    assert depth[0] == pytest.approx(np.linalg.norm([3, -4, 1.5]))
    assert pixels[1, 1] < 120  # higher in the world = up in the image (smaller v)
    assert depth[2] == pytest.approx(0.0, abs=1e-12)  # the camera centre itself
    np.testing.assert_allclose(E[:3, :3] @ E[:3, :3].T, np.eye(3), atol=1e-12)
    assert np.linalg.det(E[:3, :3]) == pytest.approx(1.0)


def test_vertical_fov_spans_the_image_height():
    cam = CameraSpec(position=(0, -5, 0), look_at=(0, 0, 0), resolution=(400, 200), fov=90)
    K = intrinsics(cam)
    E = extrinsics(cam, TIMES[:1], 4.0)[0]
    # At 5 m depth with a 90 degree vertical fov, z = +-5 m lands on the top and bottom edges.
    pixels, _ = project(np.array([[0, 0, 5.0], [0, 0, -5.0]]), K, E)
    np.testing.assert_allclose(pixels[:, 1], [0, 200], atol=1e-9)
    assert K[0, 0] == K[1, 1] == pytest.approx(100.0)


def test_orbit_keeps_distance_and_keeps_the_target_centred():
    cam = CameraSpec(look_at=(0, 0, 0.3), orbit={"center": (0, 0, 2), "radius": 4, "period": 8}, resolution=(64, 64))
    K, E = intrinsics(cam), extrinsics(cam, TIMES, 4.0)
    centres = np.array([-e[:3, :3].T @ e[:3, 3] for e in E])
    np.testing.assert_allclose(np.linalg.norm(centres[:, :2], axis=-1), 4.0)
    np.testing.assert_allclose(centres[-1], [-4, 0, 2], atol=1e-9)  # half a turn at t = 4 s
    for e in E:
        np.testing.assert_allclose(project(np.array([[0, 0, 0.3]]), K, e)[0][0], [32, 32], atol=1e-9)


def test_dolly_and_keyframes_move_between_their_ends():
    dolly = CameraSpec(position=(0, -6, 1), dolly={"to": (0, -2, 1)})
    centres = np.array([-e[:3, :3].T @ e[:3, 3] for e in extrinsics(dolly, TIMES, 4.0)])
    np.testing.assert_allclose(centres[[0, 4, -1], 1], [-6, -4, -2], atol=1e-9)
    keys = CameraSpec(keyframes=[{"time": 0, "position": (0, -5, 1)}, {"time": 2, "position": (5, 0, 1), "look_at": (0, 0, 1)}])
    centres = np.array([-e[:3, :3].T @ e[:3, 3] for e in extrinsics(keys, TIMES, 4.0)])
    np.testing.assert_allclose(centres[2], [2.5, -2.5, 1], atol=1e-9)
    np.testing.assert_allclose(centres[-1], [5, 0, 1], atol=1e-9)


def test_full_pose_quaternion_is_camera_to_world():
    looking_down = np.array([[1.0, 0, 0], [0, -1, 0], [0, 0, -1]])  # columns: camera axes in the world
    cam = CameraSpec(position=(0, 0, 3), quaternion=tuple(quaternion_from_matrix(looking_down)))
    E = extrinsics(cam, TIMES[:1], 4.0)[0]
    _, depth = project(np.array([[0, 0, 0.0]]), intrinsics(cam), E)
    assert depth[0] == pytest.approx(3.0)
    np.testing.assert_allclose(rotation_matrix(quaternion_from_matrix(looking_down)), looking_down, atol=1e-12)


def test_flicker_is_bounded_smooth_and_seeded():
    f = Flicker(amplitude=0.4, frequency=5)
    t = np.linspace(0, 3, 721)
    gain = flicker_gain(f, t, seed=1, key="lights[0]")
    assert gain.min() >= 0.6 - 1e-12 and gain.max() <= 1.4 + 1e-12
    assert np.abs(np.diff(gain)).max() < 0.05  # smooth at this sampling
    np.testing.assert_array_equal(gain, flicker_gain(f, t, seed=1, key="lights[0]"))
    assert not np.array_equal(gain, flicker_gain(f, t, seed=2, key="lights[0]"))
