"""The ``render`` job: simulate a scene, render it through one camera with the reference
renderer, derive the control maps and exact flow (:mod:`worldgen.pipelines.clip`), and
write everything to a folder.

Written (each file through a temporary name, so an interrupted run leaves no torn file):
``trajectory.npz/json``; ``rgb.mp4``, ``depth.mp4``, ``skeleton.mp4``,
``segmentation.mp4``, ``normals.mp4``, ``flow.mp4`` (H.264, yuv420p); ``buffers.npz``
(float32 depth and flow, occlusion, int32 instance ids, normals, camera); ``controls.npz``
(the control stack in the layout of :mod:`control.stack`); ``instances.json``; and
``contact_sheet.png`` (a few frames x rgb, depth, skeleton, segmentation, flow)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from worldgen.io.atomic import write_atomic
from worldgen.io.encoding import npz_bytes
from worldgen.scene import RunConfig, SceneError
from worldgen.scene.checks import spec_error
from worldgen.scene.limits import MAX_SPP, check_at_most, check_image_size, check_video_size
from worldgen.scene.schema import CameraSpec, Spec


class RenderOptions(Spec):
    """The ``render:`` block of the run config (configs/config.yaml)."""

    camera: str | None = None  # camera name; default the scene's first camera
    resolution: tuple[int, int] | None = None  # [width, height] pixels; default the camera's
    spp: int = 8  # samples per pixel of the RGB pass
    max_depth: int = 5  # path length (bounces + 1)
    variant: str = "auto"  # mitsuba variant: auto | scalar_rgb | cuda_ad_rgb
    exposure: float = 1.0
    animate_seed: bool = False  # independent noise per frame instead of noise that stays put
    frames: str | None = None  # "a:b" frame range (end exclusive), default all


def render_options(config: RunConfig, **flags) -> RenderOptions:
    """The ``render`` options of ``config`` with command-line ``flags`` (None = not given)
    on top; a bad value is a one-line :class:`SceneError`."""
    raw = dict(config.options.get("render") or {})
    raw.update({k: v for k, v in flags.items() if v is not None})
    try:
        options = RenderOptions.model_validate(raw, strict=False)
    except ValidationError as err:
        raise spec_error(err, RenderOptions, "render.", "config") from None
    if options.spp < 1:
        raise SceneError("render.spp", f"expected a whole number >= 1, got {options.spp}", "config")
    check_at_most(options.spp, MAX_SPP, "render.spp", "the samples per pixel", "MAX_SPP", "config")
    if options.resolution is not None and min(options.resolution) < 1:
        raise SceneError("render.resolution", f"expected [width, height] >= 1, got {list(options.resolution)}", "config")
    if options.resolution is not None:
        check_image_size(options.resolution, "render.resolution", "config")
    return options


def parse_frames(text: str | None, num_frames: int) -> np.ndarray:
    """Frame indices of an ``a:b`` range (Python slice semantics, either end optional)."""
    if text is None:
        return np.arange(num_frames)
    parts = text.split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        start, stop = (int(p) if p.strip() else None for p in parts)
    except ValueError:
        raise SceneError("--frames", f"expected a range a:b such as 0:48, got {text!r}", "command line") from None
    frames = np.arange(num_frames)[slice(start, stop)]
    if len(frames) < 2:
        raise SceneError("--frames", f"{text!r} selects {len(frames)} of the scene's {num_frames} frames; need at least 2", "command line")
    return frames


def pick_camera(config: RunConfig, options: RenderOptions) -> CameraSpec:
    """The camera to render through, at the requested resolution."""
    cameras = config.scene.cameras
    if not cameras:
        raise SceneError("cameras", "the scene has no camera to render from; add one, e.g. "
                         "{name: main, position: [3, -4, 2], look_at: [0, 0, 0.5]}", config.source)
    if options.camera is None:
        camera = cameras[0]
    else:
        names = [c.name for c in cameras]
        if options.camera not in names:
            raise SceneError("--camera", f"no camera named {options.camera!r}; the scene has {', '.join(names)}", "command line")
        camera = cameras[names.index(options.camera)]
    if options.resolution is not None:
        camera = camera.model_copy(update={"resolution": tuple(options.resolution)})
    return camera


@dataclass
class RenderReport:
    frames: int
    width: int
    height: int
    camera: str
    variant: str
    spp: int
    seconds: dict[str, float]
    files: list[Path]

    def summary(self) -> str:
        per_frame = sum(self.seconds.values()) / self.frames
        parts = ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items())
        return (f"rendered {self.frames} frames at {self.width}x{self.height} through camera {self.camera!r} "
                f"(mitsuba {self.variant}, {self.spp} spp): {parts}; {per_frame * 1000:.0f} ms/frame\n"
                + "\n".join(f"wrote {p}" for p in self.files))


def _save_npz(path: Path, **arrays) -> Path:
    return write_atomic(path, npz_bytes(**arrays))


def render(config: RunConfig, out_dir: Path, options: RenderOptions, progress: bool = False) -> RenderReport:
    """Simulate ``config.scene``, render it and write the outputs into ``out_dir``."""
    from control.flow_colors import flow_to_color
    from renderer.pbr.render import RenderSettings
    from simulation.engines import make_engine
    from worldgen.io.contact_sheet import contact_sheet, pick_frames
    from worldgen.io.video import write_video
    from worldgen.pipelines.clip import render_controls

    camera = pick_camera(config, options)
    frames = parse_frames(options.frames, config.scene.frame_count)
    index = [c.name for c in config.scene.cameras].index(camera.name)
    field = "render.resolution" if options.resolution is not None else f"cameras[{index}].resolution"
    check_video_size(len(frames), camera.resolution, field, config.source)
    out_dir.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}

    start = time.perf_counter()
    engine = make_engine(str(config.options.get("dynamics", "pybullet")))
    trajectory = engine.rollout(config.scene, num_frames=int(frames[-1]) + 1, progress=progress)
    files = list(trajectory.save(out_dir))
    seconds["simulate"] = time.perf_counter() - start

    start = time.perf_counter()
    settings = RenderSettings(spp=options.spp, max_depth=options.max_depth, variant=options.variant,
                              exposure=options.exposure, animate_seed=options.animate_seed)
    rendered = render_controls(trajectory, camera, settings, frames=frames, progress=progress)
    clip, flow, maps = rendered.clip, rendered.flow, rendered.maps
    seconds["render and controls"] = time.perf_counter() - start

    start = time.perf_counter()
    width, height = clip.size
    videos = {"rgb": clip.rgb, "depth": maps.depth, "skeleton": maps.skeleton, "segmentation": maps.segmentation,
              "flow": flow_to_color(flow.forward), "normals": maps.normal}
    fps = trajectory.fps
    for name, video in videos.items():
        write_video(out_dir / f"{name}.mp4", video, fps)
        files.append(out_dir / f"{name}.mp4")
    files.append(_save_npz(
        out_dir / "buffers.npz",
        frames=clip.frames, times=clip.times, depth=clip.depth, instance=clip.instance,
        normal=clip.normal.astype(np.float16), forward_flow=flow.forward, backward_flow=flow.backward,
        forward_occluded=flow.forward_occluded, backward_occluded=flow.backward_occluded,
        K=clip.K, world_to_camera=clip.world_to_camera, instance_poses=clip.poses,
    ))
    files.append(_save_npz(out_dir / "controls.npz", **maps.arrays()))
    instances = out_dir / "instances.json"
    write_atomic(instances, json.dumps({"camera": clip.camera, "instances": clip.instances.to_json()}, indent=1).encode())
    files.append(instances)
    sheet_frames = pick_frames(len(clip.frames), 4)
    sheet = {"rgb": clip.rgb, "depth map": maps.depth, "skeleton": maps.skeleton,
             "segmentation": maps.segmentation, "flow": videos["flow"]}
    contact_sheet(sheet, sheet_frames, out_dir / "contact_sheet.png",
                  title=f"{config.scene.name}: frames {[int(clip.frames[i]) for i in sheet_frames]}")
    files.append(out_dir / "contact_sheet.png")
    seconds["write"] = time.perf_counter() - start
    return RenderReport(len(clip.frames), width, height, clip.camera, clip.variant, options.spp, seconds, files)
