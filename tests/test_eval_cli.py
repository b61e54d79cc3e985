"""`worldgen eval video` and `worldgen deflicker` end to end on small clips, and their
one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from worldgen.cli import main
from worldgen.io.video import read_video, write_video
from worldgen.metrics import mean_frame_difference
from worldgen.metrics.flicker_injection import brightness_flicker

T, H, W = 8, 32, 40


@pytest.fixture
def render_folder(tmp_path, translating_clip):
    """A folder laid out like a worldgen render: rgb.mp4 (a sliding texture with global
    brightness flicker), buffers.npz with its exact flow and two instances, instances.json."""
    clip, flow = translating_clip(frames=T, height=H, width=W, shift=2)
    folder = tmp_path / "render"
    folder.mkdir()
    write_video(folder / "rgb.mp4", brightness_flicker(clip, amplitude=0.2, seed=3)[0].numpy(), fps=24)
    write_video(folder / "clean.mp4", clip, fps=24)
    instance = np.ones((T, H, W), np.int32)
    instance[:, 8:20, 10:30] = 2
    np.savez(folder / "buffers.npz", forward_flow=flow.forward, backward_flow=flow.backward,
             forward_occluded=flow.forward_occluded, backward_occluded=flow.backward_occluded, instance=instance)
    (folder / "instances.json").write_text(json.dumps({"instances": [
        {"id": 0, "name": "background"}, {"id": 1, "name": "floor"}, {"id": 2, "name": "ball"}]}))
    return folder


def test_eval_video_on_a_render_folder_uses_its_exact_flow(render_folder, capsys):
    out = render_folder / "eval"
    assert main(["eval", "video", str(render_folder), "--chunk", "4", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "metrics.json").read_text())
    assert report["format"] == "worldgen.eval/1" and report["flow"] == str(render_folder / "buffers.npz")
    assert report["frames"] == T and (report["width"], report["height"]) == (W, H) and report["codec"] == "h264 yuv420p"
    summary = report["summary"]
    assert summary["warp_error"] > 1e-4 and summary["mean_frame_difference"] > 0  # 20 % flicker
    assert summary["vbench_temporal_flickering"] == pytest.approx(1 - summary["mean_frame_difference"] / 255)
    assert len(report["per_frame"]["warp_error"]) == T - 1 and len(report["per_frame"]["drift_percent"]) == T
    assert {r["name"] for r in report["instances"]} == {"floor", "ball"}
    assert summary["seam_measure"] == "warp_error, chunks of 4"
    assert (out / "temporal.png").stat().st_size > 1000 and (out / "instance_drift.png").stat().st_size > 1000
    assert "E_warp" in printed and "instance 2 ball" in printed


def test_eval_video_on_any_mp4_without_flow(tmp_path, render_folder, capsys):
    """Outside a render folder and without --flow: the flow-free metrics, and PSNR/SSIM
    against a reference; E_warp is not guessed."""
    video = tmp_path / "user.mp4"
    (render_folder / "rgb.mp4").rename(video)
    reference = render_folder / "clean.mp4"
    assert main(["eval", "video", str(video), "--reference", str(reference)]) == 0
    printed = capsys.readouterr().out
    report = json.loads((tmp_path / "user_eval" / "metrics.json").read_text())
    frames, _ = read_video(video)
    assert report["flow"] is None and "warp_error" not in report["summary"] and not report["instances"]
    assert report["summary"]["mean_frame_difference"] == pytest.approx(mean_frame_difference(frames))
    assert 15 < report["summary"]["psnr_db"] < 40 and len(report["per_frame"]["ssim"]) == T
    assert "no flow" in printed and "E_warp (Lai" not in printed


def test_eval_video_with_a_flow_file_of_forward_flow_only(tmp_path, render_folder):
    """The minimal flow file: forward_flow alone (every pixel counts as visible)."""
    with np.load(render_folder / "buffers.npz") as buffers:
        np.savez(tmp_path / "flow.npz", forward_flow=buffers["forward_flow"])
    video = tmp_path / "clip.mp4"
    (render_folder / "rgb.mp4").rename(video)
    assert main(["eval", "video", str(video), "--flow", str(tmp_path / "flow.npz"), "-o", str(tmp_path / "e")]) == 0
    report = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert report["summary"]["visible_fraction"] == 1.0 and report["summary"]["warp_error"] > 0


@pytest.mark.parametrize("method", ["ffmpeg", "flow"])
def test_deflicker_reports_before_and_after(render_folder, method, capsys):
    out = render_folder / f"fixed_{method}.mp4"
    assert main(["deflicker", str(render_folder / "rgb.mp4"), "-o", str(out), "--method", method,
                 "--reference", str(render_folder / "clean.mp4")]) == 0
    assert "before" in capsys.readouterr().out
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["format"] == "worldgen.deflicker/1" and report["method"] == method
    before, after = report["before"]["summary"], report["after"]["summary"]
    assert after["warp_error"] < 0.5 * before["warp_error"]
    assert after["psnr_db"] > before["psnr_db"]
    frames, fps = read_video(out)
    assert frames.shape == (T, H, W, 3) and fps == 24


def _flow_file(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


BAD = {
    "missing video": (lambda d, t: ["eval", "video", str(t / "nope.mp4")], "VIDEO"),
    "not a video": (lambda d, t: ["eval", "video", str(d / "instances.json")], "VIDEO"),
    "folder without rgb.mp4": (lambda d, t: ["eval", "video", str(t)], "VIDEO"),
    "missing flow": (lambda d, t: ["eval", "video", str(d), "--flow", str(t / "none.npz")], "--flow"),
    "flow not an npz": (lambda d, t: ["eval", "video", str(d), "--flow", str(d / "instances.json")], "--flow"),
    "flow without forward_flow": (
        lambda d, t: ["eval", "video", str(d), "--flow", _flow_file(t / "f.npz", flow=np.zeros((T, 2, H, W)))],
        "forward_flow"),
    "flow of wrong shape": (
        lambda d, t: ["eval", "video", str(d), "--flow", _flow_file(t / "f.npz", forward_flow=np.zeros((T, 3, H, W)))],
        "forward_flow"),
    "flow with NaN": (
        lambda d, t: ["eval", "video", str(d), "--flow",
                      _flow_file(t / "f.npz", forward_flow=np.full((T, 2, H, W), np.nan))],
        "forward_flow"),
    "flow of other frames": (
        lambda d, t: ["eval", "video", str(d), "--flow",
                      _flow_file(t / "f.npz", forward_flow=np.zeros((T + 2, 2, H, W)))],
        "--flow"),
    "occlusion of wrong shape": (
        lambda d, t: ["eval", "video", str(d), "--flow", _flow_file(
            t / "f.npz", forward_flow=np.zeros((T, 2, H, W)), forward_occluded=np.zeros((T, H, W + 1), bool))],
        "forward_occluded"),
    "bad chunk": (lambda d, t: ["eval", "video", str(d), "--chunk", "x"], "--chunk"),
    "chunk longer than the clip": (lambda d, t: ["eval", "video", str(d), "--chunk", "50"], "--chunk"),
    "reference of another size": (
        lambda d, t: ["eval", "video", str(d), "--reference", str(_small_video(t))], "--reference"),
    "bad method": (lambda d, t: ["deflicker", str(d), "-o", str(t / "o.mp4"), "--method", "magic"], "--method"),
    "bad mode": (lambda d, t: ["deflicker", str(d), "-o", str(t / "o.mp4"), "--mode", "xx"], "--mode"),
    "bad size": (lambda d, t: ["deflicker", str(d), "-o", str(t / "o.mp4"), "--size", "1"], "--size"),
    "bad radius": (lambda d, t: ["deflicker", str(d), "-o", str(t / "o.mp4"), "--method", "flow", "--radius", "0"],
                   "--radius"),
    "not an mp4 output": (lambda d, t: ["deflicker", str(d), "-o", str(t / "o.avi")], "--output"),
    "flow method without flow": (
        lambda d, t: ["deflicker", str(_small_video(t)), "-o", str(t / "o.mp4"), "--method", "flow"], "--flow"),
    "flow method without backward flow": (
        lambda d, t: ["deflicker", str(d), "-o", str(t / "o.mp4"), "--method", "flow",
                      "--flow", _flow_file(t / "f.npz", forward_flow=np.zeros((T, 2, H, W)))], "backward_flow"),
}


def _small_video(folder):
    path = folder / "small.mp4"
    write_video(path, np.zeros((T, 16, 16, 3), np.uint8), fps=24)
    return path


@pytest.mark.parametrize("case", list(BAD))
def test_mistakes_are_one_line(render_folder, tmp_path, capsys, case):
    build, field = BAD[case]
    empty = tmp_path / "empty"
    empty.mkdir()
    code = main(build(render_folder, empty))
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and field in err, err


def test_an_odd_sized_render_is_cropped_to_its_flow(tmp_path, translating_clip):
    """The mp4 writer pads 39 columns to 40; the flow's 39 columns decide the size measured."""
    clip, flow = translating_clip(frames=5, height=24, width=39, shift=1)
    write_video(tmp_path / "rgb.mp4", clip, fps=24)
    np.savez(tmp_path / "buffers.npz", forward_flow=flow.forward, forward_occluded=flow.forward_occluded)
    assert main(["eval", "video", str(tmp_path / "rgb.mp4")]) == 0
    report = json.loads((tmp_path / "rgb_eval" / "metrics.json").read_text())
    assert (report["width"], report["height"]) == (39, 24)
    assert report["summary"]["temporal_variance_percent"] < 1.5  # codec error only
