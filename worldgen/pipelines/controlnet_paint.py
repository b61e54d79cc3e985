"""``worldgen generate SCENE renderer=diffusers:PATH``: paint a scene with a diffusers ControlNet
pipeline of the user's own (:mod:`renderer.controlnet.painter`), frame by frame, with
worldgen's control maps, its warped noise and its static-region locking on the pipeline's
latent grid.

The latent grid is the image grid shrunk by the pipeline's VAE scale s. Its flow is the
image flow averaged over each s x s block and divided by s; a latent pixel is occluded
when any pixel of its block is, and locked when every pixel of its block is still
(:func:`~worldgen.pipelines.renderer_inputs.still_pixels` between consecutive frames)."""

from __future__ import annotations

import numpy as np
import torch

from worldgen.scene import SceneError

PREFIX = "diffusers:"
CONTROLNET_INPUTS = ("depth", "skeleton", "segmentation", "normal")  # the maps a ControlNet can take
DEFAULT_STEPS = 20  # a Stable Diffusion sampler's usual count; the shipped renderer's default is 4


def load_controlnet(renderer: str):
    """The painter of ``renderer`` = ``diffusers:PATH``; a one-line SceneError naming the folder."""
    from renderer.controlnet.painter import ControlNetPainter, PipelineError

    folder = renderer[len(PREFIX):]
    if not folder:
        raise SceneError("renderer", "expected diffusers:PATH, the folder of a saved diffusers ControlNet pipeline",
                         "command line")
    try:
        return ControlNetPainter.from_folder(folder)
    except PipelineError as err:
        raise SceneError("renderer", err.reason, str(err.path)) from None


def check_inputs(painter, names: list[str], weights: dict[str, float], size: tuple[int, int]) -> None:
    """One-line SceneErrors for ControlNet inputs that are not worldgen maps, a count that
    is not the pipeline's, weights of maps not given, or an image size off the latent grid."""
    unknown = [n for n in names if n not in CONTROLNET_INPUTS]
    if unknown:
        raise SceneError("--controlnet-inputs", f"unknown map {unknown[0]!r}; expected some of "
                         f"{', '.join(CONTROLNET_INPUTS)}", "command line")
    if len(names) != painter.controls:
        raise SceneError("--controlnet-inputs", f"the pipeline has {painter.controls} ControlNet"
                         f"{'s' if painter.controls > 1 else ''}; got {len(names)} map{'s' if len(names) > 1 else ''} "
                         f"({' '.join(names)})", "command line")
    stray = [n for n in weights if n not in names]
    if stray:
        raise SceneError("--control-weight", f"{stray[0]!r} is not a ControlNet input here; expected one of "
                         f"{', '.join(names)}", "command line")
    multiple = painter.size_multiple
    if size[0] % multiple or size[1] % multiple:
        raise SceneError("--resolution", f"the pipeline paints sizes in multiples of {multiple} pixels; got "
                         f"{size[0]}x{size[1]}", "command line")


def paint_with_controlnet(painter, maps, stack: np.ndarray, flow, options, progress: bool = False) -> np.ndarray:
    """(T, 3, H, W) float32 frames in [0, 1]. ``maps`` the clip's
    :class:`control.stack.ControlMaps`; ``stack`` (T, 21, H, W) the renderer stack (for the
    still pixels); ``flow`` the exact :class:`control.flow.Flow`; ``options`` a
    :class:`~worldgen.pipelines.generate.GenerateOptions` (controlnet_inputs, prompt, guidance,
    steps, seed, noise, lock, control_weights)."""
    from tqdm import tqdm

    noise, lock = latent_noise_and_lock(painter, stack, flow, options)
    names = list(options.controlnet_inputs)
    return painter.paint([getattr(maps, n) for n in names], noise, options.prompt, options.steps, options.guidance,
                         [options.control_weights.get(n, 1.0) for n in names], lock, options.seed,
                         progress=lambda frames: tqdm(frames, desc="paint", unit="frame", disable=not progress))


def latent_noise_and_lock(painter, stack: np.ndarray, flow, options) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The starting latents (T, C, h, w) of every frame on the pipeline's latent grid:
    independent per frame, or warped along the latent flow (``options.noise``), seeded by
    ``options.seed``; and with ``options.lock`` the (T, h, w) bool latent pixels still since
    the previous frame (module docstring), else None."""
    from renderer.diffusion.noise_warp import warped_noise

    T, _, height, width = stack.shape
    s = painter.scale
    shape = (T, painter.latent_channels, height // s, width // s)
    generator = torch.Generator().manual_seed(options.seed)
    if options.noise == "warped":
        arrays = [latent_flow(flow.forward, s), latent_occluded(flow.forward_occluded, s),
                  latent_flow(flow.backward, s), latent_occluded(flow.backward_occluded, s)]
        noise = warped_noise(*(torch.from_numpy(a) for a in arrays), channels=shape[1], generator=generator)
    else:
        noise = torch.randn(shape, generator=generator)
    if not options.lock:
        return noise, None
    from worldgen.pipelines.renderer_inputs import still_pixels

    still = np.stack([still_pixels(stack, flow, max(t - 1, 0), t + 1) for t in range(T)])
    return noise, torch.from_numpy(still.reshape(T, height // s, s, width // s, s).all(axis=(2, 4)))


def latent_flow(flow: np.ndarray, scale: int) -> np.ndarray:
    """(T, 2, H / scale, W / scale) float32 flow in latent pixels: the mean of each block over scale."""
    T, _, H, W = flow.shape
    return (flow.reshape(T, 2, H // scale, scale, W // scale, scale).mean(axis=(3, 5)) / scale).astype(np.float32)


def latent_occluded(occluded: np.ndarray, scale: int) -> np.ndarray:
    """(T, H / scale, W / scale) bool: any pixel of the block occluded."""
    T, H, W = occluded.shape
    return occluded.reshape(T, H // scale, scale, W // scale, scale).any(axis=(2, 4))
