"""`worldgen eval renderer`: one table of variants on held-out episodes, the reference row
is the path tracer's own floor, and a renderer that copies the reference scores perfectly."""

from __future__ import annotations

import json
from types import SimpleNamespace

from worldgen.cli import main
from worldgen.eval.renderer import Variant, evaluate_renderers, load_held_out
from worldgen.pipelines.renderer_inputs import RENDERER_CHANNELS


def test_command_writes_one_table_with_every_variant(tiny_renderer, tiny_renderer_data, tmp_path, capsys):
    out = tmp_path / "eval"
    code = main(["eval", "renderer", "-o", str(out), "--checkpoint", str(tiny_renderer), "--steps", "1", "2",
                 "--regression", str(tiny_renderer), "--per-frame", str(tiny_renderer), "--temporal-loss", str(tiny_renderer),
                 "--experts", str(tiny_renderer), str(tiny_renderer),
                 "--data", str(tiny_renderer_data / "validation"), "--episodes", "2", "--frames", "6", "--ablate"])
    assert code == 0, capsys.readouterr().err
    report = json.loads((out / "renderer_eval.json").read_text())
    assert list(report["variants"]) == ["diffusion 1 step", "diffusion 2 steps", "regression", "per-frame 2 steps",
                                        "+ temporal loss 2", "noise experts 2", "+ warped noise 2", "+ static locking 2", "+ frame buffer 2", "all together 2",
                                        "reference"]
    variants = report["variants"]
    together = variants["all together 2"]
    assert together["noise"] == "warped" and together["lock"] and together["context"] == 1
    for mechanism in ("+ warped noise 2", "+ static locking 2", "all together 2"):  # each steadies the frames
        assert variants[mechanism]["all"]["warp_error"] < variants["diffusion 2 steps"]["all"]["warp_error"], mechanism
    assert report["episodes"] == {"objects_drop": 2} and report["frames"] == 6
    painted, reference = report["variants"]["diffusion 2 steps"]["all"], report["variants"]["reference"]["all"]
    assert 0 < painted["psnr_db"] < 60 and -1 <= painted["ssim"] <= 1 and painted["warp_error"] >= 0
    assert 0 < painted["vbench_temporal_flickering"] <= 1
    assert reference["psnr_db"] is None and reference["warp_error"] > 0  # no reference for the reference itself
    assert report["goals"]["family"] == "objects_drop" and "warp_error < per-frame variant" in report["goals"]["checks"]
    experts, plain = variants["noise experts 2"], variants["diffusion 2 steps"]
    assert experts["all"] == plain["all"]  # the same renderer as both experts paints as it does alone
    coherence = report["coherence_goals"]["checks"]
    cut = 100 * (1 - variants["+ warped noise 2"]["families"]["objects_drop"]["warp_error"]
                 / variants["diffusion 2 steps"]["families"]["objects_drop"]["warp_error"])
    assert abs(coherence["warped noise: warp_error cut >= 30 %"]["value"] - cut) < 1e-9
    assert coherence["all together: temporal_variance_percent < 1.2"]["value"] == \
        variants["all together 2"]["families"]["objects_drop"]["temporal_variance_percent"]
    out = capsys.readouterr().out
    assert "diffusion 2 steps" in out and "coherence goals (all together 2 on objects_drop)" in out


class _Copier:
    """A stand-in renderer that paints the reference frames: the windows come in order."""

    clip_length = 4
    model = SimpleNamespace(config=SimpleNamespace(control_channels=list(RENDERER_CHANNELS)))

    def __init__(self, episode):
        self.episode, self.start = episode, 0

    def paint(self, tokens, token_mask, controls, control_weights=None, steps=4, generator=None, noise=None, lock=None,
              known=None):
        import torch

        frames = self.episode.rgb[self.start:self.start + tokens.shape[1]]
        self.start += tokens.shape[1]
        return torch.from_numpy(frames)[None]


def test_painting_the_reference_scores_like_the_reference(tiny_renderer_data):
    held_out = load_held_out(tiny_renderer_data / "validation", 1, 6)
    report = evaluate_renderers([Variant("copy", _Copier(held_out[0])), Variant("reference")], held_out)
    copy, reference = report["variants"]["copy"]["all"], report["variants"]["reference"]["all"]
    assert copy["psnr_db"] is None or copy["psnr_db"] > 60  # identical frames: PSNR inf (left out of the means)
    assert copy["ssim"] > 0.999
    assert copy["warp_error"] == reference["warp_error"] and copy["max_instance_drift"] == reference["max_instance_drift"]


def test_experts_of_two_architectures_are_a_one_line_error(tiny_renderer, tiny_renderer_data, tmp_path, capsys):
    from worldgen.pipelines.generate import DEFAULT_RENDERER

    code = main(["eval", "renderer", "-o", str(tmp_path / "eval"), "--checkpoint", str(tiny_renderer), "--steps", "1",
                 "--experts", str(tiny_renderer), str(DEFAULT_RENDERER), "--data", str(tiny_renderer_data / "validation")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--experts: expected two denoisers of one architecture" in err[0], err
