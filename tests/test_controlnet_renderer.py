"""Bring your own weights: `worldgen generate SCENE renderer=diffusers:PATH` paints with a
diffusers ControlNet pipeline saved on disk, frame by frame, with worldgen's control maps,
warped noise and static-region locking. The pipeline here is a tiny random one this test
builds and saves itself (nothing is downloaded); its ControlNet's zero convolutions are
randomised so that the control maps change the frames, as a trained ControlNet's do."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from worldgen.cli import main
from worldgen.io.video import read_video

FLAGS = ["--frames", "0:5", "--resolution", "16x16", "--steps", "2", "-q"]


def _tokenizer(folder):
    """A CLIP tokenizer over single letters (the test's own vocabulary files)."""
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for letter in "abcdefghijklmnopqrstuvwxyz":
        vocab[letter] = len(vocab)
        vocab[letter + "</w>"] = len(vocab)
    folder.mkdir()
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=16), len(vocab)


@pytest.fixture(scope="module")
def pipelines(tmp_path_factory):
    """Folders of a tiny Stable Diffusion ControlNet pipeline and of the same pipeline
    without its ControlNet (a plain text-to-image pipeline)."""
    from diffusers import (
        AutoencoderKL,
        ControlNetModel,
        DDIMScheduler,
        StableDiffusionControlNetPipeline,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    root = tmp_path_factory.mktemp("pipelines")
    torch.manual_seed(0)
    unet = UNet2DConditionModel(block_out_channels=(8, 16), layers_per_block=1, sample_size=8, in_channels=4,
                                out_channels=4, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=8,
                                norm_num_groups=4, attention_head_dim=2)
    controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(8, 8))
    with torch.no_grad():  # a trained ControlNet's zero convolutions are not zero
        for block in [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block,
                      controlnet.controlnet_cond_embedding.conv_out]:
            block.weight.normal_(std=0.3)
    vae = AutoencoderKL(block_out_channels=(8, 8), latent_channels=4, norm_num_groups=4, layers_per_block=1,
                        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2)
    tokenizer, words = _tokenizer(root / "vocabulary")
    text = CLIPTextModel(CLIPTextConfig(vocab_size=words, hidden_size=8, intermediate_size=16, num_attention_heads=2,
                                        num_hidden_layers=1, max_position_embeddings=16, projection_dim=8,
                                        bos_token_id=0, eos_token_id=1, pad_token_id=1))
    parts = dict(vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet, scheduler=DDIMScheduler(steps_offset=1, clip_sample=False),
                 safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    StableDiffusionControlNetPipeline(controlnet=controlnet, **parts).save_pretrained(root / "controlnet")
    StableDiffusionPipeline(**parts).save_pretrained(root / "text_to_image")
    return root


def test_a_scene_paints_with_a_controlnet_pipeline_frame_by_frame(pipelines, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["generate", "stacked_blocks", f"renderer=diffusers:{pipelines / 'controlnet'}", *FLAGS, "--prompt", "a red block",
                 "-o", str(out), "--noise", "warped", "--lock-static"])
    assert code == 0, capsys.readouterr().err
    video, _ = read_video(out / "video.mp4")
    assert video.shape == (5, 16, 16, 3) and video.std() > 1  # N frames in, N out, not blank
    assert read_video(out / "side_by_side.mp4")[0].shape == (5, 16, 48, 3)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["renderer"] == f"diffusers:{pipelines / 'controlnet'}" and metrics["steps"] == 2
    assert metrics["controlnet_inputs"] == ["depth"] and metrics["prompt"] == "a red block"
    assert metrics["summary"]["warp_error"] >= 0


def _still_clip(frames: int = 3, size: int = 16, changing: bool = False):
    """Inputs of paint_with_controlnet for a clip where nothing moves and the light is
    still: one depth map repeated, zero flow, one renderer stack repeated; ``changing``:
    the right half's depth and shading change in every frame (a light flickering there)."""
    from control.flow import Flow
    from worldgen.pipelines.renderer_inputs import RENDERER_CHANNELS

    rng = np.random.default_rng(0)
    depth = np.repeat(rng.random((1, 3, size, size), dtype=np.float32), frames, axis=0)
    maps = SimpleNamespace(depth=depth, skeleton=np.zeros_like(depth))
    stack = np.repeat(rng.random((1, len(RENDERER_CHANNELS), size, size), dtype=np.float32), frames, axis=0)
    if changing:
        depth[..., size // 2:] = rng.random(depth[..., size // 2:].shape, dtype=np.float32)
        stack[..., size // 2:] = rng.random(stack[..., size // 2:].shape, dtype=np.float32)
    still = np.zeros((frames, size, size), bool)
    flow = Flow(np.zeros((frames, 2, size, size), np.float32), np.zeros((frames, 2, size, size), np.float32), still,
                still.copy())
    return maps, stack, flow


def _options(**changes):
    from worldgen.pipelines.generate import GenerateOptions

    return GenerateOptions(**{"steps": 2, "seed": 0, **changes})


@pytest.mark.parametrize("options, identical", [
    ({}, False),  # independent noise per frame: each frame is sampled afresh
    ({"lock": True}, True),  # locked: the still pixels are painted once and held
    ({"noise": "warped"}, True),  # warped along zero flow: one noise, the same frame
])
def test_still_pixels_are_held_by_locking_and_by_warped_noise(pipelines, options, identical):
    from worldgen.pipelines.controlnet_paint import load_controlnet, paint_with_controlnet

    painter = load_controlnet(f"diffusers:{pipelines / 'controlnet'}")
    maps, stack, flow = _still_clip()
    frames = paint_with_controlnet(painter, maps, stack, flow, _options(**options))
    assert frames.shape == (3, 3, 16, 16) and frames.std() > 0.01
    assert (np.abs(frames[1:] - frames[0]).max() < 1e-5) == identical


def test_locking_holds_the_still_half_of_each_frames_latents_at_every_step(pipelines):
    """The right half changes from frame to frame; the left half's latents are the
    previous frame's exactly, although the U-Net sees the changing half beside them."""
    from worldgen.pipelines.controlnet_paint import latent_noise_and_lock, load_controlnet

    painter = load_controlnet(f"diffusers:{pipelines / 'controlnet'}")
    maps, stack, flow = _still_clip(changing=True)
    noise, lock = latent_noise_and_lock(painter, stack, flow, _options(lock=True))
    assert lock.shape == (3, 8, 8) and lock[1:, :, :4].all() and not lock[1:, :, 4:].any()
    latents = painter.sample([maps.depth], noise, steps=2, lock=lock)
    for t in (1, 2):
        assert torch.equal(latents[t][:, :, :4], latents[0][:, :, :4])
        assert (latents[t][:, :, 4:] - latents[t - 1][:, :, 4:]).abs().mean() > 1e-3
    free = painter.sample([maps.depth], noise, steps=2)
    assert (free[1][:, :, :4] - free[0][:, :, :4]).abs().mean() > 1e-4  # unlocked, the left half drifts


def test_the_control_maps_and_their_weights_steer_the_frames(pipelines):
    from worldgen.pipelines.controlnet_paint import load_controlnet, paint_with_controlnet

    painter = load_controlnet(f"diffusers:{pipelines / 'controlnet'}")
    maps, stack, flow = _still_clip(frames=1)
    plain = paint_with_controlnet(painter, maps, stack, flow, _options())
    maps.depth = 1 - maps.depth
    assert np.abs(paint_with_controlnet(painter, maps, stack, flow, _options()) - plain).mean() > 1e-3
    off = paint_with_controlnet(painter, maps, stack, flow, _options(control_weights={"depth": 0.0}))
    maps.depth = np.zeros_like(maps.depth)
    np.testing.assert_allclose(paint_with_controlnet(painter, maps, stack, flow, _options(control_weights={"depth": 0.0})),
                               off, atol=1e-6)  # a weight of 0: the map is not read


def test_latent_flow_and_occlusion_follow_the_vae_grid():
    from worldgen.pipelines.controlnet_paint import latent_flow, latent_occluded

    flow = np.zeros((1, 2, 4, 4), np.float32)
    flow[:, 0] = 4.0  # 4 image pixels right = 2 latent pixels at scale 2
    flow[:, 1, :2, :2] = 2.0
    latent = latent_flow(flow, 2)
    assert latent.shape == (1, 2, 2, 2) and np.all(latent[:, 0] == 2) and latent[0, 1, 0, 0] == 1 and latent[0, 1, 1, 1] == 0
    occluded = np.zeros((1, 4, 4), bool)
    occluded[0, 3, 0] = True
    assert latent_occluded(occluded, 2).tolist() == [[[False, False], [True, False]]]


@pytest.mark.parametrize("arguments, message", [
    (["renderer=diffusers:{root}/missing"], "missing: renderer: no such folder"),
    (["renderer=diffusers:{root}/vocabulary"], "vocabulary: renderer: not a diffusers pipeline folder: no model_index.json"),
    (["renderer=diffusers:{root}/text_to_image"],
     "model_index.json: renderer: not a ControlNet pipeline: expected a controlnet component, got StableDiffusionPipeline"),
    (["renderer=diffusers:"], "renderer: expected diffusers:PATH"),
    (["renderer=diffusers:{root}/controlnet", "--controlnet-inputs", "depth", "skeleton"],
     "--controlnet-inputs: the pipeline has 1 ControlNet; got 2 maps (depth skeleton)"),
    (["renderer=diffusers:{root}/controlnet", "--controlnet-inputs", "albedo"], "--controlnet-inputs: unknown map 'albedo'"),
    (["renderer=diffusers:{root}/controlnet", "--control-weight", "skeleton=1"],
     "--control-weight: 'skeleton' is not a ControlNet input here"),
    (["renderer=diffusers:{root}/controlnet", "--context", "2"], "--context: a diffusers pipeline paints frame by frame"),
    (["renderer=diffusers:{root}/controlnet", "--resolution", "18x18"], "--resolution: the pipeline paints sizes in "
     "multiples of 4 pixels; got 18x18"),
    (["renderer=diffusers:{root}/controlnet", "--guidance", "nan"], "--guidance: expected a number from 0 to 100"),
])
def test_bad_pipelines_and_inputs_are_one_line_errors(pipelines, tmp_path, capsys, arguments, message):
    flags = FLAGS[:2] + FLAGS[4:] if "--resolution" in arguments else FLAGS
    override, *rest = (a.format(root=pipelines) for a in arguments)
    code = main(["generate", "stacked_blocks", override, *flags, *rest, "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
