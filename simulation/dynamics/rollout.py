"""Batched rollouts of the learned world model, and :class:`LearnedEngine`, the engine that
``dynamics=learned`` selects.

A rollout steps every scene of a batch one video frame at a time: build the graph of the
current frame, predict the changes, integrate the bodies and lights, and put the kinematic
entities (floor, fixed bodies, humanoid links) where their given motion says."""

from __future__ import annotations

import dataclasses
import math
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from simulation.bodies import PRIMITIVES, primitive_body
from simulation.dynamics.allocator import retain_freed_memory
from simulation.dynamics.entities import (
    EntityState,
    EntityTable,
    pad_stack,
    scene_entities,
    scene_tracks,
    track_states,
)
from simulation.dynamics.features import GRAVITY, graph_inputs
from simulation.dynamics.floor import lift_above_floor
from simulation.dynamics.integrate import advance
from simulation.dynamics.model import DynamicsModel
from simulation.dynamics.sleep import SleepRule
from simulation.engine import Engine
from simulation.finite import check_finite, entity_names
from simulation.humanoid import COCO18_NAMES
from simulation.lights import light_info, light_states
from simulation.pybullet_engine import PybulletWorld, scene_record
from simulation.state import HumanoidInfo, SceneState, Trajectory
from worldgen.scene.errors import SceneError
from worldgen.scene.schema import Scene

BODY_KEYS = ("body_position", "body_orientation", "body_linear_velocity", "body_angular_velocity")
DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[2] / "checkpoints" / "dynamics"


def predict_changes(model: DynamicsModel, table: EntityTable, state: EntityState) -> torch.Tensor:
    """Per-entity changes (S, N, 13) in physical units for one frame."""
    nodes, edges = graph_inputs(table, state, model.config.radius, model.config.fps)
    return model.target_normaliser.inverse(model(nodes, edges))


@torch.inference_mode()
def rollout(model: DynamicsModel, table: EntityTable, given: EntityState, num_frames: int,
            progress: bool = False, sleep: SleepRule | None = None, floor: bool = False,
            held_until: torch.Tensor | None = None) -> EntityState:
    """Roll S scenes out from frame 0 of ``given`` for ``num_frames`` frames.

    ``given``: (S, T >= num_frames, N) states; frame 0 is the initial state of every
    entity, later frames are used only for kinematic entities and, when ``held_until``
    (S, N) frame indices is given, for each predicted entity at its frames
    t <= ``held_until`` (put back on the given state: teacher forcing, for analyses such
    as :mod:`worldgen.eval.error_origin`). ``sleep``: deactivate bodies at rest (see
    :mod:`simulation.dynamics.sleep`); None: the network alone. ``floor``: lift bodies out
    of the floor after each step (:mod:`simulation.dynamics.floor`).
    Returns the (S, num_frames, N) states, frame 0 included."""
    state = given.map(lambda x: x[:, 0])
    frames = [state]
    predicted = table.predicted
    quiet = torch.zeros(table.kind.shape, dtype=torch.long, device=table.kind.device)
    for t in tqdm(range(1, num_frames), desc="learned dynamics", unit="frame", disable=not progress, delay=2.0):
        following = advance(table, state, predict_changes(model, table, state), model.config.fps)
        if floor:
            following = lift_above_floor(table, following, model.config.fps)
        if sleep is not None:
            following, quiet = sleep.apply(table, state, following, quiet, model.config.fps)
        free = predicted if held_until is None else predicted & (held_until < t)
        state = following.where(free, given.map(lambda x: x[:, t]))
        frames.append(state)
    return EntityState(**{k: torch.stack([getattr(f, k) for f in frames], dim=1) for k in state.fields()})


