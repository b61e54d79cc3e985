"""The pybullet engine: a scene built in its own DIRECT client, stepped at ``physics_hz``,
recorded every video frame.

:class:`PybulletWorld` is the scene inside pybullet (build, step, read); the recording
loop in :class:`PybulletEngine` composes it. Determinism: each world has its own client,
``deterministicOverlappingPairs`` is on and calls happen in a fixed order, so the same
scene gives a bit-identical trajectory."""

from __future__ import annotations

import math

import numpy as np
import pybullet
from pybullet_utils import bullet_client
from tqdm import tqdm

from simulation.bodies import create_body
from simulation.engine import Engine
from simulation.finite import BODY_ARRAYS, check_finite
from simulation.humanoid import COCO18_NAMES, HumanoidActor
from simulation.lights import light_info, light_states
from simulation.quiet import quiet_stdout
from simulation.state import BodyInfo, ContactEvent, HumanoidInfo, SceneState, Trajectory
from worldgen.scene.checks import resolve_file
from worldgen.scene.errors import SceneError
from worldgen.scene.rotations import rotation_matrix
from worldgen.scene.schema import Scene

FLOOR_THICKNESS = 0.1  # m; the floor slab's top face is z = 0
HINGE_HALF_SPAN = 0.25  # m; a hinge is two point joints this far either side of the pivot


