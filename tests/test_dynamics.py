"""The learned world model: geometry features, exact integration, batching, checkpoints,
training resume, and the engine inside `worldgen simulate` / `worldgen render`."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from simulation.dynamics import DEFAULT_CHECKPOINT, DynamicsConfig, DynamicsModel, LearnedEngine, rotations
from simulation.dynamics.entities import BODY, LIGHT
from simulation.dynamics.features import (
    EDGE_FEATURES,
    GRAVITY,
    LOOKAHEAD_FEATURES,
    PATCH_WIDTH,
    contact_patch,
    floor_clearance,
    floor_lookahead,
    graph_inputs,
    support,
)
from simulation.dynamics.floor import lift_above_floor
from simulation.dynamics.integrate import advance, targets
from simulation.dynamics.model import FORMAT
from simulation.dynamics.rollout import batch_tables, given_motion, rollout
from simulation.dynamics.sleep import SleepRule
from simulation.dynamics.trainer import train
from simulation.dynamics.training import (
    Group,
    TrainConfig,
    loss_of,
    rollout_loss,
    sample_batch,
    training_pair,
    turned_and_mirrored,
    validate,
)
from simulation.pybullet_engine import PybulletEngine, PybulletWorld
from simulation.state import SceneState
from worldgen.cli import main
from worldgen.dataset.family import episode_scene, load_family
from worldgen.scene import scene_from_dict
from worldgen.scene.rotations import quat_multiply, quat_to_rotvec, rotation_matrix

SMALL = DynamicsConfig(latent=16, hidden_layers=1, message_steps=2)


def drop_scene(count: int, seed: int = 0, **extra):
    """An objects_drop episode with exactly ``count`` objects."""
    family, _, _ = load_family("objects_drop", [f"scene.objects.0.count={count}", "num_frames=13", *extra])
    return episode_scene(family, seed)


def test_numpy_and_torch_rotations_agree():
    """worldgen.scene.rotations (numpy, everywhere) and simulation.dynamics.rotations (torch,
    the network) are one algebra: products, matrices and rotation vectors match."""
    generator = torch.Generator().manual_seed(3)
    a, b = (rotations.normalise(torch.randn(64, 4, generator=generator, dtype=torch.float64)) for _ in range(2))
    np.testing.assert_allclose(quat_multiply(a.numpy().T, b.numpy().T).T, rotations.multiply(a, b).numpy(), atol=1e-12)
    np.testing.assert_allclose(rotation_matrix(a.numpy()), rotations.to_matrix(a).numpy(), atol=1e-12)
    for q in a:
        np.testing.assert_allclose(quat_to_rotvec(q.numpy()), rotations.to_rotation_vector(q).numpy(), atol=1e-9)


def random_model(seed: int = 0) -> DynamicsModel:
    torch.manual_seed(seed)
    return DynamicsModel(SMALL).eval()


def test_quaternion_maps_are_inverse_and_match_known_angles():
    v = torch.tensor([[0.0, 0.0, np.pi / 2], [0.3, -0.2, 0.1], [1e-7, 0.0, 0.0]], dtype=torch.float64)
    q = rotations.from_rotation_vector(v)
    torch.testing.assert_close(rotations.to_rotation_vector(q), v, atol=1e-12, rtol=0)
    assert rotations.angle_between(q[0], torch.tensor([0.0, 0, 0, 1], dtype=torch.float64)) == pytest.approx(np.pi / 2)
    assert rotations.angle_between(q[1], -q[1]) == pytest.approx(0.0, abs=1e-6)
    m = rotations.to_matrix(q[0])
    torch.testing.assert_close(m @ torch.tensor([1.0, 0, 0], dtype=torch.float64),
                               torch.tensor([0.0, 1, 0], dtype=torch.float64), atol=1e-12, rtol=0)


@pytest.mark.parametrize("shape", ["box", "sphere", "cylinder", "capsule"])
def test_floor_clearance_matches_pybullet_distance(shape):
    """The support-function clearance of a tilted body equals pybullet's closest distance
    to the floor."""
    obj = {"shape": shape, "position": [0.2, -0.1, 0.6], "euler": [35, -20, 70]}
    obj.update({"box": {"size": [0.3, 0.2, 0.5]}, "sphere": {"radius": 0.15},
                "cylinder": {"radius": 0.12, "height": 0.4}, "capsule": {"radius": 0.1, "height": 0.3}}[shape])
    scene = scene_from_dict({"num_frames": 2, "objects": [obj]})
    reference = given_motion(scene, 2)
    table, states = batch_tables([reference])
    state = states.map(lambda x: x[:, 0])
    ours = floor_clearance(table, state, rotations.to_matrix(state.orientation))[0, 0].item()
    world = PybulletWorld(scene)
    try:
        points = world.client.getClosestPoints(world.bodies[0], world.floor, 5.0)
        theirs = min(p[8] for p in points)
    finally:
        world.close()
    assert ours == pytest.approx(theirs, abs=2e-3)


def test_contact_patch_finds_the_touching_corner_face_or_rim():
    """Towards the floor: a level box touches with its bottom face (patch at its centre,
    half of the 8 corners), a box tilted about x with the corners of its lower edge, a
    sphere with its lowest point."""
    geometry = torch.tensor([[0.1, 0.2, 0.05, 0.0, 0.0], [0.1, 0.2, 0.05, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.15]])
    level = torch.eye(3)
    tilted = rotations.to_matrix(rotations.from_rotation_vector(torch.tensor([0.3, 0.0, 0.0])))
    down = torch.tensor([0.0, 0.0, -1.0]).expand(3, 3)
    centre, weight = contact_patch(geometry, torch.stack([level, tilted, level]), down)
    torch.testing.assert_close(centre[0], torch.tensor([0.0, 0.0, -0.05]), atol=1e-4, rtol=0)
    torch.testing.assert_close(weight, torch.tensor([0.5, 0.25, 1.0]), atol=1e-3, rtol=0)
    lower_edge = tilted @ torch.tensor([0.0, -0.2, -0.05])
    torch.testing.assert_close(centre[1], lower_edge, atol=1e-4, rtol=0)
    torch.testing.assert_close(centre[2], torch.tensor([0.0, 0.0, -0.15]), atol=1e-6, rtol=0)


def test_contact_patch_closed_form_is_the_weighted_mean_of_the_eight_keypoints():
    """The patch by its definition: the box part's 8 corners moved by the disc's and the
    ball's support points, each weighted by exp(-(furthest reach - its reach) / PATCH_WIDTH)."""
    generator = torch.Generator().manual_seed(0)
    E = 64
    geometry = torch.rand(E, 5, generator=generator, dtype=torch.float64) * 0.2 * (torch.rand(E, 5, generator=generator) < 0.6)
    rotation = rotations.to_matrix(rotations.normalise(torch.randn(E, 4, generator=generator, dtype=torch.float64)))
    direction = torch.nn.functional.normalize(torch.randn(E, 3, generator=generator, dtype=torch.float64), dim=-1)
    local = torch.einsum("eij,ei->ej", rotation, direction)
    planar = local[:, :2] / torch.sqrt(local[:, 0:1] ** 2 + local[:, 1:2] ** 2 + 1e-9)
    corners = torch.tensor([[x, y, z] for x in (-1.0, 1.0) for y in (-1.0, 1.0) for z in (-1.0, 1.0)], dtype=torch.float64)
    points = (geometry[:, None, :3] * corners + geometry[:, None, 3:4] * torch.cat([planar, torch.zeros(E, 1)], -1)[:, None]
              + geometry[:, None, 4:5] * local[:, None])
    reach = (points * local[:, None]).sum(-1)
    weight = torch.exp((reach - reach.amax(1, keepdim=True)) / PATCH_WIDTH)
    centre = (points * weight[..., None]).sum(1) / weight.sum(1, keepdim=True)
    patch, mean_weight = contact_patch(geometry, rotation, direction)
    torch.testing.assert_close(patch, torch.einsum("eij,ej->ei", rotation, centre), atol=1e-12, rtol=1e-9)
    torch.testing.assert_close(mean_weight, weight.mean(1), atol=1e-12, rtol=1e-9)


