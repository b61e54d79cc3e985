"""Noise that moves with the surfaces: each frame's sampling noise is the previous frame's,
transported along the exact flow, and is still exactly i.i.d. standard Gaussian.

The algorithm is Go-with-the-Flow's (Burgert et al., "Go-with-the-Flow: Motion-Controllable
Video Diffusion Models Using Real-Time Warped Noise", CVPR 2025): the noise of a frame is a
grid of weighted values; between frames every pixel is linked to the pixels of the next
frame that it reaches (the forward flow, rounded to the nearest pixel) and that reach it
(the backward flow), skipping occluded ones. Then

- a source pixel linked to n targets (expansion) sends each q / sqrt(n) + (z_k - mean z)
  with fresh z ~ N(0, 1): each share is N(0, 1), the shares are uncorrelated, and they sum
  to sqrt(n) q, so the value is kept;
- a target pixel linked to several shares e_i of weights w_i (contraction) takes
  sum w_i e_i / sqrt(sum w_i^2), a unit-variance combination of independent N(0, 1), and
  the weight sum w_i;
- a target pixel linked to nothing (a surface that appears) takes fresh noise, weight 1.

Every share is used by one target only and shares of different sources are independent,
so each frame is exactly i.i.d. N(0, 1), whatever the motion; a pixel whose surface does
not move keeps its noise exactly. Plain bilinear warping, by contrast, averages
neighbours: its variance drops and neighbouring values correlate.

Why this one rather than "How I Warped Your Noise" (Chang et al., ICLR 2024), the integral
form: the integral form needs each pixel's warped footprint rasterised as a polygon on an
upsampled noise grid, which is costly on a CPU; this one needs only gathers and
scatter-adds on the flow we have exactly, and it is exact for the distribution too (it
keeps less of the sub-pixel structure, which 4 x 4 patches do not see)."""

from __future__ import annotations

import torch


def warped_noise(forward_flow: torch.Tensor, forward_occluded: torch.Tensor, backward_flow: torch.Tensor,
                 backward_occluded: torch.Tensor, channels: int = 3,
                 generator: torch.Generator | None = None, first: torch.Tensor | None = None) -> torch.Tensor:
    """(T, channels, H, W) float32 noise, every frame i.i.d. N(0, 1), frame t + 1 being frame
    t's moved along the flow. ``forward_flow`` (T, 2, H, W) pixels (x, y) from frame t to
    t + 1, ``forward_occluded`` (T, H, W) bool (True: no correspondence); ``backward_flow``
    and ``backward_occluded`` likewise from t to t - 1 (frame 0's unused). ``first``
    (channels, H, W): frame 0's noise (default: drawn from ``generator``)."""
    T, _, H, W = forward_flow.shape
    noise = torch.empty(T, channels, H, W)
    noise[0] = torch.randn(channels, H, W, generator=generator) if first is None else first
    weight = torch.ones(H * W)
    for t in range(1, T):
        source, target = _links(forward_flow[t - 1], forward_occluded[t - 1], backward_flow[t], backward_occluded[t])
        values, weight = _transport(noise[t - 1].reshape(channels, -1), weight, source, target, generator)
        noise[t] = values.reshape(channels, H, W)
    return noise


def _links(forward_flow, forward_occluded, backward_flow, backward_occluded) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat pixel indices (source in frame t, target in frame t + 1) of every link, each once."""
    H, W = forward_flow.shape[-2:]
    forward = _reached(forward_flow, forward_occluded)
    backward = _reached(backward_flow, backward_occluded)
    pixels = torch.arange(H * W)
    source = torch.cat([pixels[forward >= 0], backward[backward >= 0]])
    target = torch.cat([forward[forward >= 0], pixels[backward >= 0]])
    unique = torch.unique(source * (H * W) + target)
    return unique // (H * W), unique % (H * W)


def _reached(flow: torch.Tensor, occluded: torch.Tensor) -> torch.Tensor:
    """(H*W,) flat index of the nearest pixel each pixel's flow reaches; -1 where occluded or
    outside the frame."""
    H, W = flow.shape[-2:]
    y, x = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    tx = torch.round(x + flow[0].float()).long()
    ty = torch.round(y + flow[1].float()).long()
    valid = ~occluded.bool() & (tx >= 0) & (tx < W) & (ty >= 0) & (ty < H)
    return torch.where(valid, ty * W + tx, -1).reshape(-1)


def _transport(noise: torch.Tensor, weight: torch.Tensor, source: torch.Tensor, target: torch.Tensor,
               generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Frame t's ``noise`` (C, N) and ``weight`` (N,) moved along the links -> frame t + 1's."""
    channels, pixels = noise.shape
    shares = torch.bincount(source, minlength=pixels).float()  # links leaving each source pixel
    fresh = torch.randn(channels, len(source), generator=generator)
    mean = torch.zeros(channels, pixels).index_add_(1, source, fresh) / shares.clamp_min(1)
    share = noise[:, source] / shares[source].sqrt() + (fresh - mean[:, source])
    w = weight[source] / shares[source]
    total = torch.zeros(channels, pixels).index_add_(1, target, share * w)
    norm = torch.zeros(pixels).index_add_(0, target, w * w).sqrt()
    new_weight = torch.zeros(pixels).index_add_(0, target, w)
    linked = norm > 0
    values = torch.where(linked, total / norm.clamp_min(1e-30), torch.randn(channels, pixels, generator=generator))
    return values, torch.where(linked, new_weight, torch.ones(pixels))