class PybulletWorld:
    """A scene instantiated in a private pybullet DIRECT client.

    ``bodies[i]`` is the pybullet id of ``scene.objects[i]``; ``step()`` advances one
    physics step of 1 / physics_hz seconds, driving humanoids along their clips first."""

    def __init__(self, scene: Scene, client: bullet_client.BulletClient | None = None):
        """``client``: build into this existing client (emptied first) instead of a new
        one; it then stays open on :meth:`close` (building many scenes one after another
        saves a connection each)."""
        self.scene = scene
        self.dt = 1.0 / scene.physics_hz
        self.step_count = 0
        self._humanoids_at: float | None = None  # time the humanoids were last put at
        self._owns_client = client is None
        with quiet_stdout():
            if client is None:
                self.client = bullet_client.BulletClient(connection_mode=pybullet.DIRECT)
            else:
                self.client = client
                client.resetSimulation()
            try:
                self._build()
            except BaseException:
                self.close()
                raise

    def _build(self) -> None:
        scene, c = self.scene, self.client
        c.setPhysicsEngineParameter(fixedTimeStep=self.dt, numSubSteps=0, deterministicOverlappingPairs=1)
        c.setGravity(*scene.gravity)
        self.entity_names: dict[tuple[int, int], str] = {}
        self.floor = self._create_floor() if scene.floor.enabled else None
        self.bodies: list[int] = []
        self.body_infos: list[BodyInfo] = []
        for i, obj in enumerate(scene.objects):
            try:
                body, info = create_body(c, obj, scene.base_dir)
            except ValueError as err:  # an unreadable mesh file
                raise SceneError(f"objects[{i}].mesh", str(err)) from None
            self.bodies.append(body)
            self.body_infos.append(info)
            self.entity_names[(body, -1)] = obj.name
        self._create_constraints()
        self.humanoids = [HumanoidActor(c, spec, self.dt) for spec in scene.humanoids]
        for actor, spec in zip(self.humanoids, scene.humanoids):
            for link, link_name in enumerate(actor.link_names):
                self.entity_names[(actor.body_id, link - 1)] = f"{spec.name}/{link_name}"
                if self.floor is not None:
                    c.setCollisionFilterPair(actor.body_id, self.floor, link - 1, -1, 0)
        self._drive_humanoids()

    @property
    def time(self) -> float:
        """Simulated time, seconds."""
        return self.step_count * self.dt

    def _create_floor(self) -> int:
        floor = self.scene.floor
        c = self.client
        shape = c.createCollisionShape(
            pybullet.GEOM_BOX, halfExtents=[floor.size[0] / 2, floor.size[1] / 2, FLOOR_THICKNESS / 2]
        )
        body = c.createMultiBody(baseMass=0, baseCollisionShapeIndex=shape, basePosition=[0, 0, -FLOOR_THICKNESS / 2])
        c.changeDynamics(
            body,
            -1,
            lateralFriction=floor.friction,
            restitution=floor.restitution,
            rollingFriction=floor.rolling_friction,
            spinningFriction=floor.spinning_friction,
        )
        self.entity_names[(body, -1)] = "floor"
        return body

    def _create_constraints(self) -> None:
        c = self.client
        index = {obj.name: i for i, obj in enumerate(self.scene.objects)}
        for joint in self.scene.constraints:
            child = self.bodies[index[joint.child]]
            # pybullet wants the world, if involved, as the child (-1).
            a, b = (self.bodies[index[joint.parent]], child) if joint.parent is not None else (child, -1)
            pivots = [np.asarray(joint.pivot, dtype=float)]
            if joint.type == "hinge":
                axis = np.asarray(joint.axis, dtype=float) / np.linalg.norm(joint.axis)
                pivots = [pivots[0] - HINGE_HALF_SPAN * axis, pivots[0] + HINGE_HALF_SPAN * axis]
            kind = pybullet.JOINT_FIXED if joint.type == "fixed" else pybullet.JOINT_POINT2POINT
            for pivot in pivots:
                c.createConstraint(
                    a,
                    -1,
                    b,
                    -1,
                    kind,
                    [0, 0, 0],
                    self._local_point(a, pivot),
                    self._local_point(b, pivot),
                    parentFrameOrientation=self._local_orientation(a),
                    childFrameOrientation=self._local_orientation(b),
                )

    def _local_point(self, body: int, point: np.ndarray) -> list[float]:
        """A world point in ``body``'s frame (the world frame for body -1)."""
        if body == -1:
            return point.tolist()
        position, orientation = self.client.getBasePositionAndOrientation(body)
        return (rotation_matrix(orientation).T @ (point - np.asarray(position))).tolist()

    def _local_orientation(self, body: int) -> list[float]:
        """The world frame's orientation in ``body``'s frame (so a fixed joint keeps the
        bodies' relative orientation at time 0)."""
        if body == -1:
            return [0.0, 0.0, 0.0, 1.0]
        _, orientation = self.client.getBasePositionAndOrientation(body)
        return list(self.client.invertTransform([0, 0, 0], orientation)[1])

    def set_bodies(self, state: SceneState) -> None:
        """Put every body at the pose and velocity of ``state`` (one frame)."""
        for i, body in enumerate(self.bodies):
            self.client.resetBasePositionAndOrientation(body, state.body_position[i], state.body_orientation[i])
            self.client.resetBaseVelocity(body, state.body_linear_velocity[i], state.body_angular_velocity[i])

    def _drive_humanoids(self) -> None:
        """Put the humanoids at the pose of the current time (once per instant)."""
        if self._humanoids_at != self.time:
            for actor in self.humanoids:
                actor.drive(self.time)
            self._humanoids_at = self.time

    def step(self) -> None:
        """Advance one physics step (humanoids are first put at the step's start time)."""
        self._drive_humanoids()
        self.client.stepSimulation()
        self.step_count += 1
        self._humanoids_at = None  # the step moved them by their own dynamics

    def read_bodies(self) -> dict[str, np.ndarray]:
        """Body arrays of the current instant: position/orientation/velocities (B, 3|4)."""
        c = self.client
        poses = [c.getBasePositionAndOrientation(b) for b in self.bodies]
        velocities = [c.getBaseVelocity(b) for b in self.bodies]
        B = len(self.bodies)
        return {
            "body_position": np.array([p for p, _ in poses], dtype=float).reshape(B, 3),
            "body_orientation": np.array([q for _, q in poses], dtype=float).reshape(B, 4),
            "body_linear_velocity": np.array([v for v, _ in velocities], dtype=float).reshape(B, 3),
            "body_angular_velocity": np.array([w for _, w in velocities], dtype=float).reshape(B, 3),
        }

    def read_humanoids(self) -> dict[str, np.ndarray]:
        """Humanoid arrays at the current instant: keypoints (H, 18, 3), links (H, K, 3|4)."""
        self._drive_humanoids()
        return self._humanoid_arrays()

    def humanoids_at(self, time: float) -> dict[str, np.ndarray]:
        """Humanoid arrays (as :meth:`read_humanoids`) at ``time`` seconds of their clips,
        posed kinematically without stepping the simulation."""
        for actor in self.humanoids:
            actor.drive(time)
        self._humanoids_at = None  # no longer posed for the simulation's own time
        return self._humanoid_arrays()

    def _humanoid_arrays(self) -> dict[str, np.ndarray]:
        links = [actor.link_poses() for actor in self.humanoids]
        K = len(self.humanoids[0].link_names) if self.humanoids else 0
        H = len(self.humanoids)
        return {
            "humanoid_keypoints": np.array([a.keypoints() for a in self.humanoids], dtype=float).reshape(H, 18, 3),
            "humanoid_link_position": np.array([p for p, _ in links], dtype=float).reshape(H, K, 3),
            "humanoid_link_orientation": np.array([q for _, q in links], dtype=float).reshape(H, K, 4),
        }

    def contact_points(self) -> tuple:
        """pybullet's contact points of the last step."""
        return self.client.getContactPoints()

    def close(self) -> None:
        if self._owns_client:
            self.client.disconnect()