def test_contact_edges_are_the_pairs_whose_gap_is_below_the_radius():
    """The bounding-sphere candidate stage drops no pair: the body-body edges are exactly
    the ordered pairs whose support-function gap, computed for every pair, is below the
    radius (tossed objects in mid-air, at several radii)."""
    family, _, _ = load_family("objects_drop", ["num_frames=2"])
    table, states = batch_tables([given_motion(episode_scene(family, seed), 2) for seed in range(8)])
    state = states.map(lambda x: x[:, 0])
    rotation = rotations.to_matrix(state.orientation)
    offset = state.position.unsqueeze(1) - state.position.unsqueeze(2)  # (S, receiver, sender, 3)
    unit = offset / offset.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    gap = (offset.norm(dim=-1) - support(table.geometry.unsqueeze(2), torch.einsum("srij,srni->srnj", rotation, unit))
           - support(table.geometry.unsqueeze(1), -torch.einsum("snij,srni->srnj", rotation, unit)))
    bodies = table.kind == BODY
    for radius in (0.05, 0.2, 0.5):
        _, (scene, receiver, sender, _) = graph_inputs(table, state, radius, 12)
        between_bodies = bodies[scene, sender]
        edges = set(zip(scene[between_bodies].tolist(), receiver[between_bodies].tolist(), sender[between_bodies].tolist()))
        near = bodies.unsqueeze(2) & bodies.unsqueeze(1) & ~torch.eye(table.kind.shape[1], dtype=torch.bool) & (gap < radius)
        assert edges == set(map(tuple, near.nonzero().tolist()))
        assert len(edges) > 0


