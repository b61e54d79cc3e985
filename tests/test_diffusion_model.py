"""The video denoiser (renderer.diffusion): the control branch's ControlNet guarantees,
checkpoints, frame order, input errors, few-step sampling and a tiny training run."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("diffusers")

from renderer.diffusion import (  # noqa: E402
    CONTROL_CHANNEL_NAMES,
    CONTROL_GROUPS,
    VideoDenoiser,
    make_scheduler,
    paint,
    training_pair,
)

B, T, H, W, S, F = 2, 4, 16, 16, 5, 8
C = len(CONTROL_CHANNEL_NAMES)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: one thread is fastest, and far faster than several on shared cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_model(seed: int = 0, **overrides) -> VideoDenoiser:
    """A tiny denoiser whose output layer is random (as after training: the zero-initialised
    output layer would make every output 0 and every comparison trivial)."""
    torch.manual_seed(seed)
    config = dict(width=32, depth=2, heads=2, control_blocks=1, token_features=F)
    model = VideoDenoiser(**{**config, **overrides}).eval()
    with torch.no_grad():
        model.proj_out.weight.normal_(0, 0.3)
        model.proj_out.bias.normal_(0, 0.1)
    return model


def train_branch_projections(model: VideoDenoiser, seed: int = 1) -> None:
    """Give the branch's projections (the zero-initialised outputs among them, the pixel
    head's last convolution too) random values, as after training."""
    g = torch.Generator().manual_seed(seed)
    head = [model.control.pixel.net[-1]] if model.control.pixel is not None else []
    with torch.no_grad():
        for layer in [*model.control.project.values(), *model.control.zero_out, *head]:
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=g) * 0.3)
            layer.bias.copy_(torch.randn(layer.bias.shape, generator=g) * 0.1)


def inputs(seed: int = 0, frames: int = T):
    """sample, timestep, tokens, token_mask, controls (seeded); the first clip has padding."""
    g = torch.Generator().manual_seed(seed)
    sample = torch.randn(B, frames, 3, H, W, generator=g)
    timestep = torch.tensor([50, 700])
    tokens = torch.randn(B, frames, S, F, generator=g)
    mask = torch.ones(B, frames, S, dtype=torch.bool)
    mask[0, :, 3:] = False
    controls = torch.rand(B, frames, C, H, W, generator=g)
    return sample, timestep, tokens, mask, controls


@pytest.mark.parametrize("pixel_head", [0, 4])
def test_untrained_branch_adds_exact_zeros(pixel_head):
    model = tiny_model(pixel_head=pixel_head)
    sample, t, tokens, mask, controls = inputs()
    with torch.no_grad():
        base = model(sample, t, tokens, mask)
        steered = model(sample, t, tokens, mask, controls)
        named = model(sample, t, tokens, mask, controls, dict.fromkeys(CONTROL_GROUPS, 1.0))
    assert base.shape == (B, T, 3, H, W)
    assert base.abs().mean() > 0.1  # not trivially zero
    assert torch.equal(steered, base)
    assert torch.equal(named, base)


