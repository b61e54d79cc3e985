"""The showcase scenes in configs/scene/ simulate (real pybullet) to physically sensible
outcomes: dominoes fall in order, the pyramid is knocked down, the tower stands while the
dropped blocks settle, the humanoid kicks things aside, the lamp swings with its light,
the balls bounce and the random scenes are reproducible from their seed.

Each scene is simulated once per module (the ``rollout`` fixture caches trajectories)."""

from __future__ import annotations

import numpy as np
import pytest

from simulation.engines import make_engine
from worldgen.scene import bundled_scenes, load_scene
from worldgen.scene.cameras import extrinsics, intrinsics, project

SHOWCASE = ("dominoes", "stacked_blocks", "pyramid", "pendulum_lamp", "humanoid_walk", "orbiting_lights")
RIGHT_ANKLE, LEFT_ANKLE = 10, 13  # COCO-18


def simulate(name: str, *overrides: str):
    return make_engine("pybullet").rollout(load_scene(name, list(overrides)))


@pytest.fixture(scope="module")
def rollout():
    """``rollout(name, *overrides)``: the trajectory of a bundled scene, simulated once per
    module for each distinct (name, overrides)."""
    cache = {}

    def get(name: str, *overrides: str):
        key = (name, overrides)
        if key not in cache:
            cache[key] = simulate(name, *overrides)
        return cache[key]

    return get


