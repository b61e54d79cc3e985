"""The mitsuba reference renderer: exact geometry buffers, camera agreement, stable ids,
lights that move, and agreement with mitsuba's own AOV integrator."""

from __future__ import annotations

import mitsuba as mi
import numpy as np
import pytest

from renderer.pbr.meshes import scene_meshes
from renderer.pbr.mitsuba_scene import OPENCV_TO_MITSUBA_CAMERA, MitsubaScene
from renderer.pbr.render import RenderSettings, render_trajectory
from simulation.engines import make_engine
from simulation.instances import InstanceTable, instance_poses
from worldgen.scene import compose_config, scene_from_dict
from worldgen.scene.cameras import project

LIGHTS = [{"type": "point", "position": [0, -3, 3], "intensity": 20}]


def simulate(raw: dict):
    scene = scene_from_dict(raw)
    return scene, make_engine("pybullet").rollout(scene)


def test_depth_of_a_box_face_and_a_sphere_centre():
    """Camera on the y axis looking along +y, odd resolution so the central pixel's centre
    is on the optical axis. Half a pixel's worth of depth at distance z is 0.5 z / f."""
    scene, traj = simulate({
        "num_frames": 2, "lights": LIGHTS,
        "objects": [
            {"name": "box", "shape": "box", "size": [1, 1, 1], "position": [-1, 0, 0.5], "physics": {"fixed": True}},
            {"name": "ball", "shape": "sphere", "radius": 0.4, "position": [0, 1, 0.5], "physics": {"fixed": True}},
        ],
        "cameras": [{"name": "c", "position": [0, -4, 0.5], "look_at": [0, 0, 0.5], "fov": 40, "resolution": [65, 65]}],
    })
    clip = render_trajectory(traj, scene.cameras[0], RenderSettings(rgb=False), frames=[0])
    f = clip.K[0, 0]
    depth, ids = clip.depth[0], clip.instance[0]
    # Sphere centre on the axis at distance 5: its front surface is 5 - 0.4 away.
    assert ids[32, 32] == clip.instances.body_id(1)
    assert abs(depth[32, 32] + 0.4 - 5.0) < 0.5 * 5.0 / f
    # Box front face is the plane y = -0.5: z-depth 3.5 everywhere on it.
    box = ids == clip.instances.body_id(0)
    assert box.sum() > 100
    np.testing.assert_allclose(depth[box & (np.abs(clip.normal[0, 1]) > 0.99)], 3.5, atol=0.5 * 3.5 / f)
    # Floor and background: the floor has id 1 below the horizon, nothing above it.
    assert (ids[-1] == 1).all() and (ids[0] == 0).all() and (depth[0] == 0).all()


def test_buffer_points_project_back_to_their_pixel_centres():
    """World positions from the buffers, projected with the camera model, land on the pixel
    centres they came from; the ball's centre projects onto a ball pixel."""
    config = compose_config("stacked_blocks", ["scene.duration=0.25"])
    traj = make_engine("pybullet").rollout(config.scene)
    camera = config.scene.cameras[0].model_copy(update={"resolution": (48, 40)})
    clip = render_trajectory(traj, camera, RenderSettings(rgb=False), frames=[0, 5])
    for i in range(2):
        hit = clip.instance[i] > 0
        points = clip.position[i].transpose(1, 2, 0)[hit]
        pixels, z = project(points, clip.K, clip.world_to_camera[i])
        v, u = np.nonzero(hit)
        np.testing.assert_allclose(pixels, np.stack([u + 0.5, v + 0.5], 1), atol=1e-3)
        np.testing.assert_allclose(z, clip.depth[i][hit], rtol=1e-5)


def test_instance_ids_are_stable_over_time():
    """Ids follow their bodies while a stack is knocked over: in every frame, every pixel
    labelled with body b sees a point on b's surface in b's own frame (boxes: inside the
    half extents with one coordinate on a face; the ball: at its radius)."""
    from control.flow import object_coordinates

    config = compose_config("pyramid", ["scene.duration=1.5"])
    traj = make_engine("pybullet").rollout(config.scene)
    camera = config.scene.cameras[0].model_copy(update={"resolution": (96, 96)})
    frames = np.arange(0, len(traj), 6)
    clip = render_trajectory(traj, camera, RenderSettings(rgb=False), frames=frames)
    seen = set()
    for i in range(len(frames)):
        local = object_coordinates(clip.depth[i], clip.instance[i], clip.poses[i], clip.K, clip.world_to_camera[i])
        for b, body in enumerate(traj.bodies):
            mask = clip.instance[i] == clip.instances.body_id(b)
            if not mask.any():
                continue
            seen.add(b)
            points = local[mask]
            if body.shape == "box":
                half = np.asarray(body.size) / 2
                assert (np.abs(points) <= half + 2e-3).all(), (i, body.name)
                assert (np.abs(np.abs(points) - half).min(axis=1) < 2e-3).all(), (i, body.name)
            else:
                np.testing.assert_allclose(np.linalg.norm(points, axis=1), body.size[0], rtol=0.02)
    assert len(seen) == len(traj.bodies)
    assert set(np.unique(clip.instance)) <= set(range(len(clip.instances)))