def test_rolling_ball_has_no_slip_at_the_floor_and_a_sliding_one_does():
    """The floor edge's patch velocity is zero for rolling without slipping (v = w x r)."""
    def floor_slip(angular_velocity):
        scene = scene_from_dict({"num_frames": 2, "objects": [{"shape": "sphere", "radius": 0.2, "position": [0, 0, 0.2],
                                                               "linear_velocity": [1.0, 0, 0], "angular_velocity": angular_velocity}]})
        table, states = batch_tables([given_motion(scene, 2)])
        _, (_, _, sender, features) = graph_inputs(table, states.map(lambda x: x[:, 0]), 0.5, 12)
        return features[sender == 1, -3 - LOOKAHEAD_FEATURES:-LOOKAHEAD_FEATURES][0]

    torch.testing.assert_close(floor_slip([0.0, 5.0, 0.0]), torch.zeros(3), atol=1e-6, rtol=0)
    torch.testing.assert_close(floor_slip([0.0, 0.0, 0.0]), torch.tensor([-1.0, 0.0, 0.0]), atol=1e-6, rtol=0)


def test_floor_lookahead_is_the_free_flight_pose_a_frame_ahead():
    """A falling, spinning box: the lookahead clearance and patch are those of the pose one
    frame of free flight ahead, and a rolling ball's patch still does not slip there."""
    scene = scene_from_dict({"num_frames": 2, "objects": [
        {"shape": "box", "size": [0.4, 0.2, 0.1], "position": [0, 0, 0.3], "linear_velocity": [0.5, 0, -2.0],
         "angular_velocity": [4.0, 0, 0]},
        {"shape": "sphere", "radius": 0.2, "position": [1, 0, 0.2], "linear_velocity": [1.0, 0, 0],
         "angular_velocity": [0, 5.0, 0]}]})
    table, states = batch_tables([given_motion(scene, 2)])
    state = states.map(lambda x: x[:, 0])
    ahead = floor_lookahead(table, state, 12)[0]
    dt = 1 / 12
    rotation = rotations.to_matrix(rotations.from_rotation_vector(torch.tensor([4.0 * dt, 0.0, 0.0])))
    corners = torch.tensor([[x, y, z] for x in (-0.2, 0.2) for y in (-0.1, 0.1) for z in (-0.05, 0.05)]) @ rotation.T
    z = 0.3 + (-2.0 - GRAVITY * dt) * dt
    torch.testing.assert_close(ahead[0, 0], z + corners[:, 2].min(), atol=1e-5, rtol=0)
    torch.testing.assert_close(ahead[1, 0], torch.tensor(-GRAVITY * dt * dt), atol=1e-5, rtol=0)  # a frame's fall
    patch = corners[corners[:, 2] < corners[:, 2].min() + 1e-6].mean(0)
    torch.testing.assert_close(ahead[0, -7:-4], patch, atol=1e-3, rtol=0)  # soft: other corners weigh a little
    torch.testing.assert_close(ahead[1, -3:], torch.tensor([0.0, 0.0, -GRAVITY * dt]), atol=1e-5, rtol=0)


def test_primitive_scenes_are_read_without_pybullet_exactly_as_pybullet_builds_them():
    scene = scene_from_dict({"num_frames": 2, "objects": [
        {"shape": "box", "size": [0.2, 0.3, 0.4], "position": [0.1, 0.2, 0.5], "euler": [10, 20, 30],
         "linear_velocity": [0.5, 0, 1], "angular_velocity": [0, 2, 0], "physics": {"mass": 2.5, "friction": 0.3}},
        {"shape": "cylinder", "radius": 0.1, "height": 0.3, "position": [1, 0, 0.15], "physics": {"fixed": True},
         "linear_velocity": [1, 0, 0]},
        {"shape": "capsule", "radius": 0.1, "height": 0.2, "position": [0, 1, 1], "quaternion": [0.1, 0.2, 0.3, 0.9]}]})
    reference = given_motion(scene, 2)
    world = PybulletWorld(scene)
    try:
        built, infos = world.read_bodies(), world.body_infos
    finally:
        world.close()
    assert reference.bodies == infos
    for key, value in built.items():
        np.testing.assert_allclose(getattr(reference.states, key)[0], value, atol=1e-12, rtol=0)


