"""The main job (``worldgen generate``): simulate a scene, take the geometry buffers through
one camera (no path tracing: the diffusion renderer paints from them), build the control
stack and the state tokens, and paint the frames with the video diffusion renderer.

Frames are painted in consecutive windows of the renderer's clip length (the last one
shorter), so N frames in give exactly N frames out. The painting noise comes from
``seed``: independent per window (``noise="independent"``), or drawn once for the whole
video and moved along the exact flow from frame to frame (``noise="warped"``,
:mod:`renderer.diffusion.noise_warp`), so that sampled detail travels with the surfaces
instead of shimmering in place. With ``lock`` the pixels whose surface and lighting do not
change are painted once and held (static-region locking, :func:`paint_windows`). Written into the output folder (every file through a
temporary name): ``video.mp4`` (the painted frames), ``depth.mp4``, ``skeleton.mp4``,
``segmentation.mp4``, ``normals.mp4`` (the controls), ``side_by_side.mp4`` (reference when
rendered | depth map | skeleton map | painted), ``controls.npz`` (:mod:`control.stack`),
``trajectory.npz/json`` and ``metrics.json``: the temporal metrics of the painted video with
the exact flow (E_warp, temporal variance, VBench flicker, per-instance colour drift) and,
with a reference render, PSNR and SSIM against it (:func:`worldgen.metrics.report.evaluate`).
``renderer="pbr"`` paints with the reference path tracer instead (a baseline)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from worldgen.scene import RunConfig, SceneError

RENDERERS = ("diffusion", "pbr", "diffusers:PATH")
NOISES = ("independent", "warped")
MAX_CONTROL_WEIGHT = 100.0  # ControlNet conditioning scales past a few only saturate; far past this they overflow
DEFAULT_STEPS = 4  # sampling steps per window of the shipped renderer
DEFAULT_RENDERER = Path(__file__).resolve().parents[2] / "checkpoints" / "renderer"


@dataclass
class GenerateOptions:
    """What ``worldgen generate`` was asked for."""

    renderer: str = "diffusion"  # diffusion | pbr | diffusers:PATH
    checkpoint: str | None = None  # renderer folder (default: the shipped one)
    steps: int | None = None  # sampling steps per window (default 4; 20 for a diffusers pipeline)
    seed: int = 0
    control_weights: dict[str, float] = field(default_factory=dict)  # group -> weight (default 1)
    camera: str | None = None
    resolution: tuple[int, int] | None = None  # (width, height); default the renderer's training size
    frames: str | None = None  # "a:b"
    reference: bool = False  # also path-trace the frames: side-by-side and PSNR / SSIM
    spp: int = 16  # samples per pixel of the reference
    pose_from: str | None = None  # a video whose poses (mediapipe) replace the skeleton map
    noise: str = "independent"  # independent (per window) | warped (along the exact flow)
    lock: bool = False  # paint the pixels whose surface and lighting are still once per window
    context: int = 0  # frames of the previous window each window after the first sees, painted
    controlnet_inputs: tuple[str, ...] = ("depth",)  # renderer=diffusers:PATH: the maps, one per ControlNet
    prompt: str = ""  # renderer=diffusers:PATH: the text prompt of every frame
    guidance: float = 7.5  # renderer=diffusers:PATH: classifier-free guidance scale


@dataclass
class GenerateReport:
    frames: int
    width: int
    height: int
    renderer: str
    seconds: dict[str, float]
    summary: dict
    files: list[Path]

    def text(self) -> str:
        per_frame = self.seconds.get("paint", 0.0) / self.frames
        figures = ", ".join(f"{k} {v:.3g}" for k, v in self.summary.items() if isinstance(v, float))
        return (f"generated {self.frames} frames at {self.width}x{self.height} with the {self.renderer} renderer "
                f"({per_frame * 1000:.0f} ms/frame painting): " + ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items())
                + f"\n{figures}\n" + "\n".join(f"wrote {p}" for p in self.files))


def load_renderer(checkpoint: str | None):
    """The renderer folder ``checkpoint`` (default: the shipped one) or a one-line SceneError."""
    from renderer.diffusion.pipeline import VideoRenderer

    folder = Path(checkpoint) if checkpoint else DEFAULT_RENDERER
    try:
        return VideoRenderer.from_pretrained(folder)
    except ValueError as err:
        hint = "" if checkpoint else "; train one with `worldgen train renderer` (docs/renderer.md)"
        raise SceneError("--checkpoint", f"{err}{hint}", "command line") from None


def generate(config: RunConfig, out_dir: Path, options: GenerateOptions, progress: bool = False) -> GenerateReport:
    """Run the main job on ``config.scene`` into ``out_dir`` (module docstring)."""
    from renderer.pbr.render import RenderSettings
    from simulation.engines import make_engine
    from worldgen.pipelines import controlnet_paint
    from worldgen.pipelines.clip import render_controls
    from worldgen.pipelines.render import RenderOptions, parse_frames, pick_camera

    external = options.renderer.startswith(controlnet_paint.PREFIX)
    if options.renderer not in RENDERERS and not external:
        raise SceneError("renderer", f"expected one of {', '.join(RENDERERS)}, got {options.renderer!r}", "command line")
    if options.noise not in NOISES:
        raise SceneError("--noise", f"expected one of {', '.join(NOISES)}, got {options.noise!r}", "command line")
    options = replace(options, steps=options.steps or (controlnet_paint.DEFAULT_STEPS if external else DEFAULT_STEPS))
    painter = load_renderer(options.checkpoint) if options.renderer == "diffusion" else None
    controlnet = controlnet_paint.load_controlnet(options.renderer) if external else None
    size = options.resolution or ((painter.sample_size,) * 2 if painter else None)
    if painter is not None:
        _check_weights(options.control_weights, painter.model.config.control_groups)
        _check_context(options.context, painter.clip_length)
        patch = painter.model.config.patch_size
        if size[0] % patch or size[1] % patch:
            raise SceneError("--resolution", f"the renderer paints sizes in multiples of {patch} pixels; got "
                             f"{size[0]}x{size[1]} (it was trained at {painter.sample_size}x{painter.sample_size})",
                             "command line")
    if controlnet is not None:
        size = options.resolution or (controlnet.default_size,) * 2
        controlnet_paint.check_inputs(controlnet, list(options.controlnet_inputs), options.control_weights, size)
        if options.context:
            raise SceneError("--context", "a diffusers pipeline paints frame by frame, with no windows to carry "
                             "frames between; leave --context at 0", "command line")
    camera = pick_camera(config, RenderOptions(camera=options.camera, resolution=size))
    frames = parse_frames(options.frames, config.scene.frame_count)
    out_dir.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}

    start = time.perf_counter()
    trajectory = make_engine(str(config.options.get("dynamics", "pybullet"))).rollout(
        config.scene, num_frames=int(frames[-1]) + 1, progress=progress)
    files = list(trajectory.save(out_dir))
    seconds["simulate"] = time.perf_counter() - start

    start = time.perf_counter()
    path_traced = options.reference or options.renderer == "pbr"
    rendered = render_controls(trajectory, camera, RenderSettings(rgb=path_traced, spp=options.spp), frames=frames,
                               progress=progress)
    clip, maps = rendered.clip, rendered.maps
    if options.pose_from:
        maps.skeleton = _video_skeleton_maps(Path(options.pose_from), len(frames), *clip.size)
    seconds["buffers and controls" + (" and reference" if path_traced else "")] = time.perf_counter() - start

    start = time.perf_counter()
    if options.renderer == "pbr":
        painted = clip.rgb
    else:
        from worldgen.pipelines.renderer_inputs import clip_inputs

        stack, tokens = clip_inputs(trajectory, frames, rendered)
        if controlnet is not None:
            painted = controlnet_paint.paint_with_controlnet(controlnet, maps, stack, rendered.flow, options, progress)
        else:
            painted = paint_windows(painter, stack, tokens, options, progress, rendered.flow)
    seconds["paint"] = time.perf_counter() - start

    start = time.perf_counter()
    starts = window_starts(len(frames), painter.clip_length, options.context) if painter is not None else [0]
    files += _write_outputs(out_dir, trajectory.fps, painted, clip, rendered, options, starts)
    seconds["write and measure"] = time.perf_counter() - start
    summary = json.loads((out_dir / "metrics.json").read_text())["summary"]
    width, height = clip.size
    return GenerateReport(len(frames), width, height, options.renderer, seconds, summary, files)


def paint_windows(painter, stack: np.ndarray, tokens: np.ndarray, options: GenerateOptions,
                  progress: bool = False, flow=None) -> np.ndarray:
    """(T, 3, H, W) float32 frames in [0, 1] painted in windows of the renderer's clip
    length. ``stack`` (T, 21, H, W): the renderer stack
    (:mod:`worldgen.pipelines.renderer_inputs`); ``tokens`` (T, S, F); ``flow``: the exact
    :class:`control.flow.Flow` of the frames, needed for ``options.noise == "warped"`` and
    ``options.lock``.

    Each window after the first starts with the last ``options.context`` frames already
    painted, held as known values (a frame buffer the window's temporal attention reads),
    and paints the frames after them. With ``options.lock`` the still pixels of each window
    (:func:`~worldgen.pipelines.renderer_inputs.still_pixels`) are painted once for the
    window, and those still since the previous window keep the value painted there."""
    from tqdm import tqdm

    from worldgen.pipelines.renderer_inputs import channels_for, end_window, still_pixels

    T = len(stack)
    length = painter.clip_length
    _check_context(options.context, length)
    weights = options.control_weights or None
    channels = list(painter.model.config.control_channels)
    inputs = channels_for(stack, channels)
    if (options.noise == "warped" or options.lock) and flow is None:
        raise ValueError("warped noise and locking need the exact flow of the frames")
    noise = _warped_noise(flow, options.seed) if options.noise == "warped" else None
    painted = np.zeros((T, 3) + stack.shape[-2:], np.float32)
    for index, done in enumerate(tqdm(window_starts(T, length, options.context), desc="paint", unit="window",
                                      disable=not progress)):
        begin = max(done - options.context, 0)
        end = min(begin + length, T)
        window = end_window(torch.from_numpy(inputs[begin:end]).clone(), channels)
        features = torch.from_numpy(tokens[begin:end])
        generator = torch.Generator().manual_seed(options.seed * 1_000_003 + index)
        known = np.full((end - begin,) + painted.shape[1:], np.nan, np.float32)
        known[:done - begin] = painted[begin:done]
        lock = None
        if options.lock:
            lock = torch.from_numpy(still_pixels(stack, flow, begin, end))[None]
            if done > 0 and done == begin:  # no context: carry the still pixels over the boundary
                carried = still_pixels(stack, flow, begin - 1, end)
                known[:, :, carried] = painted[begin - 1][:, carried]
        frames = painter.paint(features[None], torch.ones(features.shape[:2], dtype=torch.bool)[None], window[None],
                               weights, options.steps or DEFAULT_STEPS, generator, None if noise is None else noise[None, begin:end],
                               lock=lock, known=torch.from_numpy(known)[None] if np.isfinite(known).any() else None)
        painted[done:end] = frames[0, done - begin:].numpy()
    return painted


def window_starts(frames: int, length: int, context: int) -> list[int]:
    """The first new frame of each window :func:`paint_windows` paints for ``frames`` frames
    with windows of ``length`` frames, each after the first holding ``context`` painted ones."""
    return [0] + list(range(length, frames, length - context))


def _warped_noise(flow, seed: int) -> torch.Tensor:
    """(T, 3, H, W) noise of the whole video moved along ``flow`` (a control.flow.Flow)."""
    from renderer.diffusion.noise_warp import warped_noise

    arrays = [torch.from_numpy(np.asarray(a)) for a in (flow.forward, flow.forward_occluded, flow.backward,
                                                         flow.backward_occluded)]
    return warped_noise(*arrays, generator=torch.Generator().manual_seed(seed))


def parse_control_weights(items: list[str] | None) -> dict[str, float]:
    """``["depth=1", "skeleton=0.5"]`` -> {"depth": 1.0, "skeleton": 0.5}; a one-line
    SceneError for a malformed item (the names are checked against the renderer)."""
    weights = {}
    for item in items or []:
        name, _, value = item.partition("=")
        try:
            weights[name] = float(value)
            if not 0 <= weights[name] <= MAX_CONTROL_WEIGHT:  # NaN fails too
                raise ValueError
        except ValueError:
            raise SceneError("--control-weight", f"expected NAME=WEIGHT with a number from 0 to {MAX_CONTROL_WEIGHT:g}, "
                             f"such as depth=0.5, got {item!r}", "command line") from None
    return weights


def _check_context(context: int, length: int) -> None:
    if not 0 <= context < length:
        raise SceneError("--context", f"expected a number of frames from 0 to {length - 1} (the renderer paints "
                         f"windows of {length}), got {context}", "command line")


def _check_weights(weights: dict[str, float], groups) -> None:
    unknown = [name for name in weights if name not in groups]
    if unknown:
        raise SceneError("--control-weight", f"unknown control {unknown[0]!r}; expected one of {', '.join(groups)}",
                         "command line")


def _video_skeleton_maps(video: Path, frames: int, width: int, height: int) -> np.ndarray:
    """(frames, 3, height, width) skeleton maps of the person in ``video`` (MediaPipe
    BlazePose, COCO-18), its frames fitted into the image (aspect kept, centred) and
    resampled to ``frames`` frames (the video's first frames, its last repeated if short)."""
    from control.pose_extract import PoseExtractor
    from control.skeleton_map import draw_skeleton_map
    from worldgen.io.video import iter_video_frames

    if not video.is_file():
        raise SceneError("--pose-from", "no such video file", str(video))
    maps = []
    try:
        with PoseExtractor(static_image_mode=False) as extractor:
            for frame in iter_video_frames(video):
                if len(maps) == frames:
                    break
                keypoints, _, valid = extractor.extract(frame)
                scale = min(width / frame.shape[1], height / frame.shape[0])
                offset = np.array([width - scale * frame.shape[1], height - scale * frame.shape[0]]) / 2
                maps.append(draw_skeleton_map((keypoints * scale + offset)[None], valid[None], width, height))
    except ValueError as err:
        raise SceneError("--pose-from", str(err).removeprefix(f"{video}: "), str(video)) from None
    if not maps:
        raise SceneError("--pose-from", "the video has no frames", str(video))
    maps += [maps[-1]] * (frames - len(maps))
    return np.stack(maps).transpose(0, 3, 1, 2).astype(np.float32) / 255


def _write_outputs(out_dir: Path, fps: float, painted: np.ndarray, clip, rendered, options: GenerateOptions,
                   starts: list[int]) -> list[Path]:
    from worldgen.io.atomic import write_atomic
    from worldgen.io.encoding import npz_bytes
    from worldgen.io.flow_file import FlowFile
    from worldgen.io.json_file import write_json
    from worldgen.io.video import to_uint8, write_video
    from worldgen.metrics.report import evaluate

    maps, flow = rendered.maps, rendered.flow
    files = []
    videos = {"video": painted, "depth": maps.depth, "skeleton": maps.skeleton, "segmentation": maps.segmentation,
              "normals": maps.normal}
    reference = clip.rgb if options.reference and options.renderer != "pbr" else None
    panels = ([reference] if reference is not None else []) + [maps.depth, maps.skeleton, painted]
    videos["side_by_side"] = np.concatenate(panels, axis=3)
    if reference is not None:
        videos["reference"] = reference
    for name, frames in videos.items():
        write_video(out_dir / f"{name}.mp4", frames, fps)
        files.append(out_dir / f"{name}.mp4")
    files.append(write_atomic(out_dir / "controls.npz", npz_bytes(**maps.arrays())))
    names = dict(enumerate(clip.instances.names))
    exact = FlowFile("exact flow of the scene's state", flow.forward, flow.forward_occluded, flow.backward,
                     flow.backward_occluded, clip.instance.astype(np.int64), names)
    report = evaluate(to_uint8(painted.transpose(0, 2, 3, 1)), exact,
                      None if reference is None else to_uint8(reference.transpose(0, 2, 3, 1)))
    if len(starts) > 1:
        from worldgen.metrics import seam_score_at

        try:  # E_warp across the window boundaries over E_warp inside the windows
            report["summary"]["seam_score"] = seam_score_at(report["per_frame"]["warp_error"], starts[1:])
            report["summary"]["seam_measure"] = f"warp_error, windows starting at frames {starts[1:]}"
        except ValueError:  # nothing moves inside the windows: no ratio
            pass
    document = {"format": "worldgen.generate/1", "renderer": options.renderer, "checkpoint": options.checkpoint,
                "steps": options.steps, "seed": options.seed, "control_weights": options.control_weights,
                "noise": options.noise, "lock": options.lock, "context": options.context,
                **({"controlnet_inputs": list(options.controlnet_inputs), "prompt": options.prompt,
                    "guidance": options.guidance} if options.renderer.startswith("diffusers:") else {}),
                "reference": reference is not None, **report}
    files.append(write_json(out_dir / "metrics.json", document))
    return files
