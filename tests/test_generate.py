"""`worldgen generate`: N frames in give N frames out with the control videos, the
side-by-side and exact-flow metrics; control weights of 0 paint the base's output; real
footage drives the skeleton map; mistakes are one line with exit 2. A tiny renderer is
trained on a tiny dataset (conftest.py)."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest
import skimage.data
import torch

from worldgen.cli import main
from worldgen.io.video import read_video
from worldgen.pipelines.generate import GenerateOptions, load_renderer, paint_windows
from worldgen.pipelines.renderer_inputs import RENDERER_CHANNELS, clip_inputs, still_pixels

SCENE = ["stacked_blocks", "--frames", "0:6", "-q"]


def test_generate_writes_every_output_with_one_frame_per_frame(tiny_renderer, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["generate", *SCENE, "-o", str(out), "--checkpoint", str(tiny_renderer), "--reference", "--spp", "2"]) == 0, \
        capsys.readouterr().err
    video, fps = read_video(out / "video.mp4")
    assert video.shape == (6, 16, 16, 3) and fps == 24  # 6 frames painted as windows of 4 and 2
    for name in ("depth", "skeleton", "segmentation", "normals", "reference"):
        assert read_video(out / f"{name}.mp4")[0].shape == (6, 16, 16, 3)
    assert read_video(out / "side_by_side.mp4")[0].shape == (6, 16, 64, 3)  # reference | depth | skeleton | painted
    metrics = json.loads((out / "metrics.json").read_text())
    summary = metrics["summary"]
    assert summary["warp_error"] >= 0 and summary["temporal_variance_percent"] >= 0 and "psnr_db" in summary
    assert summary["seam_score"] > 0 and summary["seam_measure"] == "warp_error, windows starting at frames [4]"
    assert metrics["instances"] and "vbench_temporal_flickering" in summary
    assert 0 <= summary["colour_drift_indistinguishable"] <= 1 and summary["colour_drift_slope_gap"] >= 0
    assert (out / "trajectory.npz").is_file() and (out / "controls.npz").is_file()


def test_zero_control_weights_paint_the_base_output(tiny_renderer):
    renderer = load_renderer(str(tiny_renderer))
    with torch.no_grad():  # the branch as after training, so that it changes the output
        for p in renderer.model.control.parameters():
            p.normal_(std=0.05)
    rng = np.random.default_rng(0)
    stack = rng.random((6, len(RENDERER_CHANNELS), 16, 16), dtype=np.float32)
    tokens = rng.standard_normal((6, 3, renderer.model.config.token_features)).astype(np.float32)
    groups = renderer.model.config.control_groups
    off = paint_windows(renderer, stack, tokens, GenerateOptions(control_weights={g: 0.0 for g in groups}))
    on = paint_windows(renderer, stack, tokens, GenerateOptions())
    base = renderer.paint(torch.from_numpy(tokens[:4])[None], torch.ones(1, 4, 3, dtype=torch.bool), None, None, 4,
                          torch.Generator().manual_seed(0), size=(16, 16))[0].numpy()
    np.testing.assert_array_equal(off[:4], base)
    assert np.abs(on - off).mean() > 1e-4  # and with weights 1 the controls do change it


def test_poses_from_a_real_video_drive_the_skeleton_map(tiny_renderer, tmp_path):
    video = tmp_path / "person.mp4"
    photo = skimage.data.astronaut()
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 24, photo.shape[1::-1])
    for _ in range(3):
        writer.write(cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    writer.release()
    plain, driven = tmp_path / "plain", tmp_path / "driven"
    assert main(["generate", *SCENE, "-o", str(plain), "--checkpoint", str(tiny_renderer), "--resolution", "32x32"]) == 0
    assert main(["generate", *SCENE, "-o", str(driven), "--checkpoint", str(tiny_renderer), "--resolution", "32x32",
                 "--pose-from", str(video)]) == 0
    assert read_video(plain / "skeleton.mp4")[0].max() < 30  # stacked blocks: no humanoid, a black map
    skeleton = read_video(driven / "skeleton.mp4")[0]
    assert skeleton.shape[0] == 6 and (skeleton.max(axis=(1, 2, 3)) > 150).all()  # her pose, last frame repeated


@pytest.mark.parametrize("overrides, flags, message", [
    ([], ["--checkpoint", "/no/such/renderer"], "--checkpoint: /no/such/renderer: expected a renderer folder"),
    ([], ["--resolution", "18x18"], "--resolution: the renderer paints sizes in multiples of 4 pixels"),
    ([], ["--control-weight", "dpeth=1"], "--control-weight: unknown control 'dpeth'; expected one of depth"),
    ([], ["--control-weight", "depth=x"], "--control-weight: expected NAME=WEIGHT"),
    ([], ["--control-weight", "depth=1e300"], "--control-weight: expected NAME=WEIGHT with a number from 0 to 100"),
    ([], ["--pose-from", "/no/such.mp4"], "--pose-from: no such video file"),
    (["renderer=unreal"], [], "renderer: expected one of diffusion, pbr"),
    ([], ["--noise", "wobbly"], "--noise: expected one of independent, warped, got 'wobbly'"),
    ([], ["--context", "4"], "--context: expected a number of frames from 0 to 3 (the renderer paints windows of 4), got 4"),
])
def test_generate_mistakes_are_one_line_errors(tiny_renderer, tmp_path, capsys, overrides, flags, message):
    code = main(["generate", SCENE[0], *overrides, *SCENE[1:], "-o", str(tmp_path / "out"),
                 "--checkpoint", str(tiny_renderer), *flags])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err


def test_warped_noise_moves_with_the_surfaces(tiny_renderer, tmp_path):
    """Noise moved along the exact flow keeps what is painted on a surface with it (the
    first frames of stacked_blocks: a still camera, a still tower): the warp error with the
    exact flow falls well below independent noise's, across the window boundary too."""
    warp_error = {}
    for noise in ("independent", "warped"):
        out = tmp_path / noise
        assert main(["generate", *SCENE, "-o", str(out), "--checkpoint", str(tiny_renderer), "--noise", noise]) == 0
        warp_error[noise] = json.loads((out / "metrics.json").read_text())["summary"]["warp_error"]
    assert warp_error["warped"] < 0.5 * warp_error["independent"], warp_error