class ContactRecorder:
    """Sums contact points into per-frame, per-pair :class:`ContactEvent` s.

    Runs after every physics step, so it works on pybullet's raw tuples with plain floats
    (numpy per 3-vector would cost more than the physics step itself)."""

    def __init__(self, entity_names: dict[tuple[int, int], str], dt: float):
        # (body, link) -> (rank, name); a pair is stored with the lower rank first.
        self.entities = {key: (rank, name) for rank, (key, name) in enumerate(entity_names.items())}
        self.dt = dt
        self.events: list[ContactEvent] = []
        # (a, b) -> [impulse, sum impulse * (posA + posB) (3), sum impulse * normal (3)]
        self._pending: dict[tuple[str, str], list[float]] = {}

    def add(self, points: tuple) -> None:
        """Accumulate the contact points of one physics step (pybullet's tuples:
        [1] bodyA, [2] bodyB, [3] linkA, [4] linkB, [5] posOnA, [6] posOnB,
        [7] normal on B pointing to A, [9] normal force over the step, N)."""
        entities, pending, dt = self.entities, self._pending, self.dt
        for _, body_a, body_b, link_a, link_b, pa, pb, n, _, force, *_ in points:
            if force <= 0.0:
                continue
            impulse = force * dt
            rank_a, a = entities[body_a, link_a]
            rank_b, b = entities[body_b, link_b]
            signed = impulse
            if rank_a > rank_b:
                a, b, signed = b, a, -impulse
            acc = pending.get((a, b))
            if acc is None:
                pending[a, b] = [impulse, impulse * (pa[0] + pb[0]), impulse * (pa[1] + pb[1]),
                                 impulse * (pa[2] + pb[2]), signed * n[0], signed * n[1], signed * n[2]]
            else:
                acc[0] += impulse
                acc[1] += impulse * (pa[0] + pb[0])
                acc[2] += impulse * (pa[1] + pb[1])
                acc[3] += impulse * (pa[2] + pb[2])
                acc[4] += signed * n[0]
                acc[5] += signed * n[1]
                acc[6] += signed * n[2]

    def close_frame(self, frame: int) -> None:
        """Turn what was accumulated since the last frame into events of ``frame``."""
        for (a, b), (impulse, px, py, pz, nx, ny, nz) in self._pending.items():
            norm = max(math.sqrt(nx * nx + ny * ny + nz * nz), 1e-12)
            half = 0.5 / impulse
            self.events.append(
                ContactEvent(
                    frame=frame, a=a, b=b, impulse=impulse,
                    position=[px * half, py * half, pz * half], normal=[nx / norm, ny / norm, nz / norm],
                )
            )
        self._pending.clear()


class PybulletEngine(Engine):
    """Rigid-body dynamics by pybullet (Bullet 3), recorded once per video frame.

    ``contacts``: record contact events (read after every physics step; on contact-heavy
    scenes this costs about as much as the physics itself, see bench_simulation)."""

    name = "pybullet"

    def __init__(self, contacts: bool = True):
        self.contacts = contacts

    def step_rate(self, scene: Scene) -> float:
        return float(scene.physics_hz)

    def rollout(
        self,
        scene: Scene,
        initial: SceneState | None = None,
        num_frames: int | None = None,
        progress: bool = False,
    ) -> Trajectory:
        num_frames = num_frames or scene.frame_count
        world = PybulletWorld(scene)
        try:
            if initial is not None:
                world.set_bodies(initial)
            contacts = ContactRecorder(world.entity_names, world.dt)
            frames = [self._read(world)]
            names = {"body": [obj.name for obj in scene.objects]}
            check_finite({k: frames[0][k][None] for k in BODY_ARRAYS}, names, scene.fps)
            for frame in tqdm(range(1, num_frames), desc=scene.name, unit="frame", disable=not progress, delay=2.0):
                for _ in range(scene.substeps):
                    world.step()
                    if self.contacts:
                        contacts.add(world.contact_points())
                contacts.close_frame(frame)
                frames.append(self._read(world))
                check_finite({k: frames[-1][k][None] for k in BODY_ARRAYS}, names, scene.fps, frame)
            states = self._finish(scene, frames)
            humanoid_infos = [
                HumanoidInfo(
                    name=spec.name,
                    motion=spec.motion,
                    scale=spec.scale,
                    link_names=list(actor.link_names),
                    keypoint_names=list(COCO18_NAMES),
                )
                for spec, actor in zip(scene.humanoids, world.humanoids)
            ]
            return Trajectory(
                fps=scene.fps,
                physics_hz=scene.physics_hz,
                states=states,
                bodies=world.body_infos,
                lights=[light_info(light) for light in scene.lights],
                humanoids=humanoid_infos,
                contacts=contacts.events,
                scene=scene_record(scene),
                engine=self.name,
            )
        finally:
            world.close()

    @staticmethod
    def _read(world: PybulletWorld) -> dict[str, np.ndarray]:
        return {"time": np.float64(world.time), **world.read_bodies(), **world.read_humanoids()}

    @staticmethod
    def _finish(scene: Scene, frames: list[dict[str, np.ndarray]]) -> SceneState:
        arrays = {key: np.stack([f[key] for f in frames]) for key in frames[0]}
        arrays.update(light_states(scene, arrays["time"], arrays["body_position"], arrays["body_orientation"]))
        return SceneState(**arrays)


def scene_record(scene: Scene) -> dict:
    """The concrete scene as plain data, with file paths made absolute so that a saved
    trajectory renders from any working directory."""
    record = scene.model_dump(mode="json", exclude_none=True)
    texture = scene.floor.material.texture
    if texture is not None:
        record["floor"]["material"]["texture"] = str(resolve_file(scene.base_dir, texture).resolve())
    return record
