"""The pybullet engine: bodies of every kind, joints, contacts, lights, state round trips."""

from __future__ import annotations

import dataclasses

import numpy as np
import pybullet
import pytest
import trimesh

from simulation.engines import make_engine
from simulation.state import Trajectory
from worldgen.scene import scene_from_dict
from worldgen.scene.rotations import quaternion_from_euler_degrees, rotation_matrix


def run(raw: dict, base_dir=".", **kwargs) -> Trajectory:
    return make_engine("pybullet").rollout(scene_from_dict(raw, base_dir), **kwargs)


def test_free_fall_follows_the_integrator():
    """No damping: pybullet's semi-implicit Euler gives z_n = z0 - g dt^2 n(n+1)/2."""
    traj = run({
        "fps": 10, "physics_hz": 100, "num_frames": 5, "floor": {"enabled": False},
        "objects": [{"shape": "sphere", "radius": 0.1, "position": [0, 0, 10], "physics": {"linear_damping": 0}}],
    })
    n = np.arange(5) * 10
    expected = 10 - 9.81 * 0.01**2 * n * (n + 1) / 2
    np.testing.assert_allclose(traj.states.body_position[:, 0, 2], expected, atol=1e-9)
    np.testing.assert_allclose(traj.states.time, np.arange(5) / 10)


def test_euler_degrees_match_pybullet():
    for euler in ([0, 0, 0], [30, 0, 0], [10, -40, 75], [180, 90, -45]):
        ours = quaternion_from_euler_degrees(euler)
        theirs = np.array(pybullet.getQuaternionFromEuler(np.radians(euler).tolist()))
        assert min(np.abs(ours - theirs).max(), np.abs(ours + theirs).max()) < 1e-9


def test_box_settles_on_floor_at_half_height_and_initial_velocity_applies():
    traj = run({
        "duration": 2, "objects": [
            {"shape": "box", "size": [0.4, 0.3, 0.2], "position": [0, 0, 0.5], "euler": [0, 0, 30]},
            {"shape": "sphere", "radius": 0.1, "position": [0, 2, 0.1], "linear_velocity": [1, 0, 0]},
        ],
    })
    assert traj.states.body_position[-1, 0, 2] == pytest.approx(0.1, abs=2e-3)
    np.testing.assert_allclose(traj.states.body_linear_velocity[0, 1], [1, 0, 0])
    assert traj.states.body_position[-1, 1, 0] > 0.3  # rolled along +x


def test_ball_hitting_floor_records_contact_with_momentum_impulse():
    traj = run({
        "duration": 1, "objects": [
            {"shape": "sphere", "radius": 0.1, "position": [0, 0, 1.0], "physics": {"mass": 2.0, "linear_damping": 0}},
        ],
    })
    events = [e for e in traj.contacts if {e.a, e.b} == {"floor", "sphere_0"}]
    assert len(events) > 10
    # Momentum balance over each frame: floor impulse = m * (v_z[f] - v_z[f-1]) + m * g / fps.
    vz = traj.states.body_linear_velocity[:, 0, 2]
    for event in events:
        expected = 2.0 * (vz[event.frame] - vz[event.frame - 1]) + 2.0 * 9.81 / traj.fps
        assert event.impulse == pytest.approx(expected, rel=0.02, abs=1e-3)
    first = min(events, key=lambda e: e.frame)
    assert first.impulse > 2.0 * np.sqrt(2 * 9.81 * 0.8)  # the impact itself
    assert first.position[2] == pytest.approx(0.0, abs=0.01)
    normal = np.asarray(first.normal) * (1 if first.a == "sphere_0" else -1)
    np.testing.assert_allclose(normal, [0, 0, 1], atol=1e-6)  # from the floor to the ball


def test_restitution_makes_balls_bounce():
    traj = run({
        "duration": 2, "floor": {"restitution": 0.9}, "objects": [
            {"shape": "sphere", "radius": 0.1, "position": [0, 0, 1.0], "physics": {"restitution": 0.9}},
        ],
    })
    z = traj.states.body_position[:, 0, 2]
    lowest = int(np.argmin(z[:15]))  # first touch-down after about 0.43 s
    assert z[lowest] < 0.2 and z[lowest:].max() > 0.5


def test_concave_mesh_collides_by_convex_decomposition(tmp_path):
    """A ball dropped into the hole of a ring reaches the floor; a convex hull would hold it up."""
    ring = trimesh.creation.annulus(r_min=0.3, r_max=0.5, height=0.2)
    ring.export(tmp_path / "ring.obj")
    traj = run({
        "duration": 1.5, "objects": [
            {"shape": "mesh", "mesh": "ring.obj", "position": [0, 0, 0.1], "physics": {"fixed": True}},
            {"shape": "sphere", "radius": 0.1, "position": [0, 0, 0.6]},
        ],
    }, base_dir=tmp_path)
    assert traj.states.body_position[-1, 1, 2] == pytest.approx(0.1, abs=0.01)
    assert traj.bodies[0].size == pytest.approx([1.0, 1.0, 0.2], abs=1e-6)


def test_mesh_scale_and_recentring(tmp_path):
    box = trimesh.creation.box(extents=[0.2, 0.2, 0.2])
    box.apply_translation([5, 5, 5])  # off-centre in its file: recentred on its centre of mass
    box.export(tmp_path / "cube.stl")
    traj = run({
        "duration": 1.5,
        "objects": [{"shape": "mesh", "mesh": "cube.stl", "scale": 2, "position": [0, 0, 1]}],
    }, base_dir=tmp_path)
    np.testing.assert_allclose(traj.states.body_position[-1, 0], [0, 0, 0.2], atol=3e-3)
    np.testing.assert_allclose(traj.bodies[0].frame_offset_position, [-10, -10, -10], atol=1e-9)