def test_targets_then_advance_reproduce_pybullet_frames():
    """Integrating the training targets of recorded frames gives the recorded frames back,
    orientation as unit quaternions."""
    family, _, _ = load_family("moving_lights", ["num_frames=13"])
    trajectories = [PybulletEngine(contacts=False).rollout(episode_scene(family, seed)) for seed in (0, 1)]
    table, states = batch_tables(trajectories)
    for t in range(12):
        now, following = states.map(lambda x: x[:, t]), states.map(lambda x: x[:, t + 1])
        nxt = advance(table, now, targets(table, now, following, 12), 12)
        m = table.predicted
        torch.testing.assert_close(nxt.position[m], following.position[m], atol=2e-6, rtol=0)
        torch.testing.assert_close(nxt.color[m], following.color[m], atol=1e-6, rtol=0)
        assert rotations.angle_between(nxt.orientation[m], following.orientation[m]).max() < 1e-3
        torch.testing.assert_close(nxt.orientation.norm(dim=-1), torch.ones(nxt.orientation.shape[:-1]), atol=1e-6, rtol=0)


@pytest.mark.parametrize("count", [1, 12])
def test_model_runs_on_one_and_twelve_objects(count):
    scene = drop_scene(count)
    trajectory = LearnedEngine(random_model()).rollout(scene)
    assert trajectory.states.body_position.shape == (13, count, 3)
    assert trajectory.engine == "learned" and np.isfinite(trajectory.states.body_position).all()
    np.testing.assert_allclose(np.linalg.norm(trajectory.states.body_orientation, axis=-1), 1.0, atol=1e-6)


def test_padding_does_not_change_results():
    """A scene rolled out alone and batched with a larger scene (so padded) gives the same
    trajectory."""
    engine = LearnedEngine(random_model(1))
    small, large = drop_scene(2, seed=3), drop_scene(9, seed=4)
    alone = engine.rollout(small)
    batched = engine.rollout_batch([large, small], 13)[1]
    for key in ("body_position", "body_orientation", "light_position", "light_intensity"):
        np.testing.assert_allclose(getattr(batched.states, key), getattr(alone.states, key), atol=1e-6, rtol=2e-6)


def test_lights_follow_their_script_and_the_predicted_bodies():
    """Orbits, keyframes and flicker play exactly as in pybullet; a light riding on a body
    stays at its offset from the body's predicted pose."""
    family, _, _ = load_family("moving_lights", ["num_frames=13"])
    scene = episode_scene(family, 0)
    learned = LearnedEngine(random_model(3)).rollout(scene).states
    reference = PybulletEngine(contacts=False).rollout(scene).states
    riding = [i for i, light in enumerate(scene.lights) if light.attach_to]
    free = [i for i in range(len(scene.lights)) if i not in riding]
    assert riding and free
    for key in ("light_position", "light_direction", "light_color", "light_intensity"):
        np.testing.assert_allclose(getattr(learned, key)[:, free], getattr(reference, key)[:, free], atol=1e-9)
    names = [obj.name for obj in scene.objects]
    for i in riding:
        light = scene.lights[i]
        b = names.index(light.attach_to)
        offset = rotation_matrix(learned.body_orientation[:, b]) @ np.asarray(light.offset)
        np.testing.assert_allclose(learned.light_position[:, i], learned.body_position[:, b] + offset, atol=1e-9)
        np.testing.assert_allclose(learned.light_intensity[:, i], reference.light_intensity[:, i], atol=1e-9)
    assert not np.allclose(learned.body_position, reference.body_position, atol=1e-3)  # an untrained network


def test_light_entities_do_not_change_the_bodies():
    """Lights only receive messages, so rolling a scene out with its light entities (as
    training does) or without them (as the engine does) gives the same bodies."""
    family, _, _ = load_family("moving_lights", ["num_frames=13"])
    scene = episode_scene(family, 0)
    model = random_model(3)
    table, given = batch_tables([given_motion(scene, 13)])
    assert (table.kind == LIGHT).any()
    with_lights = rollout(model, table, given, 13)
    engine = LearnedEngine(model, sleep=None, floor=False).rollout(scene).states
    bodies = with_lights.position[0, :, :len(scene.objects)].double().numpy()  # entities start with the bodies
    np.testing.assert_allclose(engine.body_position, bodies, atol=1e-5)


