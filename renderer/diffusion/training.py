"""The training recipe of the video diffusion renderer: one loss on one batch.

``objective="diffusion"``: the clip is noised to a random timestep (one per clip) and the
model predicts the clean clip x0 (x0 prediction: the controls nearly determine the
frames, so few-step sampling serves). ``objective="regression"``: the "deep shading"
baseline on the same backbone: the model always sees a zero sample at the last timestep,
so it maps state and controls to frames deterministically.

Control dropout: each control group of each clip is switched off (weight 0) with
probability ``group_dropout``, and all of them with probability ``all_dropout``, so every
control also works alone and the base learns to paint from the state tokens without any.
Warped noise: with probability ``warped_noise`` a clip's noise is moved along its exact
forward flow (:mod:`renderer.diffusion.noise_warp`) instead of drawn independently per
frame, so that the renderer learns to paint from noise that repeats where surfaces stay
(sampling with ``generate --noise warped`` is out of distribution otherwise).
Noise-level experts: ``timesteps`` = [low, high) trains on those timesteps only (one expert
of a :class:`renderer.diffusion.experts.NoiseExperts` pair).
Temporal loss: with weight ``temporal_loss`` > 0 the loss adds
:func:`renderer.diffusion.temporal_loss.temporal_loss`, which penalises predicted-frame
error that changes along the exact flow.

Batches are dicts of :mod:`worldgen.pipelines.renderer_data`'s layout: ``rgb``
(B, T, 3, H, W) in [-1, 1], ``controls`` (B, T, C, H, W), ``tokens`` (B, T, S, F),
``token_mask`` (B, T, S), ``flow`` (B, T, 2, H, W) forward flow in pixels and
``flow_occluded`` (B, T, H, W) bool."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from renderer.diffusion.noise_warp import warped_noise
from renderer.diffusion.sampling import training_pair
from renderer.diffusion.temporal_loss import temporal_loss

OBJECTIVES = ("diffusion", "regression")


@dataclass
class RecipeConfig:
    """The parts of the training config the loss needs."""

    objective: str = "diffusion"  # diffusion | regression
    group_dropout: float = 0.15  # chance a control group of a clip is off
    all_dropout: float = 0.1  # chance every control of a clip is off
    warped_noise: float = 0.0  # chance a clip's noise is warped along its flow
    temporal_loss: float = 0.0  # weight of the temporal loss on the predicted clean clip
    timesteps: tuple[int, int] | None = None  # [low, high): a noise-level expert's range (None: all)


def dropout_weights(groups: list[str], batch: int, frames: int, height: int, width: int, config: RecipeConfig,
                    generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Per group a (B, T, H, W) weight map of 0 (dropped for that clip) or 1."""
    keep_all = torch.rand(batch, generator=generator) >= config.all_dropout
    weights = {}
    for group in groups:
        keep = keep_all & (torch.rand(batch, generator=generator) >= config.group_dropout)
        weights[group] = keep.float().view(batch, 1, 1, 1).expand(batch, frames, height, width)
    return weights


def renderer_loss(model, scheduler, batch: dict[str, torch.Tensor], config: RecipeConfig,
                  generator: torch.Generator, controls: bool = True) -> torch.Tensor:
    """Mean squared error of the predicted clean clip (in [-1, 1] units) on ``batch``, plus
    ``config.temporal_loss`` times the temporal loss.
    ``model`` may be wrapped (accelerate); ``controls=False`` trains without the branch
    (the base stage of two-stage training)."""
    clean = batch["rgb"]
    B, T, _, H, W = clean.shape
    if config.objective == "diffusion":
        noisy, timesteps, _ = training_pair(scheduler, clean, generator, _noise(batch, config, generator),
                                            config.timesteps)
    else:
        noisy = torch.zeros_like(clean)
        timesteps = torch.full((B,), scheduler.config.num_train_timesteps - 1, dtype=torch.long)
    groups = list(_unwrap(model).config.control_groups)
    weights = dropout_weights(groups, B, T, H, W, config, generator) if controls else None
    predicted = model(noisy, timesteps.to(clean.device), batch["tokens"], batch["token_mask"],
                      controls=batch["controls"] if controls else None,
                      control_weights=None if weights is None else {g: w.to(clean.device) for g, w in weights.items()})
    loss = F.mse_loss(predicted, clean)
    if config.temporal_loss > 0:
        loss = loss + config.temporal_loss * temporal_loss(predicted, clean, batch["flow"], batch["flow_occluded"])
    return loss


def _noise(batch: dict[str, torch.Tensor], config: RecipeConfig, generator: torch.Generator) -> torch.Tensor | None:
    """(B, T, 3, H, W) noise with each clip warped along its flow with chance
    ``config.warped_noise`` (forward links only), else None (independent noise)."""
    if config.warped_noise <= 0:
        return None
    clean = batch["rgb"]
    noise = torch.randn(clean.shape, generator=generator)
    for b in torch.nonzero(torch.rand(len(clean), generator=generator) < config.warped_noise).flatten().tolist():
        flow, occluded = batch["flow"][b].cpu(), batch["flow_occluded"][b].cpu()
        none = torch.ones_like(occluded)
        noise[b] = warped_noise(flow, occluded, torch.zeros_like(flow), none, generator=generator)
    return noise


def _unwrap(model):
    return getattr(model, "module", model)
