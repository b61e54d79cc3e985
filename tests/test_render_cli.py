"""`worldgen render` end to end on a tiny clip, and its one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from control.stack import CONTROL_CHANNELS, read_controls
from worldgen.cli import main
from worldgen.io.video import read_video


def test_render_writes_every_output(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["render", "humanoid_walk", "-o", str(out), "--frames", "2:6", "--resolution", "40x32",
                 "--spp", "2", "-q"])
    assert code == 0, capsys.readouterr().err
    for name in ("rgb", "depth", "skeleton", "segmentation", "flow", "normals"):
        frames, fps = read_video(out / f"{name}.mp4")
        assert frames.shape == (4, 32, 40, 3) and fps == 24
    skeleton, _ = read_video(out / "skeleton.mp4")
    assert skeleton.max() > 200  # the walker's skeleton is drawn
    with np.load(out / "buffers.npz") as buffers:
        assert buffers["depth"].shape == (4, 32, 40) and buffers["depth"].dtype == np.float32
        assert buffers["forward_flow"].shape == (4, 2, 32, 40) and buffers["instance"].dtype == np.int32
        np.testing.assert_array_equal(buffers["frames"], [2, 3, 4, 5])
        flow, occluded = buffers["forward_flow"], buffers["forward_occluded"]
    controls, channels = read_controls(out / "controls.npz")
    assert controls.shape == (4, 13, 32, 40) and controls.dtype == np.float32 and channels == CONTROL_CHANNELS
    assert controls[:, 1:4].max() > 0.8  # the walker's skeleton, in the skeleton channels
    np.testing.assert_allclose(controls[:, 10:12] * np.array([40, 32])[:, None, None], flow, atol=0.02)
    np.testing.assert_array_equal(controls[:, 12], occluded)
    instances = json.loads((out / "instances.json").read_text())["instances"]
    assert instances[1]["kind"] == "floor" and any(i["kind"] == "humanoid_link" for i in instances)
    assert (out / "contact_sheet.png").stat().st_size > 1000
    assert "rendered 4 frames at 40x32" in capsys.readouterr().out


@pytest.mark.parametrize("args, field", [
    (["--frames", "5"], "--frames"),
    (["--frames", "3:3"], "--frames"),
    (["--camera", "nope"], "--camera"),
    (["--resolution", "big"], "--resolution"),
    (["--spp", "0"], "render.spp"),
    (["render.spp=lots"], "render.spp"),
    (["render.sp=4"], "render.sp"),
])
def test_render_mistakes_are_one_line(tmp_path, capsys, args, field):
    scene = ["stacked_blocks"] + [a for a in args if "=" in a]
    flags = [a for a in args if "=" not in a]
    code = main(["render", *scene, "-o", str(tmp_path / "o"), "-q", *flags])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and field in err, err