class LearnedEngine(Engine):
    """Scene dynamics predicted by a trained :class:`DynamicsModel`, one step per frame
    of the model's rate (``model.config.fps``); a scene at another frame rate gets the
    model's frames resampled at its frame times (linear, normalised for rotations).
    Bodies are predicted; humanoids follow their clips, and lights their script given the
    predicted body poses (a light's motion, colour and intensity are a function of time
    and of the body it rides on, so the network's own light predictions, which it makes
    and is validated on in training, are not needed here). The state's
    velocities are mean velocities over the last frame (see
    :mod:`simulation.dynamics.entities`). Bodies at rest are deactivated by ``sleep``
    (:mod:`simulation.dynamics.sleep`; None turns it off), and bodies are kept out of the
    floor by ``floor`` (:mod:`simulation.dynamics.floor`). No contact events are recorded.
    Creating the engine sets the process's malloc to keep freed memory
    (:func:`~simulation.dynamics.allocator.retain_freed_memory`)."""

    name = "learned"

    def __init__(self, model: DynamicsModel, device: str | torch.device = "cpu", sleep: SleepRule | None = SleepRule(),
                 floor: bool = True):
        retain_freed_memory()
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        self.sleep = sleep
        self.floor = floor

    @classmethod
    def from_pretrained(cls, folder: str | Path | None = None, device: str | torch.device = "cpu",
                        sleep: SleepRule | None = SleepRule(), floor: bool = True) -> "LearnedEngine":
        """The engine of the checkpoint in ``folder`` (default: the shipped one)."""
        return cls(DynamicsModel.from_pretrained(folder or DEFAULT_CHECKPOINT), device, sleep, floor)

    def step_rate(self, scene: Scene) -> float:
        return float(self.model.config.fps)

    def rollout(self, scene: Scene, initial: SceneState | None = None, num_frames: int | None = None,
                progress: bool = False) -> Trajectory:
        """One scene's rollout (see :meth:`rollout_batch`); an entity whose state stops
        being finite is a :class:`SceneError` naming it and the frame (values past float32 become
        inf silently on the way in, and are caught there)."""
        with np.errstate(over="ignore", invalid="ignore"):
            trajectory = self.rollout_batch([scene], num_frames or scene.frame_count, [initial], progress)[0]
        check_finite(trajectory.states.arrays(), entity_names(trajectory), trajectory.fps)
        return trajectory

    def rollout_batch(self, scenes: list[Scene], num_frames: int, initials: list[SceneState | None] | None = None,
                      progress: bool = False) -> list[Trajectory]:
        """Roll many scenes out together (one batched network call per frame).
        ``initials[i]``, when not None, replaces scene i's initial body poses and velocities."""
        initials = initials or [None] * len(scenes)
        fps = self.model.config.fps
        steps = [math.ceil((num_frames - 1) * fps / scene.fps - 1e-9) + 1 for scene in scenes]
        with shared_client() if any(map(built_in_pybullet, scenes)) else nullcontext() as client:
            references = [given_motion(scene, max(steps), initial, client, fps, lights=False)
                          for scene, initial in zip(scenes, initials)]
            table, given = batch_tables(references, self.device)
            states = rollout(self.model, table, given, max(steps), progress, self.sleep, self.floor)
            out = []
            for i, (scene, reference) in enumerate(zip(scenes, references)):
                trajectory = scene_trajectory(reference, states.map(lambda x: x[i]), self.name)
                if scene.fps != fps:  # the model's frames, resampled at the scene's frame times
                    trajectory = resample(trajectory, given_motion(scene, num_frames, initials[i], client, lights=False))
                out.append(scripted_lights(scene, trajectory))
        return out


def batch_tables(trajectories: list[Trajectory], device: str | torch.device = "cpu") -> tuple[EntityTable, EntityState]:
    """Padded entity table (S, N) and per-frame states (S, T, N) of trajectories with the
    same number of frames and fps."""
    static = pad_stack([scene_entities(t) for t in trajectories])
    tracks = pad_stack([scene_tracks(t) for t in trajectories])
    table = EntityTable(**{k: v.to(device) for k, v in static.items()})
    return table, track_states({k: v.to(device) for k, v in tracks.items()}, table.kind, trajectories[0].fps)


@contextmanager
def shared_client():
    """One pybullet DIRECT client to build many scenes in, one after another."""
    import pybullet
    from pybullet_utils import bullet_client

    from simulation.quiet import quiet_stdout

    with quiet_stdout():
        client = bullet_client.BulletClient(connection_mode=pybullet.DIRECT)
    try:
        yield client
    finally:
        client.disconnect()


def given_motion(scene: Scene, num_frames: int, initial: SceneState | None = None, client=None,
                 fps: int | None = None, lights: bool = True) -> Trajectory:
    """What is known of a scene before predicting it, as a trajectory of ``num_frames`` at
    ``fps`` (default the scene's):
    bodies at their initial state throughout (the scene's, or ``initial``), lights at
    their scripted frame-0 state throughout, humanoid links along their clips.
    A scene of primitives only is read without pybullet; one with meshes, assets or
    humanoids is built in pybullet (in ``client`` when given) for their shapes and poses.
    ``lights=False`` leaves the lights out (no light entities: the engine, which places
    lights by :func:`scripted_lights`, does not put them through the network).
    Nothing is simulated."""
    if scene.constraints:
        raise SceneError("constraints", "the learned dynamics model has no joints; use dynamics=pybullet for scenes with constraints")
    if not np.allclose(scene.gravity, (0.0, 0.0, -GRAVITY), atol=1e-3):
        raise SceneError("gravity", f"the learned dynamics model is trained under (0, 0, -{GRAVITY}) m/s^2, got "
                         f"{tuple(scene.gravity)}; use dynamics=pybullet for other gravity")
    fps = fps or scene.fps
    T = num_frames
    if built_in_pybullet(scene):
        infos, bodies, humanoid_arrays, humanoids = _built_motion(scene, T, fps, client)
    else:
        pairs = [primitive_body(obj, scene.base_dir) for obj in scene.objects]
        infos, humanoids = [info for info, _ in pairs], []
        bodies = {k: np.array([state[k] for _, state in pairs], dtype=float).reshape(len(pairs), -1) for k in BODY_KEYS}
        humanoid_arrays = {"humanoid_keypoints": np.zeros((T, 0, 18, 3)), "humanoid_link_position": np.zeros((T, 0, 0, 3)),
                           "humanoid_link_orientation": np.zeros((T, 0, 0, 4))}
    if initial is not None:
        moving = np.array([0.0 if info.fixed or info.mass <= 0 else 1.0 for info in infos])[:, None]
        bodies = {k: np.asarray(getattr(initial, k), dtype=float) * (moving if "velocity" in k else 1.0) for k in BODY_KEYS}
    arrays = {k: np.repeat(v[None], T, axis=0) for k, v in bodies.items()}
    arrays["time"] = np.arange(T) / fps
    arrays.update(humanoid_arrays)
    kept = scene.lights if lights else []
    first = light_states(scene.model_copy(update={"lights": kept}), np.zeros(1), bodies["body_position"][None],
                         bodies["body_orientation"][None])
    arrays.update({k: np.repeat(v, T, axis=0) for k, v in first.items()})
    return Trajectory(fps=fps, physics_hz=scene.physics_hz, states=SceneState(**arrays), bodies=infos,
                      lights=[light_info(light) for light in kept], humanoids=humanoids, contacts=[],
                      scene=scene_record(scene))


