"""Guards for exact claims that the rest of the suite let slip: the background's flow under
a moving camera, the hemisphere distribution's elevation, a dataset resume that must not
redo finished episodes, every field of a saved trajectory, the depth map of a clip seen at
one depth, and a `worldgen render` folder read back by `worldgen eval video`."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from control.depth_map import depth_map
from renderer.pbr.render import RenderSettings
from simulation.engines import make_engine
from simulation.state import LightInfo, Trajectory
from worldgen.cli import main
from worldgen.pipelines.clip import render_controls
from worldgen.scene import scene_from_dict
from worldgen.scene.distributions import sample

# --- the background's flow under a moving camera ------------------------------------------

FPS = 10


def _controls(camera: dict, frames: int = 3):
    """Buffers, exact flow and control maps of an empty scene (the floor only) seen by ``camera``."""
    scene = scene_from_dict({"fps": FPS, "physics_hz": 100, "num_frames": frames, "cameras": [camera]})
    trajectory = make_engine("pybullet").rollout(scene, num_frames=frames)
    return render_controls(trajectory, scene.cameras[0], RenderSettings(rgb=False))


def _background_pixels(clip, t):
    v, u = np.nonzero(clip.instance[t] == 0)
    return u + 0.5, v + 0.5, v, u


def test_background_flow_follows_a_panning_travelling_camera():
    """A level camera travels and turns left (heading 0 -> 8 -> 20 degrees): the sky (no hit)
    moves as directions at infinity do, whatever the translation. For a level camera the
    answer is closed-form: a pixel at x = (u - cx) / f, y = (v - cy) / f looks along heading
    h - atan(x) at a fixed elevation, so after a turn by dh it lands at
    x' = tan(atan(x) + dh), y' = y * sqrt(1 + x'^2) / sqrt(1 + x^2)."""
    headings = [0.0, 8.0, 20.0]
    positions = [[0.0, 0.0, 1.0], [0.3, 0.1, 1.0], [0.6, 0.3, 1.0]]
    keys = [{"time": t / FPS, "position": p,
             "look_at": [p[0] + math.cos(math.radians(h)), p[1] + math.sin(math.radians(h)), p[2]]}
            for t, (p, h) in enumerate(zip(positions, headings))]
    controls = _controls({"name": "pan", "fov": 60, "resolution": [48, 32], "keyframes": keys})
    clip, flow = controls.clip, controls.flow
    assert (clip.instance == 1).any() and (clip.instance == 0).mean() > 0.3  # floor below, sky above
    f, cx, cy = clip.K[0, 0], clip.K[0, 2], clip.K[1, 2]
    checked = 0
    for s, d, field, occluded in [(t, t + 1, flow.forward, flow.forward_occluded) for t in range(2)] + \
                                 [(t, t - 1, flow.backward, flow.backward_occluded) for t in (1, 2)]:
        u, v, rows, cols = _background_pixels(clip, s)
        x, y = (u - cx) / f, (v - cy) / f
        turn = math.radians(headings[d] - headings[s])
        x2 = np.tan(np.arctan(x) + turn)
        y2 = y * np.sqrt(1 + x2**2) / np.sqrt(1 + x**2)
        expected = np.stack([cx + f * x2 - u, cy + f * y2 - v])
        np.testing.assert_allclose(field[s][:, rows, cols], expected, atol=2e-3)
        # Turning left moves the sky right (and back on the way back).
        assert np.sign(field[s][0, rows, cols]).tolist() == [np.sign(turn)] * len(rows)
        # The sky that stays in view lands on sky: a valid correspondence.
        x_to, y_to = u + field[s][0, rows, cols], v + field[s][1, rows, cols]
        inside = (x_to >= 0) & (x_to < 48) & (y_to >= 0) & (y_to < 32)
        lands = clip.instance[d][np.clip(y_to, 0, 31).astype(int), np.clip(x_to, 0, 47).astype(int)] == 0
        assert not occluded[s][rows, cols][inside & lands].any()
        checked += len(rows)
    assert checked > 1500


def test_background_flow_under_a_tilting_rolling_camera_matches_points_at_infinity():
    """A camera that moves, pitches and rolls (its up vector turns): each sky pixel's flow is
    where a point 10^7 m along its ray projects in the other frame, through the frames' own
    extrinsics (translation included: parallax at that distance is far below a pixel)."""
    camera = {"name": "roll", "fov": 50, "resolution": [40, 30], "position": [0, 0, 1.2],
              "keyframes": [{"time": 0.0, "position": [0, 0, 1.2], "look_at": [3, 0, 1.5]},
                            {"time": 0.1, "position": [0.2, -0.3, 1.4], "look_at": [3, 1.2, 1.0]},
                            {"time": 0.2, "position": [0.5, -0.2, 1.1], "look_at": [2.5, 0.5, 2.0]}]}
    controls = _controls(camera)
    clip, flow = controls.clip, controls.flow
    assert (clip.instance == 0).mean() > 0.3 and (clip.instance == 1).any()
    K = clip.K
    for s, d, field in [(0, 1, flow.forward), (1, 2, flow.forward), (1, 0, flow.backward), (2, 1, flow.backward)]:
        u, v, rows, cols = _background_pixels(clip, s)
        rays = np.stack([u, v, np.ones_like(u)], axis=-1) @ np.linalg.inv(K).T * 1e7  # camera frame, z = 1e7 m
        R, t = clip.world_to_camera[s][:3, :3], clip.world_to_camera[s][:3, 3]
        world = (rays - t) @ R  # R^T (x - t)
        R2, t2 = clip.world_to_camera[d][:3, :3], clip.world_to_camera[d][:3, 3]
        seen = world @ R2.T + t2
        assert (seen[:, 2] > 0).all()
        expected = (seen @ K.T)[:, :2] / seen[:, 2:]
        np.testing.assert_allclose(field[s][:, rows, cols].T, expected - np.stack([u, v], axis=-1), atol=2e-3)
    assert np.abs(flow.forward[0][:, clip.instance[0] == 0]).max() > 3  # the camera does turn


# --- the hemisphere distribution -------------------------------------------------------


def test_hemisphere_draws_lie_on_the_asked_shell_measured_from_the_horizon():
    """{hemisphere: ...}: elevation in [e0, e1] degrees ABOVE THE HORIZONTAL, radius in
    [r0, r1], around ``center``, azimuth all the way round."""
    center = np.array([1.0, -2.0, 0.5])
    node = {"hemisphere": {"radius": [2.0, 3.0], "elevation": [15.0, 35.0], "center": center.tolist()}}
    points = np.array([sample(node, seed, "cameras[0].position") for seed in range(400)])
    offset = points - center
    radius = np.linalg.norm(offset, axis=1)
    elevation = np.degrees(np.arcsin(offset[:, 2] / radius))
    azimuth = np.degrees(np.arctan2(offset[:, 1], offset[:, 0])) % 360
    assert radius.min() >= 2.0 - 1e-9 and radius.max() <= 3.0 + 1e-9
    assert elevation.min() >= 15.0 - 1e-6 and elevation.max() <= 35.0 + 1e-6
    assert elevation.min() < 17 and elevation.max() > 33  # spread over the whole band
    assert np.histogram(azimuth, bins=4, range=(0, 360))[0].min() > 60  # every quadrant
    # The same through a scene: a camera placed on the shell by its seed.
    scene = scene_from_dict({"seed": 7, "cameras": [{"position": node, "look_at": center.tolist()}]})
    position = np.array(scene.cameras[0].position) - center
    assert 15 - 1e-6 <= np.degrees(np.arcsin(position[2] / np.linalg.norm(position))) <= 35 + 1e-6
    # Low elevations: points just above the horizon, not near the zenith.
    low = {"hemisphere": {"radius": [1.0, 1.0], "elevation": [0.0, 5.0]}}
    heights = np.array([sample(low, seed, "p")[2] for seed in range(50)])
    assert heights.min() >= -1e-9 and heights.max() <= math.sin(math.radians(5)) + 1e-9


# --- dataset resume -------------------------------------------------------------------


def test_resume_does_not_recompute_sealed_or_staged_episodes(tmp_path, monkeypatch):
    """A run stopped after episodes 0-2 (0 and 1 sealed in shard 0, 2 only staged) resumes
    by producing exactly the missing episodes 3 and 4, and ends with the bytes of an
    uninterrupted run."""
    import worldgen.pipelines.dataset_generation as generation
    from worldgen.dataset.family import load_family

    real, calls = generation.generate_episode, []

    def counted(family, split, index, *args, **kwargs):
        calls.append(index)
        if index == stop_at:
            raise KeyboardInterrupt  # the run dies before this episode is staged
        return real(family, split, index, *args, **kwargs)

    monkeypatch.setattr(generation, "generate_episode", counted)
    spec, config, _ = load_family("objects_drop", ["num_frames=4"])

    def run(root):
        return generation.generate(spec, config, root, 5, shard_size=2, progress=False, states_only=True)

    stop_at = 3
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "resumed")
    assert calls == [0, 1, 2, 3]
    assert sorted(p.name for p in (tmp_path / "resumed" / ".staging").iterdir()) == ["000002.tar"]
    shard0 = (tmp_path / "resumed" / "shard-000000.tar").stat().st_mtime_ns

    calls.clear()
    stop_at = None
    report = run(tmp_path / "resumed")
    assert calls == [3, 4] and report.produced == 2
    assert (tmp_path / "resumed" / "shard-000000.tar").stat().st_mtime_ns == shard0  # sealed shard untouched
    calls.clear()
    assert run(tmp_path / "resumed").produced == 0 and calls == []  # complete: nothing to do

    run(tmp_path / "straight")
    for name in ("manifest.json", "shard-000000.tar", "shard-000001.tar", "shard-000002.tar"):
        assert (tmp_path / "resumed" / name).read_bytes() == (tmp_path / "straight" / name).read_bytes(), name