def _still_scene_inputs():
    """Renderer stack, tokens and exact flow of the first 6 frames of stacked_blocks at
    16 x 16 (a still camera; the dropped blocks fall, the tower stands)."""
    from renderer.pbr.render import RenderSettings
    from simulation.engines import make_engine
    from worldgen.pipelines.clip import render_controls
    from worldgen.pipelines.render import RenderOptions, pick_camera
    from worldgen.scene.loading import compose_config

    config = compose_config("stacked_blocks")
    trajectory = make_engine("pybullet").rollout(config.scene, num_frames=6)
    camera = pick_camera(config, RenderOptions(resolution=(16, 16)))
    rendered = render_controls(trajectory, camera, RenderSettings(rgb=False), frames=np.arange(6))
    stack, tokens = clip_inputs(trajectory, np.arange(6), rendered)
    return stack, tokens, rendered.flow


def test_locking_paints_still_pixels_once_across_frames_and_windows(tiny_renderer):
    renderer = load_renderer(str(tiny_renderer))
    stack, tokens, flow = _still_scene_inputs()
    still = still_pixels(stack, flow, 0, 6)
    assert 0.3 < still.mean() < 0.99  # floor, tower and sky are still; the falling blocks are not
    locked = paint_windows(renderer, stack, tokens, GenerateOptions(lock=True), flow=flow)
    free = paint_windows(renderer, stack, tokens, GenerateOptions(), flow=flow)
    # Identical in all 6 frames, across the boundary of the windows of 4 and 2 frames too.
    assert all(np.array_equal(locked[t][:, still], locked[0][:, still]) for t in range(6))
    assert np.abs(free[1:][:, :, still] - free[:1][:, :, still]).mean() > 1e-3  # which unlocked noise does not give
    moving = ~still_pixels(stack, flow, 0, 4)
    assert np.abs(locked[1:4][:, :, moving] - locked[:1][:, :, moving]).mean() > 1e-3  # the rest stays free
    # A light that flickers relights the floor: nothing it reaches is still.
    relit = stack.copy()
    relit[2, -3:] *= 1.5
    assert still_pixels(relit, flow, 0, 6).mean() < 0.3


