"""Warped noise (Go-with-the-Flow) stays exactly i.i.d. standard Gaussian in every frame
while moving with the surfaces; bilinear warping does not."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from renderer.diffusion.noise_warp import warped_noise

T, H, W = 6, 48, 48


def _zoom(scale=1.08, shift=(1.3, 0.4)):
    """Forward and backward flow (T, 2, H, W) of a zoom about the centre plus a shift, the
    border band that leaves the frame marked occluded."""
    y, x = torch.meshgrid(torch.arange(H).float(), torch.arange(W).float(), indexing="ij")
    forward = torch.stack([(x - W / 2) * (scale - 1) + shift[0], (y - H / 2) * (scale - 1) + shift[1]])
    backward = torch.stack([(x - W / 2) * (1 / scale - 1) - shift[0] / scale,
                            (y - H / 2) * (1 / scale - 1) - shift[1] / scale])
    return forward.expand(T, 2, H, W), backward.expand(T, 2, H, W)


def _still():
    return torch.zeros(T, H, W, dtype=torch.bool)


@pytest.mark.parametrize("scale", [1.08, 1 / 1.08])  # surfaces that grow (expansion), that shrink (contraction)
def test_every_frame_is_standard_normal_and_spatially_uncorrelated(scale):
    forward, backward = _zoom(scale)
    frames = torch.stack([warped_noise(forward, _still(), backward, _still(), generator=torch.Generator().manual_seed(s))
                          for s in range(30)])  # (30, T, 3, H, W)
    samples = 30 * 3 * H * W
    for t in range(T):
        x = frames[:, t]
        assert abs(x.mean()) < 4 / samples ** 0.5, t
        assert abs(x.var() - 1) < 4 * (2 / samples) ** 0.5, t
        for neighbour in (x[..., 1:] * x[..., :-1], x[..., 1:, :] * x[..., :-1, :]):
            assert abs(neighbour.mean()) < 5 / neighbour.numel() ** 0.5, t  # 24 checks of one seeded draw
    # ... and it does move with the flow: consecutive frames agree along it far more than by chance.
    t0, t1 = frames[:, 2], frames[:, 3]
    assert (t1[..., 20:28, 20:28] * t0[..., 20:28, 20:28]).mean() < 0.2  # not the same noise in place
    assert _along_flow_correlation(t0, t1, forward[2]) > 0.3


def _along_flow_correlation(before, after, flow):
    """Correlation of frame t's noise with frame t + 1's at the nearest pixel its flow reaches."""
    y, x = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    tx, ty = torch.round(x + flow[0]).long(), torch.round(y + flow[1]).long()
    inside = (tx >= 0) & (tx < W) & (ty >= 0) & (ty < H)
    return float((before[..., inside] * after[..., ty[inside], tx[inside]]).mean())


def test_bilinear_warping_is_not_standard_normal():
    """The reason for the algorithm: warping noise by bilinear sampling at half-pixel shifts
    halves its variance and correlates neighbours."""
    noise = torch.randn(1, 3, H, W, generator=torch.Generator().manual_seed(0))
    y, x = torch.meshgrid(torch.linspace(-1, 1, H), torch.linspace(-1, 1, W), indexing="ij")
    grid = torch.stack([x + 1 / W, y + 1 / H], dim=-1)[None]  # half a pixel in x and y
    warped = F.grid_sample(noise, grid, mode="bilinear", align_corners=True)[..., 1:-1, 1:-1]
    assert warped.var() < 0.4
    assert (warped[..., 1:] * warped[..., :-1]).mean() / warped.var() > 0.4  # neighbours correlate
    forward, backward = _zoom(1.0, (0.5, 0.5))
    ours = warped_noise(forward, _still(), backward, _still(), generator=torch.Generator().manual_seed(0))[-1]
    assert abs(ours.var() - 1) < 0.05 and abs((ours[..., 1:] * ours[..., :-1]).mean()) < 0.03


def test_a_whole_pixel_shift_moves_the_noise_exactly():
    forward, backward = _zoom(1.0, (2.0, -1.0))
    noise = warped_noise(forward, _still(), backward, _still(), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(noise[1][:, 0:H - 1, 2:], noise[0][:, 1:, :W - 2], rtol=0, atol=1e-6)
    # The strip that enters the frame has no source: fresh noise, not a copy.
    assert (noise[1][:, :, :2] - noise[0][:, :, :2]).abs().min() > 0


def test_static_surfaces_keep_their_noise_while_others_move():
    forward, backward = torch.zeros(T, 2, H, W), torch.zeros(T, 2, H, W)
    forward[:, 0, 10:20, 10:20] = 3.0  # a square moving right by 3 pixels a frame
    backward[:, 0, 10:20, 13:23] = -3.0
    occluded_forward, occluded_backward = _still(), _still()
    occluded_forward[:, 10:20, 20:23] = True  # the floor the square covers next
    occluded_backward[:, 10:20, 10:13] = True  # the floor it uncovers: no source in the previous frame
    noise = warped_noise(forward, occluded_forward, backward, occluded_backward,
                         generator=torch.Generator().manual_seed(2))
    static = torch.ones(H, W, dtype=torch.bool)
    static[10:20, 10:23] = False
    for t in range(1, T):
        torch.testing.assert_close(noise[t][:, static], noise[0][:, static], rtol=0, atol=1e-6)
    torch.testing.assert_close(noise[1][:, 10:20, 13:23], noise[0][:, 10:20, 10:20], rtol=0, atol=1e-6)
    assert (noise[1][:, 10:20, 10:13] - noise[0][:, 10:20, 10:13]).abs().min() > 0  # disoccluded: fresh


def test_no_motion_gives_the_same_noise_in_every_frame_and_a_seed_repeats_it():
    still = torch.zeros(T, 2, H, W)
    noise = warped_noise(still, _still(), still, _still(), generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(noise[t], noise[0]) for t in range(T))
    again = warped_noise(still, _still(), still, _still(), generator=torch.Generator().manual_seed(3))
    assert torch.equal(noise, again)