def test_save_load_round_trips_bit_exactly(tmp_path):
    model = random_model(2)
    model.node_normaliser.mean.normal_()
    model.save_pretrained(tmp_path / "ckpt")
    loaded = DynamicsModel.from_pretrained(tmp_path / "ckpt")
    assert loaded.config == model.config
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    scene = drop_scene(4)
    a = LearnedEngine(model).rollout(scene).states.body_position
    b = LearnedEngine(loaded).rollout(scene).states.body_position
    assert np.array_equal(a, b)
    assert json.loads((tmp_path / "ckpt" / "config.json").read_text())["format"] == FORMAT
    with pytest.raises(ValueError, match="config.json and model.safetensors"):
        DynamicsModel.from_pretrained(tmp_path)


def _groups(seeds, frames=9):
    family, _, _ = load_family("objects_drop", [f"num_frames={frames}"])
    trajectories = [PybulletEngine(contacts=False).rollout(episode_scene(family, s)) for s in seeds]
    table, states = batch_tables(trajectories)
    return [Group("drop", table, states)]


def test_turned_and_mirrored_episodes_are_what_pybullet_gives_from_the_turned_and_mirrored_start():
    """The training augmentation maps pybullet trajectories to pybullet trajectories: the
    turned (and mirrored) frames keep velocities equal to the frame differences of their
    positions and orientations, and pybullet started from the transformed first frame
    follows the transformed episode (within 3 cm over a second; pybullet is not exactly
    isotropic. Angular velocities transformed as plain vectors are off by 10-57 cm)."""
    family, _, _ = load_family("objects_drop", ["scene.objects.0.count=3", "num_frames=13"])
    engine = PybulletEngine(contacts=False)
    handedness = set()
    for seed in range(3):
        scene = episode_scene(family, seed)
        truth = engine.rollout(scene)
        table, states = batch_tables([truth])
        states = states.map(lambda x: x.double())
        for draw in range(2):
            moved = turned_and_mirrored(table, states, torch.Generator().manual_seed(10 * seed + draw))
            p, q, body = moved.position[0, :, :3], moved.orientation[0, :, :3], slice(1, None)
            torch.testing.assert_close(moved.velocity[0, body, :3], (p[1:] - p[:-1]) * 12, atol=1e-5, rtol=0)
            spin = rotations.to_rotation_vector(rotations.multiply(q[1:], rotations.conjugate(q[:-1]))) * 12
            torch.testing.assert_close(moved.angular_velocity[0, body, :3], spin, atol=1e-5, rtol=0)
            torch.testing.assert_close(moved.position[..., 2], states.position[..., 2])
            sides = p[0, 1:] - p[0, :1]
            handedness.add(bool(torch.linalg.cross(sides[0], sides[1])[2] * torch.linalg.cross(
                *(states.position[0, 0, 1:3] - states.position[0, 0, :1]))[2] > 0))
            arrays = {k: np.array(v, copy=True) for k, v in truth.states[0].arrays().items()}
            arrays.update(body_position=p[0].numpy(), body_orientation=q[0].numpy(),
                          body_linear_velocity=moved.velocity[0, 0, :3].numpy(),
                          body_angular_velocity=moved.angular_velocity[0, 0, :3].numpy())
            again = engine.rollout(scene, initial=SceneState(**arrays))
            assert np.linalg.norm(again.states.body_position - p.numpy(), axis=-1).max() < 0.03
    assert handedness == {True, False}  # both mirrored and unmirrored episodes were drawn


def test_training_lowers_the_loss_and_resumes_exactly(tmp_path):
    """Training reduces the one-step loss; stopping and resuming from the checkpoint gives
    bit-identical weights to an uninterrupted run."""
    groups, validation = _groups(range(6)), _groups([1_000_000, 1_000_001])
    config = TrainConfig(steps=64, batch_size=16, statistics_batches=2, validate_every=64, checkpoint_every=16,
                         validation_episodes=2, learning_rate=3e-3, log_every=8)
    straight = train(SMALL, config, groups, validation, tmp_path / "a", cpu=True, progress=False)
    train(SMALL, config, groups, validation, tmp_path / "b", cpu=True, progress=False, until=32)
    resumed = train(SMALL, config, groups, validation, tmp_path / "b", cpu=True, progress=False)
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), name
    untrained = random_model()
    for name in ("node_normaliser", "edge_normaliser", "target_normaliser"):
        getattr(untrained, name).load_state_dict(getattr(straight, name).state_dict())
    before = validate(untrained, validation, config)["drop"]["one_step_loss"]
    after = validate(straight, validation, config)["drop"]["one_step_loss"]
    assert after < 0.8 * before
    assert (tmp_path / "a" / "loss.png").stat().st_size > 0