def rotation(q: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices of unit quaternions (..., 4) in (x, y, z, w) order.
    Written out here rather than imported, so the checks do not lean on the code under test."""
    x, y, z, w = np.moveaxis(np.asarray(q, dtype=float), -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def tilt_degrees(traj, indices) -> np.ndarray:
    """(T, N) angle between each body's local z axis and the world z axis, degrees."""
    z_axis = rotation(traj.states.body_orientation[:, indices])[..., :, 2]
    return np.degrees(np.arccos(np.clip(z_axis[..., 2], -1.0, 1.0)))


def turned_degrees(traj, index: int) -> float:
    """Angle between a body's first and last orientation, degrees."""
    q0, q1 = traj.states.body_orientation[0, index], traj.states.body_orientation[-1, index]
    return float(np.degrees(2 * np.arccos(np.clip(abs(np.dot(q0, q1)), 0.0, 1.0))))


def names_with(traj, prefix: str) -> list[str]:
    return [b.name for b in traj.bodies if b.name.startswith(prefix)]


# --------------------------------------------------------------------------- every scene


def test_the_showcase_scenes_are_bundled():
    assert set(SHOWCASE) <= set(bundled_scenes())


@pytest.mark.parametrize("name", list(bundled_scenes()))
def test_every_bundled_scene_simulates_to_finite_states(rollout, name):
    scene = load_scene(name)
    traj = rollout(name)
    assert scene.name == name
    assert scene.description and "\n" not in scene.description.strip()
    assert scene.cameras and len(scene.lights) >= 2
    assert 3.0 <= scene.frame_count / scene.fps <= 6.0
    textures = [m.texture for m in [scene.floor.material] + [o.material for o in scene.objects] if m.texture]
    for texture in textures:  # relative to the scene file (the loader checks objects' textures, not the floor's)
        assert (scene.base_dir / texture).is_file(), texture
    assert len(traj) == scene.frame_count
    for key, array in traj.states.arrays().items():
        assert np.isfinite(array).all(), key
    assert len(traj.bodies) == len(scene.objects)
    moving = [i for i, b in enumerate(traj.bodies) if not b.fixed]
    # Nothing sinks through the floor (centre of mass below its top face) or explodes.
    assert traj.states.body_position[:, moving, 2].min() > 0.0
    assert np.linalg.norm(traj.states.body_linear_velocity[:, moving], axis=-1).max() < 15.0


@pytest.mark.parametrize("name", list(bundled_scenes()))
def test_every_moving_body_starts_and_ends_in_view_of_a_camera(rollout, name):
    """What the scene is about is on screen: at the first and last frame, every movable
    body's centre projects inside the image of at least one camera."""
    scene, traj = load_scene(name), rollout(name)
    times = traj.states.time
    for frame in (0, len(traj) - 1):
        seen = np.zeros(len(traj.bodies), dtype=bool)
        for camera in scene.cameras:
            world_to_camera = extrinsics(camera, times, float(times[-1]))[frame]
            pixels, depth = project(traj.states.body_position[frame], intrinsics(camera), world_to_camera)
            width, height = camera.resolution
            seen |= (depth > 0) & (pixels[:, 0] >= 0) & (pixels[:, 0] < width) & (pixels[:, 1] >= 0) & (pixels[:, 1] < height)
        unseen = [b.name for b, ok in zip(traj.bodies, seen) if not ok and not b.fixed]
        assert not unseen, f"frame {frame}: out of every camera's view: {unseen}"


# --------------------------------------------------------------------------- dominoes


def test_dominoes_all_fall_in_chain_order(rollout):
    traj = rollout("dominoes")
    names = sorted(names_with(traj, "domino_"))
    assert len(names) >= 15
    tilt = tilt_degrees(traj, [traj.body_index(n) for n in names])
    assert tilt[0].max() < 1.0  # all standing at the start
    crossing = []
    for k, name in enumerate(names):
        above = np.nonzero(tilt[:, k] > 45.0)[0]
        assert len(above), f"{name} never tipped past 45 degrees (max {tilt[:, k].max():.1f})"
        f = above[0]
        # Sub-frame time of the 45 degree crossing (linear between the two frames).
        a, b = tilt[f - 1, k], tilt[f, k]
        crossing.append((f - 1 + (45.0 - a) / (b - a)) / traj.fps)
    assert np.all(np.diff(crossing) > 0), f"fall times not increasing along the chain: {np.round(crossing, 3)}"
    assert tilt[-1].min() > 60.0, "every domino ends lying down"


# --------------------------------------------------------------------------- pyramid


def test_pyramid_is_knocked_over(rollout):
    traj = rollout("pyramid")
    boxes = [traj.body_index(n) for n in names_with(traj, "box_")]
    assert len(boxes) >= 10
    position = traj.states.body_position
    moved = np.linalg.norm(position[-1, boxes] - position[0, boxes], axis=-1)
    turned = np.array([turned_degrees(traj, i) for i in boxes])
    knocked = (moved > 0.2) | (turned > 30.0)
    assert knocked.sum() > len(boxes) / 2, f"only {knocked.sum()} of {len(boxes)} boxes knocked"
    top = boxes[int(np.argmax(position[0, boxes, 2]))]
    assert position[-1, top, 2] < position[0, top, 2] - 0.2, "the top box ends lower than it started"
    # The ball did it: no box moved before the ball first touched one.
    box_names = {traj.bodies[i].name for i in boxes}
    hits = [e.frame for e in traj.contacts if "ball" in (e.a, e.b) and ({e.a, e.b} - {"ball"}) <= box_names]
    assert hits, "the ball never touches a box"
    assert np.abs(position[: min(hits), boxes] - position[0, boxes]).max() < 0.005


# --------------------------------------------------------------------------- stacked blocks


def test_tower_stands_still_while_dropped_blocks_settle(rollout):
    traj = rollout("stacked_blocks")
    position, states = traj.states.body_position, traj.states
    tower = [traj.body_index(n) for n in sorted(names_with(traj, "tower_"))]
    dropped = [traj.body_index(n) for n in sorted(names_with(traj, "drop_"))]
    assert len(tower) >= 3 and len(dropped) >= 3
    drift = np.linalg.norm(position[:, tower] - position[0, tower], axis=-1).max()
    assert drift < 0.005, f"a tower block moved {drift * 1000:.1f} mm"
    fell = position[0, dropped, 2] - position[-1, dropped, 2]
    assert fell.min() > 0.3, "every dropped block fell"
    assert np.linalg.norm(states.body_linear_velocity[-1, dropped], axis=-1).max() < 0.02
    assert np.linalg.norm(states.body_angular_velocity[-1, dropped], axis=-1).max() < 0.1
    last_half_second = position[-traj.fps // 2 :, dropped]
    assert np.abs(last_half_second - last_half_second[-1]).max() < 0.005, "dropped blocks at rest at the end"
    # The first three dropped blocks land on each other: a second stack, bottom to top.
    stack = [traj.body_index(f"drop_{k}") for k in range(3)]
    heights = position[-1, stack, 2]
    assert np.all(np.diff(heights) > 0.15), f"not stacked: final heights {np.round(heights, 3)}"
    assert np.linalg.norm(position[-1, stack, :2] - position[-1, stack[0], :2], axis=-1).max() < 0.1


# --------------------------------------------------------------------------- humanoid walk


def test_humanoid_walks_on_the_floor_and_kicks_objects_aside(rollout):
    traj = rollout("humanoid_walk")
    walker = traj.humanoids[0].name
    ankles = traj.states.humanoid_keypoints[:, 0, [RIGHT_ANKLE, LEFT_ANKLE], 2]
    assert np.abs(ankles).max() < 0.3, "both ankles stay within 0.3 m of the floor"
    root = traj.states.humanoid_keypoints[:, 0, 1]  # neck
    assert np.linalg.norm(root[-1, :2] - root[0, :2]) > 3.0, "it walks across the scene"

    touched: dict[str, int] = {}
    for event in traj.contacts:
        for mine, other in ((event.a, event.b), (event.b, event.a)):
            if mine.startswith(f"{walker}/") and not other.startswith(f"{walker}/") and other != "floor":
                touched.setdefault(other, event.frame)
    assert touched, "the humanoid touches no object"
    position = traj.states.body_position
    kicked = []
    for name, frame in touched.items():
        i = traj.body_index(name)
        before = np.linalg.norm(position[:frame, i] - position[0, i], axis=-1).max()
        assert before < 0.01, f"{name} moved before the humanoid touched it"
        if np.linalg.norm(position[-1, i] - position[0, i]) > 0.1:
            kicked.append(name)
    assert kicked, f"touched {sorted(touched)} but displaced none by > 0.1 m"


# --------------------------------------------------------------------------- pendulum lamp


def test_pendulum_lamp_light_rides_on_the_swinging_bob(rollout):
    traj = rollout("pendulum_lamp")
    lamp = next(i for i, light in enumerate(traj.lights) if light.attach_to is not None)
    bob = traj.body_index(traj.lights[lamp].attach_to)
    offset = np.asarray(traj.scene["lights"][lamp].get("offset", [0.0, 0.0, 0.0]))
    expected = traj.states.body_position[:, bob] + rotation(traj.states.body_orientation[:, bob]) @ offset
    light = traj.states.light_position[:, lamp]
    np.testing.assert_allclose(light, expected, rtol=0, atol=1e-6)
    span = light.max(axis=0) - light.min(axis=0)
    assert max(span[0], span[1]) > 0.3, f"the light barely moves: span {np.round(span, 3)}"

    # It swings about its pivot: the bob keeps its distance and goes back and forth.
    joint = next(c for c in traj.scene["constraints"] if c.get("parent") is None)
    reach = np.linalg.norm(traj.states.body_position[:, bob] - np.asarray(joint["pivot"]), axis=-1)
    assert reach.max() - reach.min() < 0.01
    x = traj.states.body_position[:, bob, 0] - joint["pivot"][0]
    assert np.count_nonzero(np.diff(np.sign(x)) != 0) >= 2, "it crosses below the pivot both ways"
    assert x[0] < -0.5 and x.max() > 0.5, "it swings out to the other side"


# --------------------------------------------------------------------------- orbiting lights


def test_orbiting_lights_balls_bounce(rollout):
    traj = rollout("orbiting_lights")
    balls = names_with(traj, "ball_")
    assert len(balls) >= 3
    position = traj.states.body_position
    bounced = []
    for name in balls:
        frames = [e.frame for e in traj.contacts if {e.a, e.b} == {name, "floor"}]
        assert frames, f"{name} never reaches the floor"
        z = position[:, traj.body_index(name), 2]
        if z[frames[0] :].max() - z[frames[0]] > 0.1:
            bounced.append(name)
    assert bounced, "no ball rises again after touching the floor"
    assert len(bounced) > len(balls) / 2


def test_orbiting_lights_circle_the_balls(rollout):
    traj = rollout("orbiting_lights")
    lights = [i for i, light in enumerate(traj.scene["lights"]) if "orbit" in light]
    assert len(lights) >= 2
    colours = traj.states.light_color[0, lights]
    assert np.abs(colours[0] - colours[1]).max() > 0.3, "two differently coloured lights"
    for i in lights:
        orbit = traj.scene["lights"][i]["orbit"]
        offset = traj.states.light_position[:, i] - np.asarray(orbit["center"])
        np.testing.assert_allclose(np.linalg.norm(offset[:, :2], axis=-1), orbit["radius"], atol=1e-9)
        angle = np.unwrap(np.arctan2(offset[:, 1], offset[:, 0]))
        assert abs(angle[-1] - angle[0]) > np.pi, "each light goes at least half way round"


def test_orbiting_lights_seed_decides_the_scene(rollout):
    assert load_scene("orbiting_lights").seed == 0
    first = rollout("orbiting_lights")
    again = simulate("orbiting_lights", "scene.seed=0")
    other = rollout("orbiting_lights", "scene.seed=1")
    for key, array in first.states.arrays().items():
        assert np.array_equal(array, again.states.arrays()[key]), f"{key} differs between two runs of seed 0"
    def balls(traj):
        return {n: traj.states.body_position[0, traj.body_index(n)] for n in names_with(traj, "ball_")}

    a, b = balls(first), balls(other)
    same = a.keys() == b.keys() and all(np.allclose(a[n], b[n]) for n in a)
    assert not same, "seeds 0 and 1 give the same balls in the same places"


# --------------------------------------------------------------------------- assets drop


def test_assets_tumble_down_the_ramp_and_come_to_rest(rollout):
    traj = rollout("assets_drop")
    props = [i for i, b in enumerate(traj.bodies) if b.shape == "asset"]
    assert len(props) >= 4
    position, velocity = traj.states.body_position, traj.states.body_linear_velocity
    ramp = traj.body_index("ramp")
    assert (position[-1, props, 0] > position[0, props, 0] + 0.5).all(), "they slide down the ramp (+x)"
    assert (position[-1, props, 0] > position[0, ramp, 0]).all()
    assert (position[-1, props, 2] < 0.3).all(), "they end on the floor"
    assert np.linalg.norm(velocity[-1, props], axis=-1).max() < 0.05
