"""`worldgen eval dynamics`: the metrics on cases whose answer is known, pybullet standing in
for the learned engine, and the command end to end with its one-line errors."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from simulation.engine import Engine
from simulation.pybullet_engine import PybulletEngine, PybulletWorld
from simulation.state import SceneState
from worldgen.cli import main
from worldgen.dataset.family import RejectSpec, episode_scene, load_family
from worldgen.eval.dynamics import (
    energy_growth,
    energy_jumps,
    explosion_frame,
    geodesic_angle,
    left_floor,
    mass_properties,
    mechanical_energy,
    penetration_depths,
    perturb,
    ratio,
)
from worldgen.eval.dynamics_run import Settings, evaluate_family, goals
from worldgen.scene import scene_from_dict


def test_geodesic_angle_of_known_quaternion_pairs():
    identity = np.array([0.0, 0.0, 0.0, 1.0])
    about_z = np.array([0.0, 0.0, np.sin(np.pi / 4), np.cos(np.pi / 4)])  # 90 degrees about z, (x, y, z, w)
    q = np.array([0.1, -0.4, 0.3, 0.8])
    assert geodesic_angle(identity, about_z) == pytest.approx(np.pi / 2)
    assert geodesic_angle(q, -q) == 0.0 and geodesic_angle(q, q) == 0.0
    assert geodesic_angle(q, 3 * q) == pytest.approx(0.0, abs=1e-12)  # normalised first
    assert geodesic_angle(identity, [1.0, 0.0, 0.0, 0.0]) == pytest.approx(np.pi)  # half turn about x
    angles = geodesic_angle(np.stack([identity, identity]), np.stack([about_z, -about_z]))
    assert angles == pytest.approx([np.pi / 2, np.pi / 2])


def test_ratio_of_a_zero_chaos_floor_is_well_defined():
    assert ratio(0.0, 0.0) == 0.0 and ratio(0.5, 0.0) == float("inf") and ratio(0.6, 0.2) == pytest.approx(3.0)
    assert ratio(None, 1.0) is None and ratio(1.0, None) is None


def test_perturbation_moves_dynamic_bodies_by_1_mm_and_half_a_degree():
    family, _, _ = load_family("objects_drop")
    scene = episode_scene(family, family.seed("validation", 0))
    state = PybulletEngine(contacts=False).rollout(scene, num_frames=1).states[0]
    dynamic = np.ones(len(scene.objects), bool)
    dynamic[0] = False
    moved = perturb(state, dynamic, np.random.default_rng(0))
    shift = np.linalg.norm(moved.body_position - state.body_position, axis=-1)
    assert shift[0] == 0.0 and shift[1:] == pytest.approx(1e-3)
    turn = geodesic_angle(moved.body_orientation, state.body_orientation)
    assert turn[0] == 0.0 and turn[1:] == pytest.approx(np.radians(0.5))
    assert np.array_equal(moved.body_linear_velocity, state.body_linear_velocity)
    assert np.array_equal(moved.body_angular_velocity, state.body_angular_velocity)


def _two_boxes():
    scene = scene_from_dict({"objects": [
        {"name": "a", "shape": "box", "size": [0.2, 0.2, 0.2], "position": [0, 0, 1]},
        {"name": "b", "shape": "box", "size": [0.2, 0.2, 0.2], "position": [1, 0, 1]}]}, ".")
    return PybulletWorld(scene)


def test_penetration_of_overlapping_boxes_is_their_overlap():
    world = _two_boxes()
    try:
        position = np.array([[[0, 0, 1], [0.17, 0, 1]],  # 3 cm overlap
                             [[0, 0, 1], [0.5, 0, 1]],  # apart, in the air
                             [[0, 0, 0.08], [0.5, 0, 1]]], float)  # a sunk 2 cm into the floor
        orientation = np.tile([0.0, 0.0, 0.0, 1.0], (3, 2, 1))
        depth = penetration_depths(world, position, orientation)
    finally:
        world.close()
    assert depth[0] == pytest.approx([0.03, 0.03], abs=1e-3)
    assert np.all(depth[1] == 0.0)
    assert depth[2] == pytest.approx([0.02, 0.0], abs=1e-3)


def test_energy_of_a_falling_spinning_body_is_conserved_before_impact():
    scene = scene_from_dict({"fps": 12, "physics_hz": 240, "objects": [
        {"name": "box", "shape": "box", "size": [0.1, 0.2, 0.4], "position": [0, 0, 3], "euler": [20, 30, 40],
         "linear_velocity": [1, 0.5, 2], "angular_velocity": [3, -2, 5],
         "physics": {"mass": 1.5, "linear_damping": 0.0, "angular_damping": 0.0}}]}, ".")
    trajectory = PybulletEngine(contacts=False).rollout(scene, num_frames=10)  # still 1.7 m up at frame 9
    world = PybulletWorld(scene)
    try:
        mass, inertia = mass_properties(world)
    finally:
        world.close()
    assert mass == pytest.approx([1.5]) and inertia[0] == pytest.approx([0.025, 0.02125, 0.00625])
    energy = mechanical_energy(trajectory.states, mass, inertia, scene.gravity)
    rotation = Rotation.from_euler("xyz", [20, 30, 40], degrees=True).as_matrix()  # fixed axes x, y, z
    spin = np.array([3.0, -2.0, 5.0])
    rotational = 0.5 * spin @ rotation @ np.diag([0.025, 0.02125, 0.00625]) @ rotation.T @ spin
    assert energy[0] == pytest.approx(1.5 * (9.81 * 3 + 0.5 * (1 + 0.25 + 4)) + rotational, rel=1e-6)
    assert np.abs(energy / energy[0] - 1).max() < 0.02


def test_energy_growth_and_jumps():
    energy = np.array([10.0, 9.0, 9.5, 8.0, 9.85, 9.9, 5.0])
    assert energy_growth(energy, window=1) == pytest.approx(1.85)
    assert energy_growth(energy, window=3) == pytest.approx(1.9)  # 8.0 -> 9.9
    assert energy_growth(np.array([3.0, 2.0, 1.0])) == 0.0
    assert energy_jumps(energy) == 2  # +0.5 and +1.85 exceed 1 % of E(0); +0.05 does not


def test_explosion_frame_is_the_first_frame_that_breaks_a_rule():
    scene = scene_from_dict({"fps": 12, "physics_hz": 240, "objects": [
        {"name": "ball", "shape": "sphere", "radius": 0.1, "position": [0, 0, 1]}]}, ".")
    trajectory = PybulletEngine(contacts=False).rollout(scene, num_frames=6)  # free fall to z = 0.15 m
    assert explosion_frame(trajectory, RejectSpec()) is None
    frame, reason = explosion_frame(trajectory, RejectSpec(min_height=0.5))
    z = trajectory.states.body_position[:, 0, 2]
    assert frame == 4 and z[frame] < 0.5 <= z[frame - 1] and "through the floor" in reason
    # Beyond the floor's edge, falling is not an explosion (rolling off the floor is physics).
    shifted = {**trajectory.states.arrays(), "body_position": trajectory.states.body_position + np.array([20.0, 0.0, 0.0])}
    away = dataclasses.replace(trajectory, states=SceneState(**shifted))
    assert explosion_frame(away, RejectSpec(min_height=0.5)) is None and left_floor(away) and not left_floor(trajectory)


SMALL = Settings(episodes=3, long_episodes=1, long_frames=30, rest_frames=12)


@pytest.fixture(scope="module")
def pybullet_run():
    family, _, _ = load_family("objects_drop")
    return evaluate_family(PybulletEngine(contacts=False), family, SMALL)


def test_pybullet_against_itself_is_exactly_zero_and_the_chaos_floor_grows(pybullet_run):
    report = pybullet_run.report
    for key in ("translation_m", "rotation_rad", "light_position_m"):
        assert set(report[key]["engine"]) == {"1", "6", "12", "24", "whole"}
        assert all(v == 0.0 for v in report[key]["engine"].values())
    floor = report["translation_m"]["chaos_floor"]
    assert floor["1"] == pytest.approx(1e-3, rel=0.2)  # the 1 mm perturbation, barely moved on by frame 1
    assert 0 < floor["1"] < floor["12"] < floor["24"]
    rotation = report["rotation_rad"]["chaos_floor"]
    assert 0 < rotation["1"] < rotation["24"]
    assert all(v == 0.0 for v in report["translation_m"]["ratio"].values())
    assert report["penetration_mm"]["engine"] == report["penetration_mm"]["pybullet"]
    assert report["rest"]["engine"] == report["rest"]["pybullet"] and report["long"]["engine"]["explosions"] == 0
    checks = goals(report)
    assert checks["met"] is True and checks["checks"]["translation_24_over_chaos_floor"]["value"] == 0.0


class ShiftedEngine(Engine):
    """pybullet from a start shifted 1 cm along x, through ``rollout_batch``."""

    name = "shifted"

    def __init__(self):
        self.pybullet = PybulletEngine(contacts=False)
        self.batches = 0

    def step_rate(self, scene):
        return self.pybullet.step_rate(scene)

    def rollout(self, scene, initial=None, num_frames=None, progress=False):
        if initial is None:
            initial = self.pybullet.rollout(scene, num_frames=1).states[0]
        arrays = {k: np.array(v, copy=True) for k, v in initial.arrays().items()}
        arrays["body_position"][:, 0] += 0.01
        return self.pybullet.rollout(scene, type(initial)(**arrays), num_frames)

    def rollout_batch(self, scenes, num_frames, initials=None):
        self.batches += 1
        return [self.rollout(s, i, num_frames) for s, i in zip(scenes, initials or [None] * len(scenes))]


def test_a_perturbed_engine_has_nonzero_error_and_is_batched():
    family, _, _ = load_family("objects_drop")
    engine = ShiftedEngine()
    report = evaluate_family(engine, family, Settings(episodes=2, long_episodes=0, rest_frames=6)).report
    assert engine.batches == 2  # the 25-frame rollouts and the rest test, one batch each
    error = report["translation_m"]["engine"]
    assert error["1"] == pytest.approx(0.01, rel=0.1) and error["whole"] > 0.005
    assert report["translation_m"]["ratio"]["1"] > 5 and report["long"] == {"episodes": 0, "frames": 2000}
    by_shape = report["by_shape"]  # every body starts 1 cm off, whatever its shape
    assert sum(r["bodies"] for r in by_shape.values()) == report["bodies"]
    assert set(by_shape) <= {"box", "sphere", "cylinder", "capsule"} and all(r["translation_m"] > 0.005 for r in by_shape.values())


def test_cli_writes_the_report_plots_and_a_side_by_side_video(tmp_path, capsys):
    from worldgen.io.video import read_video

    out = tmp_path / "eval"
    assert main(["eval", "dynamics", "-o", str(out), "--engine", "pybullet", "--family", "objects_drop",
                 "--episodes", "2", "--long-episodes", "1", "--long-frames", "30", "--videos", "1",
                 "--resolution", "32x32", "--spp", "2"]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "dynamics_eval.json").read_text())
    assert report["format"] == "worldgen.eval_dynamics/1" and report["engine"] == "pybullet"
    assert report["checkpoint"] is None and report["arguments"]["episodes"] == 2
    assert list(report["families"]) == ["objects_drop"] and report["goals"]["met"] is True
    family = report["families"]["objects_drop"]
    assert len(family["translation_m"]["per_frame"]["chaos_floor"]) == 25 and family["rest"]["frames"] == 240
    assert len(family["long"]["pybullet"]["energy_curve"]) == 30 and family["long"]["engine"]["explosions"] == 0
    assert {"ground_truth", "engine", "chaos_floor", "penetration", "rest", "long"} <= set(family["seconds"])
    assert (out / "error_vs_horizon.png").stat().st_size > 1000 and (out / "energy.png").stat().st_size > 1000
    frames, fps = read_video(out / "side_by_side_0.mp4")
    assert frames.shape == (25, 32, 64, 3) and fps == 12
    assert "chaos" in printed and "goals on objects_drop: met" in printed
    hits = report["collision"]["ball_into_box"]
    assert list(hits) == ["1.3", "2.5"] and all(hit["engine"] == hit["pybullet"] for hit in hits.values())
    slow, fast = hits["1.3"]["pybullet"], hits["2.5"]["pybullet"]
    assert max(slow["max_penetration_m"], fast["max_penetration_m"]) < 0.005  # pybullet keeps them apart
    assert 0.05 < slow["box_moved_m"] < fast["box_moved_m"] and "ball into box at 2.5 m/s" in printed


@pytest.mark.parametrize("arguments, expected", [
    (["--family", "no_such_family"], "--family: no bundled family 'no_such_family'"),
    (["--episodes", "0"], "--episodes: expected a whole number >= 1, got '0'"),
    (["--resolution", "128by128"], "--resolution: expected WIDTHxHEIGHT"),
    (["--resolution", "0x64"], "--resolution: expected WIDTHxHEIGHT"),
    (["--checkpoint", "/no/such/checkpoint"], "/no/such/checkpoint: --checkpoint: no such folder"),
    (["--engine", "bullet"], "--engine: expected one of learned, pybullet, got 'bullet'"),
    (["--engine", "pybullet", "--checkpoint", "."], "--checkpoint: only --engine learned"),
    (["--engine", "pybullet", "--no-sleep"], "--no-sleep: only --engine learned deactivates bodies"),
    (["--engine", "pybullet", "--no-floor-projection"], "--no-floor-projection: only --engine learned projects bodies"),
    (["--split", "holdout"], "--split: family objects_drop has no split 'holdout'"),
    (["--videos", "5", "--episodes", "2"], "--videos: expected a whole number from 0 to 2, got '5'"),
])
def test_cli_mistakes_are_one_line_exit_2(tmp_path, capsys, arguments, expected):
    assert main(["eval", "dynamics", "-o", str(tmp_path / "out"), *arguments]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err, err