def test_weight_average_is_the_moving_average_of_the_steps_and_resumes(tmp_path):
    """With ``average_decay`` d the returned model is the moving average of the weights
    after each step (the first step's weights, then d avg + (1 - d) weights), kept across
    a resume; the checkpoint still holds the raw weights."""
    groups = _groups(range(3))
    config = TrainConfig(steps=3, batch_size=8, statistics_batches=1, checkpoint_every=1, learning_rate=3e-3,
                         average_decay=0.75)
    raw = []
    for until in (1, 2, 3):
        average = train(SMALL, config, groups, [], tmp_path, cpu=True, progress=False, until=until)
        raw.append(DynamicsModel.from_pretrained(tmp_path / "checkpoint").state_dict())
    parameters = {name for name, _ in average.named_parameters()}
    for name, value in average.state_dict().items():
        if name in parameters:  # the normalisation statistics (buffers) are fixed, not averaged
            assert not torch.equal(value, raw[2][name]), name
            expected = 0.75 * (0.75 * raw[0][name] + 0.25 * raw[1][name]) + 0.25 * raw[2][name]
            torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-7)
        else:
            assert torch.equal(value, raw[2][name]), name


def test_multi_step_loss_fine_tunes_a_trained_model(tmp_path):
    """With k = 1 the loss is the one-step loss; fine-tuning a trained model (``init``) on
    the 3-step loss keeps its normalisation and lowers that loss."""
    groups, validation = _groups(range(6)), _groups([1_000_000, 1_000_001])
    config = TrainConfig(steps=64, batch_size=16, statistics_batches=2, validate_every=64, checkpoint_every=64,
                         validation_episodes=2, learning_rate=3e-3, log_every=8)
    trained = train(SMALL, config, groups, validation, tmp_path / "a", cpu=True, progress=False)
    quiet = dataclasses.replace(config, noise_position=0.0, noise_rotation=0.0, noise_velocity=0.0,
                                noise_angular_velocity=0.0)
    table, frames = sample_batch(validation, 32, 1, torch.Generator().manual_seed(0))
    with torch.no_grad():
        one_step = loss_of(trained, *training_pair(trained, table, frames, quiet, torch.Generator()))
        torch.testing.assert_close(rollout_loss(trained, trained, table, frames, quiet, torch.Generator()), one_step)

    three = dataclasses.replace(config, rollout_steps=3, steps=64, learning_rate=1e-3)
    table, frames = sample_batch(groups, 64, 3, torch.Generator().manual_seed(1))

    def held_out(model):
        with torch.no_grad():
            return float(rollout_loss(model, model, table, frames, dataclasses.replace(quiet, rollout_steps=3),
                                      torch.Generator()))

    before = held_out(trained)
    tuned = train(SMALL, three, groups, [], tmp_path / "b", cpu=True, progress=False,
                  init=DynamicsModel.from_pretrained(tmp_path / "a" / "checkpoint"))
    assert torch.equal(tuned.target_normaliser.std, trained.target_normaliser.std)
    assert held_out(tuned) < 0.8 * before


def test_kinematic_entities_follow_their_given_motion():
    """Humanoid links are not predicted: they follow the clip exactly as pybullet plays it."""
    family, _, _ = load_family("humanoid_actions", ["num_frames=5"])
    scene = episode_scene(family, 0)
    learned = LearnedEngine(random_model()).rollout(scene)
    reference = PybulletEngine(contacts=False).rollout(scene)
    np.testing.assert_allclose(learned.states.humanoid_link_position, reference.states.humanoid_link_position, atol=1e-5)
    np.testing.assert_allclose(learned.states.humanoid_keypoints, reference.states.humanoid_keypoints, atol=1e-5)


def test_graph_connects_near_bodies_floor_and_carried_lights():
    family, _, _ = load_family("moving_lights", ["num_frames=2"])
    table, states = batch_tables([given_motion(episode_scene(family, 0), 2)])
    _, (scene, receiver, sender, features) = graph_inputs(table, states.map(lambda x: x[:, 0]), 0.5, 12)
    kinds = table.kind[0]
    assert set(kinds[receiver].tolist()) <= {BODY, LIGHT}
    rider = next(i for i in range(len(kinds)) if kinds[i] == LIGHT and table.carrier[0, i] >= 0)
    assert table.carrier[0, rider].item() in sender[receiver == rider].tolist()
    assert features.shape[1] == EDGE_FEATURES and torch.isfinite(features).all()


