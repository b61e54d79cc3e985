"""Few-step sampling and training pairs for :class:`renderer.diffusion.model.VideoDenoiser`.

The scheduler is diffusers' DDIM set up for a model that predicts the clean clip x0
(``prediction_type="sample"``), with a zero terminal SNR (Lin et al. 2024, "Common
diffusion noise schedules and sample steps are flawed"): the last training timestep is pure
noise, so sampling starts from exactly what the model saw in training, and "trailing"
timestep spacing makes the first of any number of steps that last timestep. With
``set_alpha_to_one=True`` the step after the last one lands on alpha = 1 (no noise), so the
final DDIM step returns the model's x0 prediction as it is."""

from __future__ import annotations

import torch
from diffusers import DDIMScheduler

NUM_TRAIN_TIMESTEPS = 1000


def make_scheduler(num_train_timesteps: int = NUM_TRAIN_TIMESTEPS) -> DDIMScheduler:
    """DDIM for few-step x0 prediction: linear betas rescaled to zero terminal SNR,
    trailing spacing (1 step -> timestep num_train_timesteps - 1), no clipping of x0."""
    return DDIMScheduler(
        num_train_timesteps=num_train_timesteps,
        beta_schedule="linear",
        prediction_type="sample",
        timestep_spacing="trailing",
        rescale_betas_zero_snr=True,
        clip_sample=False,
        set_alpha_to_one=True,
        steps_offset=0,
    )


@torch.no_grad()
def paint(model, scheduler: DDIMScheduler, tokens: torch.Tensor, token_mask: torch.Tensor,
          controls: torch.Tensor | None = None, control_weights=None, steps: int = 4,
          generator: torch.Generator | None = None, noise: torch.Tensor | None = None,
          size: tuple[int, int] | None = None, lock: torch.Tensor | None = None,
          known: torch.Tensor | None = None) -> torch.Tensor:
    """Frames (B, T, 3, H, W) float32 in [0, 1] from ``steps`` DDIM steps of ``model``.

    tokens (B, T, S, F), token_mask (B, T, S), controls (B, T, C, H, W) or None and
    control_weights are passed to the model as they are (see ``VideoDenoiser.forward``).
    The start is ``noise`` (B, T, 3, H, W) when given (e.g. flow-warped noise), else
    standard normal noise drawn from ``generator``; H and W come from ``noise``, else from
    ``controls``, else from ``size`` (height, width). Sets the scheduler's timesteps. Returns
    the last x0 prediction mapped from [-1, 1] to [0, 1] and clamped.

    Known values: ``known`` (B, T, 3, H, W) in [0, 1], NaN where free (e.g. the frames of the
    previous window a continuation sees as context): at every step the x0 prediction is
    replaced by them where given, so the free frames are sampled around them (temporal
    attention carries identity and colour over).

    Static-region locking: ``lock`` (B, H, W) bool marks pixels whose surface and lighting
    do not change over the clip. They share frame 0's noise, and at every step their x0
    prediction is replaced by one value for all frames: the known one where a frame has it,
    else the mean over the frames; so they come out identical in every frame while the
    rest keeps its full freedom."""
    if steps < 1:
        raise ValueError(f"steps: expected at least 1, got {steps}")
    B, T = tokens.shape[:2]
    device = tokens.device
    if noise is None:
        if controls is not None:
            H, W = controls.shape[-2:]
        elif size is not None:
            H, W = size
        else:
            raise ValueError("paint: expected noise, controls or size to give the frame size")
        noise = torch.randn((B, T, 3, H, W), generator=generator, dtype=torch.float32,
                            device=generator.device if generator is not None else device).to(device)
    elif noise.ndim != 5 or tuple(noise.shape[:3]) != (B, T, 3):
        raise ValueError(f"noise: expected ({B}, {T}, 3, H, W), got {tuple(noise.shape)}")
    scheduler.set_timesteps(steps)
    x = noise.to(torch.float32) * scheduler.init_noise_sigma
    anchor = None
    if known is not None:
        known = known.to(device, torch.float32) * 2 - 1
        given = ~torch.isnan(known)
        anchor = torch.where(given, known, 0).sum(1, keepdim=True) / given.sum(1, keepdim=True)  # NaN: never known
    if lock is not None:
        lock = lock.to(device).bool()[:, None, None]  # (B, 1, 1, H, W)
        x = torch.where(lock, x[:, :1], x)
    x0 = x
    for t in scheduler.timesteps:
        t = int(t)
        x0 = model(x, torch.full((B,), t, device=device), tokens, token_mask, controls, control_weights)
        if known is not None:
            x0 = torch.where(given, known, x0)
        if lock is not None:
            shared = x0.mean(dim=1, keepdim=True)
            if anchor is not None:
                shared = torch.where(torch.isnan(anchor), shared, anchor)
            x0 = torch.where(lock, shared, x0)
        x = scheduler.step(x0, t, x).prev_sample
    return ((x0.float() + 1) / 2).clamp(0, 1)


def training_pair(scheduler: DDIMScheduler, clean: torch.Tensor, generator: torch.Generator | None = None,
                  noise: torch.Tensor | None = None, timesteps: tuple[int, int] | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Noisy clips for one training step. clean (B, T, 3, H, W) in [-1, 1]. Returns
    (noisy (B, T, 3, H, W), timesteps (B,) int64 uniform over the training timesteps (or over
    ``timesteps`` = [low, high), a noise-level expert's range), one per clip, noise (B, T, 3,
    H, W) standard normal: ``noise`` when given, e.g. warped along the clip's flow), drawn
    from ``generator``; the model's target is ``clean`` (x0 prediction)."""
    draw_on = generator.device if generator is not None else clean.device
    low, high = timesteps or (0, scheduler.config.num_train_timesteps)
    timesteps = torch.randint(low, high, (clean.shape[0],), generator=generator, device=draw_on).to(clean.device)
    if noise is None:
        noise = torch.randn(clean.shape, generator=generator, dtype=clean.dtype, device=draw_on)
    noise = noise.to(clean.device, clean.dtype)
    return scheduler.add_noise(clean, noise, timesteps), timesteps, noise