# --- trajectory save / load -----------------------------------------------------------


def test_trajectory_save_load_keeps_every_field(tmp_path):
    """Every field of a Trajectory comes back, each with a value that differs from the
    others and from the defaults: fps 12, physics_hz 600, an engine name that is not
    pybullet, lights of every kind of LightInfo field (spot angle and softness, area size,
    attach_to)."""
    scene = scene_from_dict({
        "fps": 12, "physics_hz": 600, "num_frames": 4,
        "objects": [{"name": "lamp", "shape": "box", "size": [0.2, 0.2, 0.2], "position": [0, 0, 0.5]}],
        "lights": [
            {"name": "spot", "type": "spot", "position": [0, 0, 3], "look_at": [0, 0, 0], "spot_angle": 37.5,
             "spot_softness": 0.35, "intensity": 7},
            {"name": "panel", "type": "area", "position": [1, 1, 2], "look_at": [0, 0, 0], "size": [0.7, 1.3],
             "intensity": 3},
            {"name": "bulb", "type": "point", "attach_to": "lamp", "offset": [0, 0, 0.2], "intensity": 2},
        ],
    })
    trajectory = make_engine("pybullet").rollout(scene, num_frames=4)
    trajectory = dataclasses.replace(trajectory, engine="learned:checkpoints/dynamics")
    assert (trajectory.fps, trajectory.physics_hz) == (12, 600)
    assert trajectory.lights == [
        LightInfo("spot", "spot", 37.5, 0.35, trajectory.lights[0].size, None),
        LightInfo("panel", "area", trajectory.lights[1].spot_angle, trajectory.lights[1].spot_softness, [0.7, 1.3], None),
        LightInfo("bulb", "point", trajectory.lights[2].spot_angle, trajectory.lights[2].spot_softness,
                  trajectory.lights[2].size, "lamp"),
    ]
    trajectory.save(tmp_path)
    loaded = Trajectory.load(tmp_path)
    for field in dataclasses.fields(Trajectory):
        ours, theirs = getattr(trajectory, field.name), getattr(loaded, field.name)
        if field.name == "states":
            for key, value in ours.arrays().items():
                assert np.array_equal(value, theirs.arrays()[key]), key
        else:
            assert theirs == ours, field.name
            assert type(theirs) is type(ours), field.name
    assert (loaded.fps, loaded.physics_hz, loaded.engine) == (12, 600, "learned:checkpoints/dynamics")
    assert all(isinstance(light, LightInfo) for light in loaded.lights)
    assert len(loaded) == 4 and loaded.scene["physics_hz"] == 600 and loaded.scene["fps"] == 12