def test_buffers_agree_with_mitsubas_aov_integrator():
    """The fast emitter-based buffer pass equals mitsuba's own AOV integrator (position,
    shading normal, shape index) on a scene with a walking humanoid and a floor texture."""
    config = compose_config("humanoid_walk", ["scene.duration=0.25"])
    traj = make_engine("pybullet").rollout(config.scene)
    camera = config.scene.cameras[0]
    table = InstanceTable.of(traj)
    poses = instance_poses(table, traj.states)
    s = traj.states
    from renderer.pbr.variant import select_variant
    from worldgen.scene.cameras import extrinsics

    select_variant("scalar_rgb")
    scene = MitsubaScene(scene_meshes(traj, table), traj.lights, 40, 32, camera.fov)
    scene.set_frame(poses[3], s.light_position[3], s.light_direction[3], s.light_color[3], s.light_intensity[3])
    E = extrinsics(camera, s.time, float(s.time[-1]))[3]
    ours = scene.render_buffers(E)
    assert len(np.unique(ours.instance)) > 10  # floor, objects and many humanoid links

    sensor = mi.load_dict({
        "type": "perspective", "fov": camera.fov, "fov_axis": "y",
        "to_world": mi.ScalarTransform4f((np.linalg.inv(E) @ OPENCV_TO_MITSUBA_CAMERA).tolist()),
        "film": {"type": "hdrfilm", "width": 40, "height": 32, "rfilter": {"type": "box"}},
        "sampler": {"type": "stratified", "sample_count": 1, "jitter": False},
    })
    aov = mi.load_dict({"type": "aov", "aovs": "p:position,n:sh_normal,s:shape_index"})
    reference = np.asarray(mi.render(scene.scene, sensor=sensor, integrator=aov, spp=1))
    # Shading scene: shapes are the instance meshes then the light shapes.
    shape_ids = np.array([0] + [int(x.id().split("_")[1]) if x.id().startswith("instance_") else 0
                                for x in scene.scene.shapes()])
    ids = shape_ids[np.rint(reference[..., 6]).astype(int)]
    assert (ids == ours.instance).mean() > 0.995
    same = (ids == ours.instance) & (ids > 0)
    z = reference[..., :3] @ E[2, :3] + E[2, 3]
    np.testing.assert_allclose(ours.depth[same], z[same], rtol=1e-4, atol=1e-4)
    cosine = np.sum(ours.normal * reference[..., 3:6], axis=-1)[same]
    assert np.quantile(cosine, 0.01) > 0.999


def test_a_moving_light_moves_the_bright_spot():
    """A point light keyframed from x = -1.5 to x = +1.5 just above the floor: in each frame
    the floor is brighter under the light's current position than under its other one."""
    scene, traj = simulate({
        "fps": 4, "num_frames": 5,
        "lights": [{"type": "point", "intensity": 3, "keyframes": [
            {"time": 0, "position": [-1.5, 0, 0.4]}, {"time": 1, "position": [1.5, 0, 0.4]}]}],
        "cameras": [{"name": "top", "position": [0, 0, 6], "look_at": [0, 0, 0], "up": [0, 1, 0],
                     "fov": 50, "resolution": [64, 64]}],
    })
    clip = render_trajectory(traj, scene.cameras[0], RenderSettings(spp=8), frames=[0, 4])
    spots = []
    for i in range(2):
        footprint = traj.states.light_position[[0, 4][i], 0] * [1, 1, 0]
        pixels, _ = project(footprint[None], clip.K, clip.world_to_camera[i])
        spots.append((int(pixels[0, 1]), int(pixels[0, 0])))
    brightness = clip.rgb.mean(axis=1)  # (2, H, W)

    def near(frame, spot):
        v, u = spot
        return brightness[frame, v - 3:v + 4, u - 3:u + 4].mean()

    assert near(0, spots[0]) > 2 * near(0, spots[1])
    assert near(1, spots[1]) > 2 * near(1, spots[0])


@pytest.mark.parametrize("variant", ["cuda_ad_rgb"])
def test_unavailable_variant_is_a_clear_error_or_works(variant):
    """Asking for the GPU variant without a GPU fails with a message, not a crash."""
    from renderer.pbr.variant import select_variant

    try:
        assert select_variant(variant) == variant
    except ImportError as err:
        assert "CUDA" in str(err) or "cuda" in str(err)
    finally:
        select_variant("auto")
