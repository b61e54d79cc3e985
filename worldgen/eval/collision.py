"""A fast collision between two bodies, for ``worldgen eval dynamics``: a ball (radius
0.1 m, 1 kg) rolling along +x at SPEEDS into a resting 0.3 m box (1 kg) 0.8 m ahead, on the
floor, 25 frames at 12 fps. The held-out families rarely have such a head-on hit, and it is
where a learned model errs most visibly: bodies sink into each other and the box is not
pushed as far. Units m, s; penetration from pybullet closest points
(:func:`~worldgen.eval.dynamics.penetration_depths`)."""

from __future__ import annotations

import numpy as np

from simulation.engine import Engine
from simulation.pybullet_engine import PybulletEngine, PybulletWorld
from worldgen.eval.dynamics import penetration_depths
from worldgen.scene import scene_from_dict
from worldgen.scene.schema import Scene

SPEEDS = (1.3, 2.5)  # m/s: the ball's initial speed, rolling without slipping
RADIUS, BOX, GAP = 0.1, 0.3, 0.8  # m: ball radius, box edge, centre distance at the start


def ball_into_box_scene(speed: float) -> Scene:
    """The two-body scene with the ball rolling at ``speed`` m/s."""
    return scene_from_dict({"name": f"ball_into_box_{speed:g}", "fps": 12, "num_frames": 25, "objects": [
        {"name": "ball", "shape": "sphere", "radius": RADIUS, "position": [0, 0, RADIUS],
         "linear_velocity": [speed, 0, 0], "angular_velocity": [0, speed / RADIUS, 0]},
        {"name": "box", "shape": "box", "size": [BOX] * 3, "position": [GAP, 0, BOX / 2]}]})


def collision_outcome(engine: Engine, scene: Scene) -> dict:
    """How the collision went with ``engine``: the deepest penetration between the bodies
    or into the floor over the clip (m), how far the box ended from its start (m), and
    where the ball ended along x (m)."""
    states = engine.rollout(scene).states
    world = PybulletWorld(scene)
    try:
        depth = penetration_depths(world, states.body_position, states.body_orientation)
    finally:
        world.close()
    box = states.body_position[:, 1]
    return {"max_penetration_m": float(np.nanmax(depth)), "box_moved_m": float(np.linalg.norm(box[-1] - box[0])),
            "ball_end_x_m": float(states.body_position[-1, 0, 0])}


def ball_into_box(engine: Engine, speeds=SPEEDS) -> dict:
    """Per speed (key: the speed as text, m/s): :func:`collision_outcome` of ``engine`` and
    of pybullet."""
    reference = PybulletEngine(contacts=False)
    outcomes = {}
    for speed in speeds:
        scene = ball_into_box_scene(speed)
        outcomes[f"{speed:g}"] = {"engine": collision_outcome(engine, scene), "pybullet": collision_outcome(reference, scene)}
    return outcomes