# --- the depth map of a clip at one depth ----------------------------------------------


def test_depth_map_of_a_single_depth_is_bright_not_black():
    """Every hit at one depth: the hits map to 1 (near = bright), background stays 0."""
    depth = np.zeros((3, 4, 5), np.float32)
    depth[:, 1:, 1:4] = 2.5
    out = depth_map(depth)
    assert np.all(out[:, :, 1:, 1:4] == 1.0)
    assert np.all(out[:, :, 0] == 0) and np.all(out[:, :, :, 0] == 0) and np.all(out[:, :, :, 4] == 0)
    assert np.all(depth_map(np.full((2, 3, 3), 4.0, np.float32)) == 1.0)  # a clip that is one wall


def test_depth_map_of_a_camera_looking_straight_down_at_the_floor():
    """A camera straight above the floor sees z-depth 2 m at every pixel of every frame; the
    renderer returns it with float rounding (1.9999999 .. 2.0). The depth map must be one
    uniform bright value, not rounding noise stretched over [0, 1] (mostly black)."""
    controls = _controls({"name": "down", "position": [0, 0, 2], "look_at": [0, 0, 0], "up": [0, 1, 0], "fov": 40,
                          "resolution": [24, 16]}, frames=2)
    depth, instance = controls.clip.depth, controls.clip.instance
    assert (instance == 1).all()
    np.testing.assert_allclose(depth, 2.0, rtol=1e-5)
    maps = controls.maps.depth
    assert maps.min() == maps.max() == 1.0


