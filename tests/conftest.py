"""Shared test material: a clip whose exact flow is known without rendering; a tiny dataset
at 16 x 16 and a tiny diffusion renderer trained on it for a few steps."""

from __future__ import annotations

import numpy as np
import pytest

from control.flow import Flow


def make_translating_clip(frames: int = 6, height: int = 32, width: int = 40, shift: int = 2,
                          seed: int = 0) -> tuple[np.ndarray, Flow]:
    """A random texture sliding left by ``shift`` whole pixels per frame, float32
    (T, 3, H, W) in [0.2, 0.8], with its exact flow: forward (-shift, 0), backward
    (+shift, 0); the columns that leave the image are occluded."""
    strip = np.random.default_rng(seed).uniform(0.2, 0.8, (3, height, width + shift * (frames - 1))).astype(np.float32)
    clip = np.stack([strip[:, :, shift * t: shift * t + width] for t in range(frames)])
    forward = np.zeros((frames, 2, height, width), np.float32)
    forward[:, 0] = -shift
    backward = -forward
    forward_occluded = np.zeros((frames, height, width), bool)
    forward_occluded[:, :, :shift] = True
    forward_occluded[-1] = True
    backward_occluded = np.zeros_like(forward_occluded)
    backward_occluded[:, :, width - shift:] = True
    backward_occluded[0] = True
    return clip, Flow(forward, backward, forward_occluded, backward_occluded)


@pytest.fixture
def translating_clip():
    """:func:`make_translating_clip` (call it with the sizes a test needs)."""
    return make_translating_clip


@pytest.fixture(scope="session")
def tiny_renderer_data(tmp_path_factory):
    """A train and a validation folder of objects_drop episodes at 16 x 16, 6 frames."""
    from worldgen.cli import main

    root = tmp_path_factory.mktemp("tiny_renderer_data")
    for split, episodes in (("train", 2), ("validation", 2)):
        assert main(["dataset", "generate", "objects_drop", "resolution=[16,16]", "num_frames=6", "spp=1", "--split", split,
                     "--episodes", str(episodes), "--workers", "1", "-q", "-o", str(root / split)]) == 0
    return root


@pytest.fixture(scope="session")
def tiny_renderer(tiny_renderer_data, tmp_path_factory):
    """The folder of a tiny renderer trained for 8 steps on ``tiny_renderer_data``."""
    from worldgen.pipelines.train_renderer import load_config, run_training

    root = tmp_path_factory.mktemp("tiny_renderer")
    config = load_config([f"data=[{tiny_renderer_data / 'train'}]", "validation=[]", "model=tiny", "train.steps=8",
                          "train.clip_length=4", "train.warmup=2", f"run_dir={root / 'run'}",
                          f"output={root / 'renderer'}", "device=cpu"])
    return run_training(config, progress=False)
