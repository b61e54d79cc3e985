"""Noise-level experts: the high-noise denoiser answers the timesteps at and above the
boundary, the low-noise one those below; train.timesteps keeps training to a range."""

from __future__ import annotations

import pytest
import torch

from renderer.diffusion.experts import NoiseExperts
from renderer.diffusion.model import VideoDenoiser
from renderer.diffusion.sampling import make_scheduler, training_pair

CONFIG = dict(patch_size=4, width=16, depth=1, heads=2, control_blocks=0, token_features=4)


def _pair():
    torch.manual_seed(0)
    high, low = VideoDenoiser(**CONFIG), VideoDenoiser(**CONFIG)
    for model in (high, low):
        torch.nn.init.normal_(model.proj_out.weight, std=0.5)  # the output layer starts at zero
    return high.eval(), low.eval()


def test_each_timestep_goes_to_its_expert():
    high, low = _pair()
    experts = NoiseExperts(high, low, boundary=500)
    g = torch.Generator().manual_seed(0)
    sample, tokens = torch.randn(3, 2, 3, 8, 8, generator=g), torch.randn(3, 2, 1, 4, generator=g)
    mask = torch.ones(3, 2, 1, dtype=torch.bool)
    t = torch.tensor([999, 500, 499])
    with torch.no_grad():
        out = experts(sample, t, tokens, mask)
        assert torch.equal(out[:2], high(sample, t, tokens, mask)[:2])
        assert torch.equal(out[2:], low(sample, t, tokens, mask)[2:])
        assert not torch.allclose(out[2:], high(sample, t, tokens, mask)[2:])
    assert experts.config is high.config


def test_experts_must_share_an_architecture(tmp_path):
    with pytest.raises(ValueError, match="one architecture"):
        NoiseExperts(VideoDenoiser(**CONFIG), VideoDenoiser(**{**CONFIG, "width": 32}), 500)
    high, low = _pair()
    for name, model in (("high", high), ("low", low)):  # loaded from two folders: their paths differ
        model.save_pretrained(tmp_path / name)
    NoiseExperts(*(VideoDenoiser.from_pretrained(tmp_path / name) for name in ("high", "low")), 500)


def test_training_timesteps_stay_in_the_experts_range():
    clean = torch.zeros(4096, 1, 3, 1, 1)
    _, timesteps, _ = training_pair(make_scheduler(), clean, torch.Generator().manual_seed(0), timesteps=(500, 1000))
    assert timesteps.min() == 500 and timesteps.max() == 999
