"""A training loss on how the predicted clean frames change along the exact flow.

With the forward flow f_t (pixels, frame t to t + 1) and its occlusion mask, the next frame
seen from frame t is W(x_{t+1})(p) = x_{t+1}(p + f_t(p)) (bilinear), and

    L_temp = mean over visible p, t < T - 1, c of  ((W(x̂_{t+1}) - x̂_t) - (W(x_{t+1}) - x_t))²

where x̂ is the predicted clean clip and x the reference clip. Written with the error
e = x̂ - x, L_temp = |W(e_{t+1}) - e_t|²: it penalises error that changes along the flow
(flicker, shimmer, patterns sliding over surfaces) and leaves alone error that stays put
(it is the x0 loss's job). Comparing x̂_{t+1} with the warped x̂_t alone, the brightness-constancy
form, would also penalise every real change of a surface's shading, moving lights and
shadows included, so its minimum is not the reference clip; this form's minimum is.

A pixel counts when its forward flow has a target (not occluded) and the target lies in the
frame. Units: clips in [-1, 1], so the loss is on the scale of the x0 loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def next_frame_along_flow(frames: torch.Tensor, flow: torch.Tensor, occluded: torch.Tensor
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """W(x_{t+1}) for t = 0 .. T-2: (B, T-1, C, H, W), and the visible mask (B, T-1, H, W)
    bool. ``frames`` (B, T, C, H, W); ``flow`` (B, T, 2, H, W) pixels (x, y) from t to t + 1;
    ``occluded`` (B, T, H, W) bool, True where the flow has no target."""
    B, T, C, H, W = frames.shape
    ys, xs = torch.meshgrid(torch.arange(H, dtype=flow.dtype, device=flow.device),
                            torch.arange(W, dtype=flow.dtype, device=flow.device), indexing="ij")
    x = xs + flow[:, :-1, 0]
    y = ys + flow[:, :-1, 1]
    grid = torch.stack([2 * x / max(W - 1, 1) - 1, 2 * y / max(H - 1, 1) - 1], dim=-1)  # (B, T-1, H, W, 2)
    warped = F.grid_sample(frames[:, 1:].reshape(B * (T - 1), C, H, W), grid.reshape(B * (T - 1), H, W, 2),
                           mode="bilinear", padding_mode="border", align_corners=True)
    inside = (x >= 0) & (x <= W - 1) & (y >= 0) & (y <= H - 1)
    return warped.view(B, T - 1, C, H, W), inside & ~occluded[:, :-1]


def temporal_loss(predicted: torch.Tensor, clean: torch.Tensor, flow: torch.Tensor,
                  occluded: torch.Tensor) -> torch.Tensor:
    """L_temp of the module docstring, a scalar (0 when no pixel is visible). ``predicted``
    and ``clean`` (B, T, C, H, W) in [-1, 1]; ``flow`` and ``occluded`` as
    :func:`next_frame_along_flow` takes them."""
    if predicted.shape[1] < 2:
        return predicted.new_zeros(())
    error = predicted - clean
    warped, visible = next_frame_along_flow(error, flow, occluded)
    change = (warped - error[:, :-1]) ** 2  # (B, T-1, C, H, W)
    weight = visible.unsqueeze(2).to(change.dtype)
    return (change * weight).sum() / (weight.sum() * change.shape[2]).clamp(min=1.0)
