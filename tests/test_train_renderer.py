"""`worldgen train renderer`: the tiny config trains, its loss falls, a run resumes to the
same weights, the output folder loads, and mistakes are one line with exit 2."""

from __future__ import annotations

import json

import pytest
import torch

from renderer.diffusion.pipeline import VideoRenderer
from worldgen.cli import main

TINY_DATA = ["resolution=[16,16]", "num_frames=6", "spp=1"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("renderer_data")
    for split, episodes in (("train", 3), ("validation", 1)):
        assert main(["dataset", "generate", "objects_drop", *TINY_DATA, "--split", split, "--episodes", str(episodes),
                     "--workers", "1", "-q", "-o", str(root / split)]) == 0
    return root


def _overrides(data, run, out, steps: int, until: int | None = None) -> list[str]:
    return [f"data=[{data / 'train'}]", f"validation=[{data / 'validation'}]", "model=tiny", f"train.steps={steps}",
            f"train.until={until or 'null'}",
            "train.clip_length=4", "train.log_every=5", "train.validate_every=20", "train.checkpoint_every=10",
            "train.warmup=5", "train.learning_rate=3e-3", "train.validation_clips=1", f"run_dir={run}",
            f"output={out}", "device=cpu", "threads=1"]


def _weights(folder) -> dict[str, torch.Tensor]:
    return VideoRenderer.from_pretrained(folder).model.state_dict()


def test_tiny_renderer_trains_and_its_loss_falls(data, tmp_path, capsys):
    run, out = tmp_path / "run", tmp_path / "renderer"
    assert main(["train", "renderer", *_overrides(data, run, out, 40), "-q"]) == 0, capsys.readouterr().err
    history = json.loads((run / "history.json").read_text())
    losses = [h["loss"] for h in history if "loss" in h]
    assert losses[-1] < 0.6 * losses[0]
    assert any("validation" in h for h in history)
    assert (run / "loss.png").stat().st_size > 1000
    assert (run / "validation" / "step_000020.mp4").is_file() and (run / "validation" / "step_000040.png").is_file()
    renderer = VideoRenderer.from_pretrained(out)
    assert renderer.sample_size == 16 and renderer.clip_length == 4 and renderer.objective == "diffusion"
    assert json.loads((out / "training.json").read_text())["step"] == 40


def test_a_resumed_run_ends_with_the_same_weights(data, tmp_path, capsys):
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert main(["train", "renderer", *_overrides(data, straight, straight / "out", 20), "-q"]) == 0
    assert main(["train", "renderer", *_overrides(data, split, split / "out", 20, until=10), "-q"]) == 0
    assert main(["train", "renderer", *_overrides(data, split, split / "out", 20), "-q"]) == 0
    ours, theirs = _weights(straight / "out"), _weights(split / "out")
    assert all(torch.equal(ours[k], theirs[k]) for k in ours), capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["model=huge"], "model: expected one of base, small, tiny, got 'huge'"),
    (["train.stage=control"], "init: train.stage=control trains the branch"),
    (["train.objective=gan"], "train.objective: expected one of diffusion, regression"),
    (["data=[/no/such/folder]"], "data: /no/such/folder"),
    (["train.warped_noise=1.5"], "train.warped_noise: expected a chance from 0 to 1, got 1.5"),
])
def test_training_mistakes_are_one_line_errors(data, tmp_path, capsys, extra, message):
    assert main(["train", "renderer", *_overrides(data, tmp_path / "run", tmp_path / "out", 5), *extra, "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


def test_training_noise_is_warped_along_each_clips_flow():
    """train.warped_noise: a clip whose surfaces stand still keeps one noise in every frame;
    one that moves carries it along; every frame stays standard normal."""
    from renderer.diffusion.training import RecipeConfig, _noise

    B, T, H, W = 2, 4, 32, 32
    flow = torch.zeros(B, T, 2, H, W)
    flow[1, :, 0] = 3.0  # the second clip pans 3 pixels a frame
    batch = {"rgb": torch.zeros(B, T, 3, H, W), "flow": flow, "flow_occluded": torch.zeros(B, T, H, W, dtype=torch.bool)}
    assert _noise(batch, RecipeConfig(warped_noise=0.0), torch.Generator().manual_seed(0)) is None
    noise = _noise(batch, RecipeConfig(warped_noise=1.0), torch.Generator().manual_seed(0))
    assert all(torch.equal(noise[0, t], noise[0, 0]) for t in range(T))
    assert torch.equal(noise[1, 1][..., 3:], noise[1, 0][..., :-3]) and not torch.equal(noise[1, 1], noise[1, 0])
    assert abs(noise.std() - 1) < 0.05


def test_a_per_frame_variant_starts_from_the_spatial_weights_of_a_temporal_renderer(tiny_renderer):
    """init=RENDERER model.temporal=false: the same weights without the temporal blocks, so
    each frame is painted alone (reordering the frames reorders the output)."""
    from worldgen.pipelines.train_renderer import initial_model

    temporal = VideoRenderer.from_pretrained(tiny_renderer).model
    per_frame = initial_model(tiny_renderer, temporal=False).eval()
    assert temporal.config.temporal and not per_frame.config.temporal
    kept = temporal.state_dict()
    assert all(torch.equal(value, kept[name]) for name, value in per_frame.state_dict().items())
    assert len(kept) > len(per_frame.state_dict())
    g = torch.Generator().manual_seed(0)
    T, H = 4, 16
    noisy = torch.randn(1, T, 3, H, H, generator=g)
    tokens = torch.randn(1, T, 3, per_frame.config.token_features, generator=g)
    controls = torch.rand(1, T, len(per_frame.config.control_channels), H, H, generator=g)
    order = torch.tensor([2, 0, 3, 1])
    with torch.no_grad():
        paint = [model(noisy[:, i], torch.tensor([500]), tokens[:, i], torch.ones(1, T, 3, dtype=torch.bool),
                       controls=controls[:, i]) for model in (per_frame, temporal) for i in (torch.arange(T), order)]
    torch.testing.assert_close(paint[1], paint[0][:, order], atol=1e-5, rtol=1e-5)
    assert (paint[3] - paint[2][:, order]).abs().max() > 1e-4  # the temporal one reads the order