def built_in_pybullet(scene: Scene) -> bool:
    """Whether :func:`given_motion` builds ``scene`` in pybullet (meshes, assets, humanoids)."""
    return bool(scene.humanoids) or any(obj.shape not in PRIMITIVES for obj in scene.objects)


def _built_motion(scene: Scene, num_frames: int, fps: int, client):
    """Body infos, initial body arrays, humanoid arrays over ``num_frames`` frames at
    ``fps`` and humanoid infos of ``scene`` built in pybullet."""
    world = PybulletWorld(scene, client)
    try:
        bodies = world.read_bodies()
        frames = [world.humanoids_at(frame / fps) for frame in range(num_frames)]
        humanoids = [HumanoidInfo(name=spec.name, motion=spec.motion, scale=spec.scale, link_names=list(actor.link_names),
                                  keypoint_names=list(COCO18_NAMES)) for spec, actor in zip(scene.humanoids, world.humanoids)]
        return world.body_infos, bodies, {k: np.stack([f[k] for f in frames]) for k in frames[0]}, humanoids
    finally:
        world.close()


def scene_trajectory(reference: Trajectory, states: EntityState, engine: str) -> Trajectory:
    """A Trajectory from rolled-out entity states (T, N) of one scene and the reference of
    :func:`given_motion` (entity lists, humanoid tracks). Its bodies are the rolled-out
    ones; its lights are the reference's (none in the engine) until :func:`scripted_lights`
    places them."""
    s = reference.states
    B = s.body_position.shape[1]
    x = {k: getattr(states, k).detach().cpu().double().numpy() for k in ("position", "orientation", "velocity", "angular_velocity")}
    arrays = s.arrays()
    arrays.update(
        body_position=x["position"][:, :B], body_orientation=x["orientation"][:, :B],
        body_linear_velocity=x["velocity"][:, :B], body_angular_velocity=x["angular_velocity"][:, :B],
    )
    fixed = [i for i, b in enumerate(reference.bodies) if b.fixed or b.mass <= 0]
    for key in ("body_linear_velocity", "body_angular_velocity"):
        arrays[key][:, fixed] = 0.0
    return Trajectory(fps=reference.fps, physics_hz=reference.physics_hz, states=SceneState(**arrays),
                      bodies=reference.bodies, lights=reference.lights, humanoids=reference.humanoids, contacts=[],
                      scene=reference.scene, engine=engine)


def scripted_lights(scene: Scene, trajectory: Trajectory) -> Trajectory:
    """``trajectory`` with its lights where the scene script puts them at its frame times
    given its bodies' poses: orbits, keyframes and flicker, and lights riding on bodies at
    their offsets (as :class:`~simulation.pybullet_engine.PybulletEngine` does), and the
    scene's light list."""
    s = trajectory.states
    lights = light_states(scene, s.time, s.body_position, s.body_orientation)
    return dataclasses.replace(trajectory, states=dataclasses.replace(s, **lights),
                               lights=[light_info(light) for light in scene.lights])


def resample(trajectory: Trajectory, target: Trajectory) -> Trajectory:
    """``trajectory``'s bodies at the frame times of ``target`` (a :func:`given_motion` at
    the wanted rate, whose humanoid tracks and lights are kept): linear interpolation
    between the two nearest frames, normalised for quaternions (after aligning their signs)."""
    source = trajectory.states
    frame = target.states.time * trajectory.fps
    low = np.clip(np.floor(frame).astype(int), 0, len(trajectory) - 1)
    high = np.minimum(low + 1, len(trajectory) - 1)
    w = (frame - low).reshape(-1, 1, 1)
    arrays = target.states.arrays()
    for key in BODY_KEYS:
        a, b = getattr(source, key)[low], getattr(source, key)[high]
        if key == "body_orientation":
            b = np.where(np.sum(a * b, axis=-1, keepdims=True) < 0, -b, b)
        value = (1 - w) * a + w * b
        if key == "body_orientation":
            value = value / np.maximum(np.linalg.norm(value, axis=-1, keepdims=True), 1e-12)
        arrays[key] = value
    return dataclasses.replace(trajectory, fps=target.fps, states=SceneState(**arrays), humanoids=target.humanoids)