shipped = pytest.mark.skipif(not (DEFAULT_CHECKPOINT / "model.safetensors").is_file(), reason="no shipped checkpoint")


@shipped
def test_shipped_model_keeps_a_ball_at_rest_at_rest():
    scene = scene_from_dict({"fps": 12, "num_frames": 240,
                             "objects": [{"shape": "sphere", "radius": 0.1, "position": [0.3, -0.2, 0.1]}]})
    states = LearnedEngine.from_pretrained().rollout(scene).states
    drift = np.linalg.norm(states.body_position[:, 0] - states.body_position[0, 0], axis=-1)
    assert drift.max() < 0.01  # m, over 20 s


@pytest.mark.parametrize("floor", [True, False])
def test_bodies_below_the_floor_are_lifted_onto_it_with_a_consistent_velocity(floor):
    """A tilted box 3 cm into the floor ends with its lowest corner at z = 0 and its velocity
    raised by 3 cm per frame; a ball above the floor, and any body of a scene without a
    floor, are left alone."""
    scene = scene_from_dict({"num_frames": 2, "floor": {"enabled": floor}, "objects": [
        {"shape": "box", "size": [0.2, 0.2, 0.2], "position": [0, 0, 0.1], "euler": [30, 20, 0]},
        {"shape": "sphere", "radius": 0.1, "position": [1, 0, 0.5]}]})
    table, states = batch_tables([given_motion(scene, 2)])
    state = states.map(lambda x: x[:, 0])
    state.position[0, 0, 2] -= floor_clearance(table, state, rotations.to_matrix(state.orientation))[0, 0] + 0.03
    lifted = lift_above_floor(table, state, 12)
    clearance = floor_clearance(table, lifted, rotations.to_matrix(lifted.orientation))[0]
    if floor:
        assert clearance[0].item() == pytest.approx(0.0, abs=1e-6)
        assert (lifted.velocity - state.velocity)[0, 0, 2].item() == pytest.approx(0.03 * 12, abs=1e-5)
    else:
        assert torch.equal(lifted.position, state.position)
    assert torch.equal(lifted.position[0, 1], state.position[0, 1]) and torch.equal(lifted.velocity[0, 1], state.velocity[0, 1])


def test_a_body_sleeps_after_slow_frames_and_wakes_when_its_prediction_speeds_up():
    table, states = batch_tables([given_motion(drop_scene(1), 2)])
    state = states.map(lambda x: x[:, 0])
    rule, quiet = SleepRule(seconds=0.25), torch.zeros(table.kind.shape, dtype=torch.long)

    def step(velocity):
        following = dataclasses.replace(state, position=state.position + torch.tensor(velocity) / 12,
                                        velocity=torch.tensor(velocity).expand_as(state.velocity).clone(),
                                        angular_velocity=torch.zeros_like(state.angular_velocity))
        return rule.apply(table, state, following, quiet, 12)  # 0.25 s = 3 frames at 12 fps

    for frame in range(3):
        nxt, quiet = step([0.01, 0.0, 0.0])
        assert torch.equal(nxt.position[0, 0], state.position[0, 0]) == (frame == 2)  # held from the 3rd slow frame
    assert torch.equal(nxt.velocity[0, 0], torch.zeros(3))
    nxt, quiet = step([1.0, 0.0, 0.0])  # pushed: awake at once
    assert nxt.velocity[0, 0, 0] == 1.0 and quiet[0, 0] == 0


@shipped
def test_a_ball_thrown_up_does_not_fall_asleep_at_its_apex():
    thrown = LearnedEngine.from_pretrained().rollout(scene_from_dict({"fps": 12, "num_frames": 24, "objects": [
        {"shape": "sphere", "radius": 0.1, "position": [0.0, 0.0, 0.1], "linear_velocity": [0.0, 0.0, 5.0]}]})).states
    assert thrown.body_position[:, 0, 2].max() > 1.0 and thrown.body_position[-1, 0, 2] < 0.3


@shipped
def test_without_sleep_the_network_alone_moves_a_resting_ball():
    """sleep=None is the network alone: its small errors never stop exactly, while the
    default engine holds the ball still."""
    scene = scene_from_dict({"fps": 12, "num_frames": 36,
                             "objects": [{"shape": "sphere", "radius": 0.1, "position": [0.3, -0.2, 0.1]}]})
    alone = LearnedEngine.from_pretrained(sleep=None).rollout(scene).states
    held = LearnedEngine.from_pretrained().rollout(scene).states
    assert (np.linalg.norm(alone.body_linear_velocity[-12:, 0], axis=-1) > 0).all()
    assert np.abs(held.body_linear_velocity[-12:]).max() == 0.0