def test_assets_load_fall_and_rest():
    traj = run({
        "duration": 2, "objects": [
            {"shape": "asset", "asset": "duck", "position": [0, 0, 0.5]},
            {"shape": "asset", "asset": "random_urdfs/123", "position": [1, 0, 0.5], "physics": {"mass": 0.5}},
        ],
    })
    final = traj.states.body_position[-1]
    assert np.all(final[:, 2] < 0.3) and np.all(final[:, 2] > 0)
    assert np.abs(traj.states.body_linear_velocity[-1]).max() < 0.05
    assert traj.bodies[1].mass == pytest.approx(0.5)
    assert traj.bodies[0].urdf.endswith("duck_vhacd.urdf")


def test_point_joint_keeps_the_bob_on_its_sphere():
    pivot = np.array([0.0, 0.0, 2.0])
    traj = run({
        "duration": 2, "objects": [{"name": "bob", "shape": "sphere", "radius": 0.1, "position": [0.8, 0, 1.4]}],
        "constraints": [{"type": "point", "child": "bob", "pivot": pivot.tolist()}],
    })
    distance = np.linalg.norm(traj.states.body_position[:, 0] - pivot, axis=-1)
    np.testing.assert_allclose(distance, 1.0, atol=5e-3)
    assert np.ptp(traj.states.body_position[:, 0, 0]) > 1.0  # it swings


def test_hinge_keeps_motion_in_its_plane():
    traj = run({
        "duration": 2, "objects": [{"name": "bob", "shape": "box", "size": [0.1, 0.1, 0.1], "position": [0.8, 0, 1.4]}],
        "constraints": [{"type": "hinge", "child": "bob", "pivot": [0, 0, 2], "axis": [0, 1, 0]}],
    })
    assert np.abs(traj.states.body_position[:, 0, 1]).max() < 5e-3
    assert np.ptp(traj.states.body_position[:, 0, 0]) > 1.0


def test_lights_attached_orbiting_keyframed_and_flickering():
    traj = run({
        "duration": 2, "seed": 4,
        "objects": [{"name": "lamp", "shape": "box", "size": [0.2, 0.2, 0.2], "position": [0, 0, 1],
                     "angular_velocity": [0, 0, 3], "physics": {"fixed": False}}],
        "lights": [
            {"type": "spot", "attach_to": "lamp", "offset": [0.1, 0, 0], "direction": [1, 0, 0]},
            {"type": "point", "orbit": {"center": [0, 0, 2], "radius": 1.5, "period": 2}},
            {"type": "point", "position": [0, 0, 3], "keyframes": [
                {"time": 0, "intensity": 0, "color": [1, 0, 0]}, {"time": 1, "intensity": 10, "color": [0, 0, 1]}]},
            {"type": "directional", "direction": [0, 0, -1], "intensity": 3, "flicker": {"amplitude": 0.5, "frequency": 6}},
        ],
    })
    s = traj.states
    R = rotation_matrix(s.body_orientation[:, 0])
    np.testing.assert_allclose(s.light_position[:, 0], s.body_position[:, 0] + R @ [0.1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(s.light_direction[:, 0], R @ [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(s.light_position[:, 1, :2], axis=-1), 1.5)
    half = int(traj.fps * 0.5)
    assert s.light_intensity[half, 2] == pytest.approx(5.0) and s.light_color[half, 2] == pytest.approx([0.5, 0, 0.5])
    assert s.light_intensity[-1, 2] == pytest.approx(10.0)
    flicker = s.light_intensity[:, 3]
    assert flicker.min() >= 1.5 - 1e-9 and flicker.max() <= 4.5 + 1e-9 and flicker.std() > 0.1


def test_same_scene_is_bit_identical_and_save_load_round_trips(tmp_path):
    raw = {"duration": 1, "objects": [
        {"shape": "box", "size": [0.2, 0.2, 0.2], "count": 6, "position": [{"uniform": [-0.3, 0.3]}, {"uniform": [-0.3, 0.3]}, {"uniform": [0.2, 1.5]}],
         "euler": [{"uniform": [0, 90]}, 0, {"uniform": [0, 90]}]}],
        "lights": [{"type": "point", "position": [0, 0, 3]}],
        "humanoids": [{"motion": "walk", "position": [-1, 0, 0]}]}
    a, b = run(raw), run(raw)
    for key, value in a.states.arrays().items():
        assert np.array_equal(value, b.states.arrays()[key]), key
    assert a.contacts == b.contacts
    a.save(tmp_path)
    loaded = Trajectory.load(tmp_path)
    for key, value in a.states.arrays().items():
        assert np.array_equal(value, loaded.states.arrays()[key]), key
    assert loaded.contacts == a.contacts and loaded.bodies == a.bodies and loaded.humanoids == a.humanoids
    assert loaded.scene == a.scene and not list(tmp_path.glob(".*tmp"))


def test_initial_state_replaces_the_scene_start():
    raw = {"duration": 1, "objects": [{"shape": "sphere", "radius": 0.1, "position": [0, 0, 1]}]}
    reference = run(raw)
    again = run(raw, initial=reference[0])
    assert np.array_equal(again.states.body_position, reference.states.body_position)
    moved = dataclasses.replace(reference[0], body_position=reference[0].body_position + [1.0, 0, 0])
    shifted = run(raw, initial=moved)
    np.testing.assert_allclose(shifted.states.body_position[:, 0, 0], 1.0, atol=1e-9)