# --- `worldgen render` read by `worldgen eval video` -----------------------------------

ORBIT_SCENE = """\
name: orbit_boxes
fps: 24
physics_hz: 240
num_frames: 6
floor: {material: {color: [1, 1, 1], texture: checker.png, texture_scale: 0.5}}
objects:
  - {name: red, shape: box, size: [0.4, 0.4, 0.4], position: [0.6, 0, 0.2], material: {color: [0.9, 0.1, 0.1]},
     physics: {fixed: true}}
  - {name: green, shape: box, size: [0.3, 0.5, 0.6], position: [-0.5, 0.4, 0.3], material: {color: [0.1, 0.8, 0.2]},
     physics: {fixed: true}}
  - {name: blue, shape: sphere, radius: 0.25, position: [0, -0.6, 0.25], material: {color: [0.1, 0.2, 0.9]},
     physics: {fixed: true}}
lights:
  - {name: sun, type: directional, direction: [0.4, 0.3, -1], intensity: 3}
cameras:
  - {name: orbit, look_at: [0, 0, 0.3], fov: 50, resolution: [64, 48], orbit: {center: [0, 0, 1.6], radius: 3, period: 3}}
"""


def test_eval_video_reads_a_worldgen_render_folder(tmp_path, capsys):
    """`worldgen eval video` on a real `worldgen render` folder (an odd size, so the mp4 is
    padded; a camera orbiting a textured floor, so every pixel moves) finds its buffers.npz,
    measures the size and rate the render wrote, names the instances as instances.json does,
    and the render's forward flow explains the frames far better than no motion at all."""
    from PIL import Image

    checks = (np.indices((8, 8)).sum(axis=0) % 2) * 180 + 40
    texture = np.stack([checks, np.random.default_rng(0).integers(40, 220, (8, 8)), 255 - checks], axis=-1)
    Image.fromarray(texture.astype(np.uint8)).resize((64, 64), Image.NEAREST).save(tmp_path / "checker.png")
    (tmp_path / "orbit.yaml").write_text(ORBIT_SCENE)
    render = tmp_path / "render"
    assert main(["render", str(tmp_path / "orbit.yaml"), "-o", str(render), "--resolution", "41x31", "--spp", "4",
                 "-q"]) == 0, capsys.readouterr().err
    capsys.readouterr()
    out = tmp_path / "eval"
    assert main(["eval", "video", str(render), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "does not match" not in captured.err and "no flow" not in captured.out
    report = json.loads((out / "metrics.json").read_text())
    assert report["flow"] == str(render / "buffers.npz") and report["video"] == str(render / "rgb.mp4")
    assert (report["frames"], report["width"], report["height"], report["fps"]) == (6, 41, 31, 24)
    with np.load(render / "buffers.npz") as buffers:
        forward, occluded = buffers["forward_flow"], buffers["forward_occluded"]
    assert np.median(np.abs(forward[:-1, 0])) > 1  # the camera orbits: the image moves
    exact = report["summary"]
    assert exact["visible_fraction"] == pytest.approx(1 - occluded[:-1].mean(), abs=1e-6)
    names = {r["id"]: r["name"] for r in json.loads((render / "instances.json").read_text())["instances"]}
    measured = {r["id"]: r["name"] for r in report["instances"]}
    assert measured and all(names[i] == name for i, name in measured.items())
    assert {"floor", "red", "green", "blue"} <= set(measured.values())
    # The same frames measured with no motion: the exact flow must explain them much better.
    np.savez(tmp_path / "still.npz", forward_flow=np.zeros_like(forward), forward_occluded=occluded)
    assert main(["eval", "video", str(render), "--flow", str(tmp_path / "still.npz"), "-o", str(tmp_path / "e2")]) == 0
    still = json.loads((tmp_path / "e2" / "metrics.json").read_text())["summary"]
    assert exact["warp_error"] < 0.6 * still["warp_error"], (exact["warp_error"], still["warp_error"])