@pytest.mark.parametrize("frames", [4, 6, 11])
def test_continuation_windows_read_the_frames_painted_before(tiny_renderer, frames):
    """With --context K every window after the first holds the last K painted frames as known
    and paints after them: N frames in give N out, the first window is as without context,
    and what a later window paints depends on what the earlier one painted."""
    renderer = load_renderer(str(tiny_renderer))
    with torch.no_grad():  # attention as after training, so that frames can read each other
        for p in renderer.model.parameters():
            p.add_(torch.randn_like(p), alpha=0.05)
    rng = np.random.default_rng(0)
    stack = rng.random((frames, len(RENDERER_CHANNELS), 16, 16), dtype=np.float32)
    tokens = rng.standard_normal((frames, 3, renderer.model.config.token_features)).astype(np.float32)
    plain = paint_windows(renderer, stack, tokens, GenerateOptions())
    buffered = paint_windows(renderer, stack, tokens, GenerateOptions(context=2))
    assert plain.shape == buffered.shape == (frames, 3, 16, 16)
    np.testing.assert_array_equal(buffered[:4], plain[:4])
    if frames > 4:
        altered = tokens.copy()
        altered[:2] += 1  # changes what the first window paints, not the later windows' own inputs
        assert np.abs(paint_windows(renderer, stack, altered, GenerateOptions(context=2))[4:] - buffered[4:]).max() > 1e-6
        np.testing.assert_array_equal(paint_windows(renderer, stack, altered, GenerateOptions())[4:], plain[4:])


def _spoil(folder, how: str) -> None:
    """Damage a copy of a renderer folder the way a user's might be damaged."""
    weights = folder / "diffusion_pytorch_model.safetensors"
    if how == "wrong shapes":
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, "width": config["width"] * 2}))
    elif how == "pickle":
        torch.save({"w": torch.zeros(1)}, folder / "diffusion_pytorch_model.bin")
        weights.unlink()
    elif how == "truncated weights":
        weights.write_bytes(weights.read_bytes()[:1000])
    elif how == "config not JSON":
        (folder / "config.json").write_text("{not json")
    elif how == "renderer.json field":
        facts = json.loads((folder / "renderer.json").read_text())
        (folder / "renderer.json").write_text(json.dumps({**facts, "colour": 1}))


@pytest.mark.parametrize("how, message", [
    ("wrong shapes", "cannot load the denoiser: "),
    ("pickle", "missing diffusion_pytorch_model.safetensors (weights are read from safetensors only"),
    ("truncated weights", "cannot load the denoiser: Unable to load weights"),
    ("config not JSON", "is not a valid JSON file"),
    ("renderer.json field", "renderer.json: unknown field colour"),
])
def test_a_damaged_renderer_folder_is_a_one_line_error(tiny_renderer, tmp_path, capsys, how, message):
    folder = tmp_path / "renderer"
    shutil.copytree(tiny_renderer, folder)
    _spoil(folder, how)
    code = main(["generate", *SCENE, "-o", str(tmp_path / "out"), "--checkpoint", str(folder)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--checkpoint" in err[0] and message in err[0], err
    assert not (tmp_path / "out").exists()  # refused before any work


def test_the_shipped_renderer_paints_the_quick_start_scene(tmp_path):
    """The README's main job: the default scene with the renderer in checkpoints/ (4 frames)."""
    out = tmp_path / "dominoes"
    assert main(["generate", "dominoes", "--frames", "0:4", "-q", "-o", str(out)]) == 0
    frames = read_video(out / "video.mp4")[0]
    assert frames.shape == (4, 64, 64, 3) and frames.std() > 1  # painted, not blank


def test_the_shipped_renderer_paints_a_lights_colour(tmp_path):
    """Lighting is read from the state: the same scene under red lights is painted redder
    than under blue ones (the shipped small renderer, 16 frames at 64 x 64)."""
    colours = {"red": "[1.0,0.35,0.35]", "blue": "[0.35,0.35,1.0]"}
    balance = {}
    for name, colour in colours.items():
        out = tmp_path / name
        assert main(["generate", "stacked_blocks", *(f"scene.lights.{i}.color={colour}" for i in range(3)),
                     "--frames", "0:16", "-q", "-o", str(out)]) == 0
        frames = read_video(out / "video.mp4")[0].astype(float)
        balance[name] = float((frames[..., 0] - frames[..., 2]).mean())
    assert balance["red"] > balance["blue"] + 5, balance
