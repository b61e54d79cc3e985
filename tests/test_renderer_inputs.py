"""What the diffusion renderer reads per pixel: the control stack, material maps looked up
from the instance ids and the lights' unshadowed diffuse shading; a renderer trained
before the material maps or the shading still paints, and training on from it (with the
missing groups and a pixel head added) starts exactly where it was."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from control.stack import CONTROL_CHANNELS
from renderer.diffusion.model import CONTROL_GROUPS, VideoDenoiser
from renderer.diffusion.pipeline import VideoRenderer
from renderer.pbr.meshes import srgb_to_linear
from simulation.engines import make_engine
from simulation.instances import InstanceTable
from worldgen.pipelines.generate import GenerateOptions, load_renderer, paint_windows
from worldgen.pipelines.renderer_inputs import (
    MATERIAL_CHANNELS,
    RENDERER_CHANNELS,
    SHADING_CHANNELS,
    channels_for,
    clip_inputs,
    end_window,
)
from worldgen.pipelines.state_tokens import TOKEN_FEATURES
from worldgen.pipelines.train_renderer import initial_model
from worldgen.scene import SceneError


def _inputs(overrides=()):
    """Renderer stack of 3 frames of stacked_blocks at 32 x 24, and where the buffers see
    the tower's first block (T, H, W) bool."""
    from renderer.pbr.render import RenderSettings
    from worldgen.pipelines.clip import render_controls
    from worldgen.pipelines.render import RenderOptions, pick_camera
    from worldgen.scene.loading import compose_config

    config = compose_config("stacked_blocks", overrides)
    trajectory = make_engine("pybullet").rollout(config.scene, num_frames=3)
    camera = pick_camera(config, RenderOptions(resolution=(32, 24)))
    rendered = render_controls(trajectory, camera, RenderSettings(rgb=False), frames=np.arange(3))
    stack, tokens = clip_inputs(trajectory, np.arange(3), rendered)
    assert tokens.shape[:2] == (3, 1 + 11 + 3)  # camera, floor, 10 blocks, 3 lights
    return stack, rendered.clip.instance, rendered.clip.instance == InstanceTable.of(trajectory).names.index("tower_0")


def test_material_maps_hold_each_pixels_material():
    stack, instance, tower = _inputs()
    assert stack.shape == (3, len(RENDERER_CHANNELS), 24, 32) and stack.dtype == np.float32
    materials = stack[:, len(CONTROL_CHANNELS):len(CONTROL_CHANNELS) + 5].transpose(0, 2, 3, 1)  # (T, H, W, 5)
    assert (materials[instance == 0] == 0).all()  # background
    assert tower.sum() > 10 and (materials[instance > 0][:, :3].sum(-1) > 0).all()  # every surface has a colour
    # The tower's first block is #2f4b7c, roughness 0.45, metallic 0, wherever the buffers see it.
    expected = [*srgb_to_linear(np.array([0x2F, 0x4B, 0x7C]) / 255.0), 0.45, 0.0]
    np.testing.assert_allclose(materials[tower], np.broadcast_to(expected, (tower.sum(), 5)), atol=1e-6)


def test_an_objects_colour_in_the_scene_moves_its_albedo_map():
    plain, _, seen = _inputs()
    red, _, _ = _inputs(["scene.objects.0.material.color=[1.0,0.0,0.0]"])
    assert (red[:, 13][seen] == 1).all() and (red[:, 14:16].transpose(1, 0, 2, 3)[:, seen] == 0).all()
    np.testing.assert_array_equal(red[:, 13][~seen], plain[:, 13][~seen])  # nothing else changes


def test_a_lights_colour_moves_the_shading_maps():
    plain, instance, _ = _inputs()
    red, _, _ = _inputs([f"scene.lights.{i}.color=[1.0,0.0,0.0]" for i in range(3)])
    surfaces = instance > 0
    plain_rgb, red_rgb = (x[:, -len(SHADING_CHANNELS):].transpose(1, 0, 2, 3) for x in (plain, red))  # (3, T, H, W)
    assert (plain_rgb[:, ~surfaces] == 0).all() and (red_rgb[:, ~surfaces] == 0).all()
    assert (red_rgb[0, surfaces] > 0).mean() > 0.8  # most surfaces face some light
    assert (red_rgb[1:, surfaces] == 0).all()  # no green or blue light left
    assert (plain_rgb[1:, surfaces] > 0).mean() > 0.8
    np.testing.assert_array_equal(red[:, :-len(SHADING_CHANNELS)], plain[:, :-len(SHADING_CHANNELS)])


