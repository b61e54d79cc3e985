"""Noise-level experts: two denoisers of one architecture, one trained on the high-noise
timesteps and one on the low-noise ones (``train.timesteps``), switched at a boundary
timestep while sampling (as eDiff-I and Wan 2.2 do at far larger scale). With few sampling
steps each expert sees only its own steps: at 4 trailing steps of 1,000 with the boundary
at 500, timesteps 999 and 749 go to the high-noise expert, 499 and 249 to the low-noise one."""

from __future__ import annotations

import torch
from torch import nn


class NoiseExperts(nn.Module):
    """Calls ``high`` for timesteps >= ``boundary`` and ``low`` below it; ``config`` is
    ``high``'s (both read the same inputs). Arguments and output as ``VideoDenoiser.forward``."""

    def __init__(self, high: nn.Module, low: nn.Module, boundary: int):
        super().__init__()
        if _architecture(high.config) != _architecture(low.config):
            raise ValueError("expected two denoisers of one architecture and inputs")
        self.high, self.low, self.boundary = high, low, int(boundary)

    @property
    def config(self):
        return self.high.config

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        timestep = torch.as_tensor(timestep, device=sample.device).expand(sample.shape[0])
        high = timestep >= self.boundary
        if high.all():
            return self.high(sample, timestep, *args, **kwargs)
        if not high.any():
            return self.low(sample, timestep, *args, **kwargs)
        return torch.where(high.view(-1, 1, 1, 1, 1), self.high(sample, timestep, *args, **kwargs),
                           self.low(sample, timestep, *args, **kwargs))


def _architecture(config) -> dict:
    """A denoiser's config without diffusers' bookkeeping (``_name_or_path``, versions)."""
    return {k: v for k, v in dict(config).items() if not k.startswith("_")}
