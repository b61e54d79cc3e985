"""The temporal training loss: it sees error that changes along the exact flow, not error
that moves with the surfaces, nor real changes of the reference's shading."""

from __future__ import annotations

import torch

from renderer.diffusion.temporal_loss import next_frame_along_flow, temporal_loss

B, T, C, H, W = 1, 4, 3, 16, 20


def _panning(shift: float = 2.0):
    """A flow panning ``shift`` pixels right per frame, nothing occluded."""
    flow = torch.zeros(B, T, 2, H, W)
    flow[:, :, 0] = shift
    return flow, torch.zeros(B, T, H, W, dtype=torch.bool)


def _moving_pattern(shift: int = 2, seed: int = 0):
    """Frames of one random pattern that moves ``shift`` pixels right per frame."""
    base = torch.randn(C, H, W + T * shift, generator=torch.Generator().manual_seed(seed))
    return torch.stack([base[..., T * shift - t * shift:T * shift - t * shift + W] for t in range(T)]).unsqueeze(0)


def test_the_next_frame_seen_along_the_flow_is_the_frame_itself_where_visible():
    frames = _moving_pattern()
    flow, occluded = _panning()
    warped, visible = next_frame_along_flow(frames, flow, occluded)
    assert visible[..., :W - 2].all() and not visible[..., W - 2:].any()  # targets past the right edge
    assert torch.allclose(warped[..., :W - 2], frames[:, :-1, ..., :W - 2], atol=1e-5)


def test_error_that_moves_with_the_surfaces_costs_nothing_and_flicker_does():
    clean = _moving_pattern(seed=0)
    flow, occluded = _panning()
    steady = clean + 0.3 * _moving_pattern(seed=1)  # an error painted on the surfaces: it moves with them
    assert temporal_loss(steady, clean, flow, occluded) < 1e-9
    flicker = clean + 0.3 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(2))
    assert temporal_loss(flicker, clean, flow, occluded) > 0.1  # about 2 x 0.09
    brighter = clean + torch.linspace(0, 0.5, T).view(1, T, 1, 1, 1)  # the reference's own change, missed
    assert temporal_loss(brighter, clean, flow, occluded) > 0.02


def test_occluded_pixels_and_a_shading_change_of_the_reference_cost_nothing():
    clean = _moving_pattern() + torch.linspace(0, 0.5, T).view(1, T, 1, 1, 1)  # a light brightens
    flow, occluded = _panning()
    occluded[..., : W // 2] = True
    predicted = clean.clone()
    predicted[..., : W // 2] += torch.randn(B, T, C, H, W // 2, generator=torch.Generator().manual_seed(3))
    assert temporal_loss(predicted, clean, flow, occluded) < 1e-9  # the flicker is where nothing is seen
    assert temporal_loss(clean, clean, flow, occluded) == 0  # the brightening is the reference's: no penalty


def test_the_training_loss_adds_the_temporal_term_with_its_weight():
    """renderer_loss = MSE + weight x L_temp on the same prediction (a model whose prediction
    flickers on a moving clip)."""
    from types import SimpleNamespace

    from diffusers import DDIMScheduler

    from renderer.diffusion.training import RecipeConfig, renderer_loss

    clean = _moving_pattern(seed=0).clamp(-1, 1)
    flow, occluded = _panning()
    predicted = clean + 0.2 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(4))

    class Flickering(torch.nn.Module):
        config = SimpleNamespace(control_groups=[])

        def forward(self, noisy, timesteps, tokens, token_mask, controls=None, control_weights=None):
            return predicted

    batch = {"rgb": clean, "tokens": torch.zeros(B, T, 1, 4), "token_mask": torch.ones(B, T, 1, dtype=torch.bool),
             "controls": torch.zeros(B, T, 1, H, W), "flow": flow, "flow_occluded": occluded}
    losses = [renderer_loss(Flickering(), DDIMScheduler(), batch, RecipeConfig(temporal_loss=weight),
                            torch.Generator().manual_seed(0)) for weight in (0.0, 2.5)]
    expected = 2.5 * temporal_loss(predicted, clean, flow, occluded)
    assert expected > 0.05 and torch.isclose(losses[1] - losses[0], expected, rtol=1e-4)