def _old_renderer(tmp_path, channels=CONTROL_CHANNELS, pixel_head=0):
    """A tiny renderer of ``channels`` only (trained before the material maps or the
    shading), its weights perturbed as if trained."""
    torch.manual_seed(0)
    groups = {g: list(c) for g, c in CONTROL_GROUPS.items()}
    if "albedo_r" in channels:
        groups["material"] = list(MATERIAL_CHANNELS)
    model = VideoDenoiser(width=32, depth=2, heads=2, control_blocks=1, token_features=len(TOKEN_FEATURES),
                          control_channels=list(channels), control_groups=groups, pixel_head=pixel_head,
                          pixel_head_state=pixel_head > 0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p), alpha=0.05)
    VideoRenderer(model.eval(), sample_size=16, clip_length=4, token_features=list(TOKEN_FEATURES)).save_pretrained(tmp_path)
    return load_renderer(str(tmp_path))


def _random_inputs(frames=6, slots=3, seed=0):
    rng = np.random.default_rng(seed)
    stack = rng.random((frames, len(RENDERER_CHANNELS), 16, 16), dtype=np.float32)
    tokens = rng.standard_normal((frames, slots, len(TOKEN_FEATURES))).astype(np.float32)
    return stack, tokens


def test_a_renderer_of_the_control_channels_alone_paints_from_the_full_stack(tmp_path):
    old = _old_renderer(tmp_path)
    stack, tokens = _random_inputs()
    full = paint_windows(old, stack, tokens, GenerateOptions())
    # The material channels do not reach it: changing them changes nothing.
    stack[:, 13:] = 0.5
    np.testing.assert_array_equal(paint_windows(old, stack, tokens, GenerateOptions()), full)


def test_training_on_from_an_older_renderer_starts_where_it_was(tmp_path):
    old = _old_renderer(tmp_path)
    model = initial_model(tmp_path, pixel_head=4, pixel_head_state=True)
    assert model.config.pixel_head == 4 and model.config.pixel_head_state
    assert list(model.config.control_channels) == list(RENDERER_CHANNELS)
    assert list(model.config.control_groups["material"]) == list(MATERIAL_CHANNELS)
    stack, tokens = _random_inputs()
    before = paint_windows(old, stack, tokens, GenerateOptions())
    old.model = model.eval()
    np.testing.assert_array_equal(paint_windows(old, stack, tokens, GenerateOptions()), before)
    # ... and the new parts learn: the group's projection and the head's last layer get gradients.
    x = torch.randn(1, 4, 3, 16, 16)
    out = model.train()(x, torch.tensor([500]), torch.from_numpy(tokens[None, :4]), torch.ones(1, 4, 3, dtype=torch.bool),
                        torch.from_numpy(stack[None, :4]))
    out.square().mean().backward()
    assert model.control.project["material"].weight.grad.abs().sum() > 0
    assert model.control.pixel.net[-1].weight.grad.abs().sum() > 0


def test_training_on_from_a_renderer_with_a_pixel_head_adds_the_shading_at_zero(tmp_path):
    old = _old_renderer(tmp_path, CONTROL_CHANNELS + MATERIAL_CHANNELS, pixel_head=4)
    model = initial_model(tmp_path)
    assert list(model.config.control_groups["shading"]) == list(SHADING_CHANNELS)
    stack, tokens = _random_inputs()
    before = paint_windows(old, stack, tokens, GenerateOptions())
    old.model = model.eval()
    np.testing.assert_array_equal(paint_windows(old, stack, tokens, GenerateOptions()), before)
    # The head keeps what it learned for the other channels and reads the shading from zero.
    head_input = model.control.pixel.net[0].weight  # (hidden, 18 + 3 + 6, 3, 3)
    assert head_input.shape[1] == len(RENDERER_CHANNELS) + 6 and (head_input[:, 18:21] == 0).all()
    x = torch.randn(1, 4, 3, 16, 16)
    out = model.train()(x, torch.tensor([500]), torch.from_numpy(tokens[None, :4]), torch.ones(1, 4, 3, dtype=torch.bool),
                        torch.from_numpy(stack[None, :4]))
    out.square().mean().backward()
    assert head_input.grad[:, 18:21].abs().sum() > 0


def test_end_window_marks_the_last_frames_flow_as_leaving():
    stack, _ = _random_inputs(frames=3)
    window = end_window(torch.from_numpy(stack).clone())
    flow_x, occlusion = RENDERER_CHANNELS.index("flow_x"), RENDERER_CHANNELS.index("occlusion")
    assert (window[-1, flow_x] == 0).all() and (window[-1, occlusion] == 1).all()
    assert torch.equal(window[:-1], torch.from_numpy(stack[:-1]))
    assert torch.equal(window[-1, 13:], torch.from_numpy(stack[-1, 13:]))  # the materials stay


def test_a_renderer_wanting_unknown_channels_is_a_one_line_error():
    stack, _ = _random_inputs(frames=2)
    with pytest.raises(SceneError, match="worldgen does not make"):
        channels_for(stack, ["depth", "albedo_x"])
    np.testing.assert_array_equal(channels_for(stack, ["metallic", "depth"]), stack[:, [17, 0]])