@shipped
def test_learned_engine_plugs_into_simulate_and_render(tmp_path, capsys):
    assert main(["simulate", "stacked_blocks", "dynamics=learned", "-o", str(tmp_path / "sim"), "-q"]) == 0
    out = capsys.readouterr().out
    assert "engine learned" in out and " engine steps at 12 Hz " in out  # the network's rate, not pybullet's
    doc = json.loads((tmp_path / "sim" / "trajectory.json").read_text())
    assert doc["engine"] == "learned"
    assert main(["render", "stacked_blocks", "dynamics=learned", "-o", str(tmp_path / "r"), "--resolution", "32x24",
                 "--spp", "1", "--frames", "0:3", "-q"]) == 0
    assert (tmp_path / "r" / "rgb.mp4").stat().st_size > 0


def test_other_frame_rates_are_resampled_from_the_model_rate():
    """At 24 fps the model still steps at 12 fps; odd frames are interpolated halfway."""
    engine = LearnedEngine(random_model())
    scene24 = scene_from_dict({"fps": 24, "num_frames": 9, "objects": [{"shape": "sphere", "radius": 0.1, "position": [0, 0, 1]}]})
    scene12 = scene_from_dict({"fps": 12, "num_frames": 5, "objects": [{"shape": "sphere", "radius": 0.1, "position": [0, 0, 1]}]})
    fast, slow = engine.rollout(scene24).states, engine.rollout(scene12).states
    np.testing.assert_allclose(fast.time, np.arange(9) / 24)
    np.testing.assert_allclose(fast.body_position[::2], slow.body_position, atol=1e-9)
    np.testing.assert_allclose(fast.body_position[1::2], (slow.body_position[:-1] + slow.body_position[1:]) / 2, atol=1e-9)


@shipped
def test_constraints_other_gravity_and_unknown_engine_are_one_line_errors(capsys):
    assert main(["simulate", "pendulum_lamp", "dynamics=learned", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "constraints" in err
    assert main(["simulate", "stacked_blocks", "dynamics=neural", "-q"]) == 2
    assert "expected pybullet or learned" in capsys.readouterr().err
    assert main(["simulate", "stacked_blocks", "dynamics=learned", "scene.gravity=[0,0,-1.62]", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "gravity" in err and "dynamics=pybullet" in err


def test_train_command_config_errors_are_one_line(capsys, tmp_path):
    assert main(["train", "dynamics", "train.steps=abc", f"run_dir={tmp_path}"]) == 2
    assert "train.steps" in capsys.readouterr().err
    assert main(["train", "dynamics", f"data={tmp_path}/missing", f"run_dir={tmp_path}"]) == 2
    assert "no manifest" in capsys.readouterr().err
    assert main(["train", "dynamics", "modle.latent=3"]) == 2
    assert "did you mean 'model'" in capsys.readouterr().err
    assert main(["train", "dynamics", "train.loss=huber", f"run_dir={tmp_path}"]) == 2
    assert "train.loss: expected one of mse, l1, got 'huber'" in capsys.readouterr().err
    assert main(["train", "dynamics", f"init={tmp_path}", f"run_dir={tmp_path}"]) == 2
    assert "init: " in capsys.readouterr().err
    assert main(["train", "dynamics", "episodes=0", f"run_dir={tmp_path}"]) == 2
    assert "episodes: expected a positive number of episodes or null, got 0" in capsys.readouterr().err


def test_train_command_trains_on_the_first_episodes_when_asked(tmp_path):
    """``episodes=N`` trains on the first N episodes of each dataset (learning curves) and
    says so in training.json; the model it writes loads."""
    data = tmp_path / "drop"
    assert main(["dataset", "generate", "objects_drop", "num_frames=5", "--states-only", "--episodes", "3",
                 "--workers", "1", "-q", "-o", str(data)]) == 0
    argv = ["train", "dynamics", "-q", f"data={data}", "validation=[]", "train.steps=2", "train.batch_size=4",
            "train.statistics_batches=1", "model.latent=8", "model.hidden_layers=1", "model.message_steps=1"]
    for episodes, expected in (("2", 2), ("null", 3)):
        out = tmp_path / f"model_{episodes}"
        assert main([*argv, f"episodes={episodes}", f"run_dir={tmp_path}/run_{episodes}", f"output={out}"]) == 0
        assert json.loads((out / "training.json").read_text())["episodes"] == {"drop": expected}
        DynamicsModel.from_pretrained(out)