@pytest.mark.parametrize("pixel_head", [0, 4])
def test_trained_branch_steers_and_weights_gate_it(pixel_head):
    model = tiny_model(pixel_head=pixel_head)
    train_branch_projections(model)
    sample, t, tokens, mask, controls = inputs()
    zero_left = torch.ones(T, H, W)
    zero_left[:, :, : W // 2] = 0  # patch-aligned: the two left patch columns
    with torch.no_grad():
        base = model(sample, t, tokens, mask)
        steered = model(sample, t, tokens, mask, controls)
        off = model(sample, t, tokens, mask, controls, dict.fromkeys(CONTROL_GROUPS, 0.0))
        off_map = model(sample, t, tokens, mask, controls, torch.zeros(B, T, H, W))
        half = model(sample, t, tokens, mask, controls, zero_left)
        depth_only = model(sample, t, tokens, mask, controls, {**dict.fromkeys(CONTROL_GROUPS, 0.0), "depth": 1.0})
    assert (steered - base).abs().mean() > 0.05
    assert torch.equal(off, base)
    assert torch.equal(off_map, base)
    assert not torch.equal(depth_only, base) and not torch.equal(depth_only, steered)
    effect = (half - base).abs().mean(dim=(0, 1, 2, 3))  # per image column
    inside, outside = effect[: W // 2].mean(), effect[W // 2:].mean()
    full = (steered - base).abs().mean(dim=(0, 1, 2, 3))[: W // 2].mean()
    assert inside < 0.3 * outside, (inside, outside)
    assert inside < 0.3 * full, (inside, full)  # the map removed most of the effect there


def test_pixel_head_acts_per_pixel_where_the_weights_allow():
    """The head's residual follows a weight map pixel by pixel: with the transformer branch
    off (no copied blocks), a map that is 0 on a region not aligned with the patches leaves
    the base's output there exactly, and the head changes it elsewhere."""
    model = tiny_model(pixel_head=4, control_blocks=0)
    train_branch_projections(model)
    sample, t, tokens, mask, controls = inputs()
    weights = torch.ones(T, H, W)
    weights[:, 3:10, 5:11] = 0  # crosses patch borders
    with torch.no_grad():
        base = model(sample, t, tokens, mask)
        half = model(sample, t, tokens, mask, controls, weights)
    zero = (weights == 0)[None, :, None].expand_as(base)
    assert torch.equal(half[zero], base[zero])
    assert (half - base)[~zero].abs().mean() > 0.05


def test_pixel_head_reads_the_state_only_through_its_film():
    """With the base's output layer at zero (its prediction 0 whatever the tokens), the pixel
    head's residual depends on the state tokens only through its FiLM: not at all while
    the FiLM is zero, and once trained it does."""
    model = tiny_model(pixel_head=4, pixel_head_state=True, control_blocks=0)
    train_branch_projections(model)
    with torch.no_grad():
        model.proj_out.weight.zero_()
        model.proj_out.bias.zero_()
    sample, t, tokens, mask, controls = inputs()
    other = tokens + 1.0
    with torch.no_grad():
        assert torch.equal(model(sample, t, tokens, mask, controls), model(sample, t, other, mask, controls))
        model.control.pixel.film.weight.normal_(std=0.3)
        assert (model(sample, t, tokens, mask, controls) - model(sample, t, other, mask, controls)).abs().mean() > 1e-3


def test_save_and_load_round_trip(tmp_path):
    model = tiny_model(temporal=True, pixel_head=4, pixel_head_state=True)
    train_branch_projections(model)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "config.json").is_file()
    assert list(tmp_path.glob("*.safetensors"))
    loaded = VideoDenoiser.from_pretrained(tmp_path).eval()

    def public(config):
        return {k: v for k, v in dict(config).items() if not k.startswith("_")}

    assert public(loaded.config) == public(model.config)
    assert public(model.config)["control_groups"] == {g: list(c) for g, c in CONTROL_GROUPS.items()}
    assert list(loaded.state_dict()) == list(model.state_dict())
    for name, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[name]), name
    sample, t, tokens, mask, controls = inputs()
    with torch.no_grad():
        assert torch.equal(model(sample, t, tokens, mask, controls), loaded(sample, t, tokens, mask, controls))


def test_padding_tokens_are_ignored_and_real_ones_matter():
    model = tiny_model()
    sample, t, tokens, mask, controls = inputs()  # clip 0: slots 3 and 4 are padding
    with torch.no_grad():
        out = model(sample, t, tokens, mask, controls)
        garbage = tokens.clone()
        garbage[0, :, 3:] = 100.0
        assert torch.equal(model(sample, t, garbage, mask, controls), out)
        unpadded = model(sample[:1], t[:1], tokens[:1, :, :3], mask[:1, :, :3], controls[:1])
        torch.testing.assert_close(unpadded, out[:1], atol=1e-5, rtol=1e-5)
        moved = tokens.clone()
        moved[0, :, 0] += 1.0
        assert (model(sample, t, moved, mask, controls)[0] - out[0]).abs().mean() > 1e-3


def reversed_call(model, sample, t, tokens, mask, controls):
    flip = [1]
    with torch.no_grad():
        forward = model(sample, t, tokens, mask, controls)
        backward = model(sample.flip(flip), t, tokens.flip(flip), mask.flip(flip), controls.flip(flip))
    return forward, backward.flip(flip)


def test_temporal_model_sees_frame_order():
    model = tiny_model()
    train_branch_projections(model)
    forward, backward = reversed_call(model, *inputs())
    assert (forward - backward).abs().max() > 1e-2


def test_per_frame_model_ignores_frame_order():
    model = tiny_model(temporal=False)
    train_branch_projections(model)
    assert all(block.temporal is None for block in model.blocks)
    forward, backward = reversed_call(model, *inputs())
    torch.testing.assert_close(forward, backward, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("case, message", [
    ("channels", "expected 13 channels"),
    ("weight name", "unknown group colour"),
    ("map shape", "weight map of shape"),
    ("patch", "multiples of the patch size 4"),
    ("token features", "token_features=8"),
])
def test_bad_input_raises(case, message):
    model = tiny_model()
    sample, t, tokens, mask, controls = inputs()
    weights = None
    if case == "channels":
        controls = controls[:, :, :12]
    elif case == "weight name":
        weights = {"depth": 1.0, "colour": 0.5}
    elif case == "map shape":
        weights = torch.ones(T, H, W // 2)
    elif case == "patch":
        sample, controls = sample[..., :14, :], controls[..., :14, :]
    elif case == "token features":
        tokens = tokens[..., :5]
    with pytest.raises(ValueError, match=message) as error:
        model(sample, t, tokens, mask, controls, weights)
    assert "\n" not in str(error.value)
    if case == "weight name":
        assert "depth, skeleton, segmentation, normal, flow" in str(error.value)


def test_paint_few_steps():
    model = tiny_model()
    scheduler = make_scheduler()
    _, _, tokens, mask, controls = inputs()
    for steps in (1, 2, 4):
        frames = paint(model, scheduler, tokens, mask, controls, steps=steps, generator=torch.Generator().manual_seed(3))
        assert frames.shape == (B, T, 3, H, W) and frames.dtype == torch.float32
        assert frames.min() >= 0 and frames.max() <= 1
    scheduler.set_timesteps(1)
    assert scheduler.timesteps.tolist() == [999]
    one = paint(model, scheduler, tokens, mask, controls, steps=1, generator=torch.Generator().manual_seed(3))
    noise = torch.randn(B, T, 3, H, W, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = ((model(noise, torch.full((B,), 999), tokens, mask, controls) + 1) / 2).clamp(0, 1)
    assert torch.equal(one, expected)
    two = paint(model, scheduler, tokens, mask, controls, steps=2, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():  # the same two DDIM steps by hand: 999, then 499
        x0 = model(noise, torch.full((B,), 999), tokens, mask, controls)
        alpha = make_scheduler().alphas_cumprod[499]
        x = alpha.sqrt() * x0 + (1 - alpha).sqrt() * noise
        expected = ((model(x, torch.full((B,), 499), tokens, mask, controls) + 1) / 2).clamp(0, 1)
    torch.testing.assert_close(two, expected, atol=1e-5, rtol=1e-5)
    assert 0 < expected.mean() < 1 and expected.std() > 0.05  # not all clamped to a constant
    again = paint(model, scheduler, tokens, mask, controls, steps=4, generator=torch.Generator().manual_seed(3))
    twice = paint(model, scheduler, tokens, mask, controls, steps=4, generator=torch.Generator().manual_seed(3))
    assert torch.equal(again, twice)
    assert not torch.equal(again, one)


def test_training_lowers_the_loss():
    torch.manual_seed(0)
    model = VideoDenoiser(width=32, depth=2, heads=2, control_blocks=1, token_features=F).train()
    scheduler = make_scheduler()
    g = torch.Generator().manual_seed(0)
    clean = torch.rand(1, 2, 3, H, W, generator=g) * 2 - 1
    tokens, mask = torch.randn(1, 2, S, F, generator=g), torch.ones(1, 2, S, dtype=torch.bool)
    controls = torch.rand(1, 2, C, H, W, generator=g)
    held_out = [training_pair(scheduler, clean, torch.Generator().manual_seed(100 + i)) for i in range(4)]

    def held_out_loss():
        with torch.no_grad():
            return sum(torch.mean((model(noisy, t, tokens, mask, controls) - clean) ** 2).item()
                       for noisy, t, _ in held_out) / len(held_out)

    before = held_out_loss()
    optimiser = torch.optim.AdamW(model.parameters(), lr=5e-3)
    for _ in range(100):
        noisy, t, _ = training_pair(scheduler, clean, g)
        loss = torch.mean((model(noisy, t, tokens, mask, controls) - clean) ** 2)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    after = held_out_loss()
    assert after < 0.25 * before, (before, after)


def test_training_pair_uses_the_schedule():
    scheduler = make_scheduler()
    clean = torch.rand(3, 2, 3, 8, 8) * 2 - 1
    noisy, t, noise = training_pair(scheduler, clean, torch.Generator().manual_seed(0))
    assert t.shape == (3,) and t.dtype == torch.int64 and ((0 <= t) & (t < 1000)).all()
    a = scheduler.alphas_cumprod[t].view(-1, 1, 1, 1, 1)
    torch.testing.assert_close(noisy, a.sqrt() * clean + (1 - a).sqrt() * noise)
    again = training_pair(scheduler, clean, torch.Generator().manual_seed(0))
    assert all(torch.equal(x, y) for x, y in zip((noisy, t, noise), again))


def test_scheduler_one_step_is_pure_noise_to_x0():
    scheduler = make_scheduler()
    assert scheduler.alphas_cumprod[-1] == 0  # zero terminal SNR: the last timestep is pure noise
    scheduler.set_timesteps(1)
    assert scheduler.timesteps.tolist() == [999]
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.rand(1, 2, 3, 8, 8, generator=g) * 2 - 1, torch.randn(1, 2, 3, 8, 8, generator=g)
    assert torch.equal(scheduler.step(x0, 999, noise).prev_sample, x0)  # the step lands on alpha = 1
    scheduler.set_timesteps(4)
    assert scheduler.timesteps.tolist() == [999, 749, 499, 249]
