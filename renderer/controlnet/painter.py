"""Bring your own weights: a diffusers ControlNet pipeline saved on disk (for example Stable
Diffusion 1.5 with a depth or an OpenPose ControlNet, saved with ``save_pretrained``) paints
frames from worldgen's control maps, one frame at a time.

The control maps follow the ControlNet conventions (depth: near is bright; skeleton: the
OpenPose limb colours on black), so they go in as they are. What worldgen adds to a
frame-by-frame painter is its knowledge of the motion, through the starting latents and the
sampling loop:

- ``noise``: the starting latents of every frame, (T, C, h, w) on the pipeline's latent grid,
  e.g. noise warped along the exact flow (:mod:`renderer.diffusion.noise_warp`) so that
  sampled detail moves with the surfaces;
- ``lock``: (T, h, w) bool latent pixels whose surface and lighting did not change since the
  previous frame; after every sampling step their latents are set to the previous frame's
  at the same step (and they start from its noise), so a still region is painted once and
  held while the rest of the frame is sampled around it.

Nothing is downloaded: the pipeline is read from its folder with ``local_files_only``, and
its weights from safetensors only. It runs on the GPU when torch sees one, else on the CPU. Any pipeline class of diffusers whose components include a
``controlnet`` and whose call takes ``image``, ``latents``, ``controlnet_conditioning_scale`` and
``callback_on_step_end`` serves (``StableDiffusionControlNetPipeline`` is the tested one)."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import torch

INDEX = "model_index.json"


class PipelineError(ValueError):
    """A pipeline folder that cannot be painted with: ``path`` (the folder or a file in it)
    and ``reason``, one line each; ``str()`` is "path: reason"."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


class ControlNetPainter:
    """A diffusers ControlNet pipeline read from ``folder`` (:meth:`from_folder`)."""

    def __init__(self, pipeline, folder: Path):
        self.pipeline = pipeline
        self.folder = folder

    @classmethod
    def from_folder(cls, folder: str | Path) -> "ControlNetPainter":
        """The pipeline saved in ``folder``; a :class:`PipelineError` when the folder is
        missing, is not a saved diffusers pipeline, has no ControlNet or cannot be loaded."""
        folder = Path(folder)
        if not folder.is_dir():
            raise PipelineError(folder, "no such folder (expected a diffusers ControlNet pipeline saved with "
                                "save_pretrained)")
        try:
            index = json.loads((folder / INDEX).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise PipelineError(folder, f"not a diffusers pipeline folder: no {INDEX} (save the pipeline with "
                                "save_pretrained)") from None
        except (OSError, ValueError, UnicodeDecodeError) as err:
            raise PipelineError(folder / INDEX, f"expected JSON ({err})") from None
        name = index.get("_class_name") if isinstance(index, dict) else None
        if not isinstance(name, str) or "controlnet" not in index:
            components = [k for k in index if not k.startswith("_")] if isinstance(index, dict) else []
            raise PipelineError(folder / INDEX, f"not a ControlNet pipeline: expected a controlnet component, got "
                                f"{name or 'no _class_name'} with {', '.join(components) or 'no components'}")
        pipeline_class = _pipeline_class(name)
        if pipeline_class is None:
            raise PipelineError(folder / INDEX, f"not a ControlNet pipeline class of diffusers: {name}")
        _quiet_libraries()
        try:
            pipeline = pipeline_class.from_pretrained(folder, local_files_only=True, use_safetensors=True)
        except (OSError, ValueError, RuntimeError, TypeError, AttributeError, KeyError, ImportError) as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise PipelineError(folder, f"cannot load the ControlNet pipeline: {reason}") from None
        pipeline.set_progress_bar_config(disable=True)
        return cls(pipeline.to("cuda" if torch.cuda.is_available() else "cpu"), folder)

    @property
    def controls(self) -> int:
        """How many control images a frame takes (one per ControlNet)."""
        return len(getattr(self.pipeline.controlnet, "nets", [None]))

    @property
    def latent_channels(self) -> int:
        return int(self.pipeline.unet.config.in_channels)

    @property
    def scale(self) -> int:
        """Image pixels per latent pixel."""
        return int(self.pipeline.vae_scale_factor)

    @property
    def size_multiple(self) -> int:
        """Image sizes must be multiples of this (the latent grid through the U-Net's downsamplings)."""
        return self.scale * 2 ** (len(self.pipeline.unet.config.block_out_channels) - 1)

    @property
    def default_size(self) -> int:
        """The square image size the U-Net was configured for, pixels."""
        return int(self.pipeline.unet.config.sample_size) * self.scale

    def paint(self, controls: list[np.ndarray], noise: torch.Tensor, prompt: str = "", steps: int = 20,
              guidance: float = 7.5, weights: list[float] | None = None, lock: torch.Tensor | None = None,
              generator_seed: int = 0, progress=None) -> np.ndarray:
        """(T, 3, H, W) float32 frames in [0, 1]: :meth:`decode` of :meth:`sample`."""
        return self.decode(self.sample(controls, noise, prompt, steps, guidance, weights, lock, generator_seed, progress))

    def sample(self, controls: list[np.ndarray], noise: torch.Tensor, prompt: str = "", steps: int = 20,
               guidance: float = 7.5, weights: list[float] | None = None, lock: torch.Tensor | None = None,
               generator_seed: int = 0, progress=None) -> torch.Tensor:
        """(T, C, H / scale, W / scale) sampled latents, one frame after the other.
        ``controls``: one (T, 3, H, W) float array in [0, 1] per ControlNet, in the
        pipeline's order; ``noise`` (T, C, H / scale, W / scale) unit Gaussian starting
        latents; ``weights`` one conditioning scale per ControlNet (default 1); ``lock``
        (T, h, w) bool, frame 0's ignored (module docstring); ``generator_seed`` seeds the
        sampler's own randomness (DDIM with eta 0 has none); ``progress`` wraps the frame
        range (e.g. tqdm)."""
        T, _, height, width = controls[0].shape
        weights = weights or [1.0] * len(controls)
        previous: list[torch.Tensor] = []  # the previous frame's latents: at the start, then after each step
        sampled = []
        for t in (progress or iter)(range(T)):
            mask = lock[t].to(self.pipeline.device) if lock is not None and t > 0 else None
            latents = noise[t:t + 1].to(self.pipeline.device).clone()
            if mask is not None:
                latents[..., mask] = previous[0][..., mask]
            current = [latents.clone()]

            def hold(pipeline, step, timestep, tensors, mask=mask, held=previous, current=current):
                if mask is not None:
                    tensors["latents"][..., mask] = held[step + 1][..., mask]
                current.append(tensors["latents"].clone())
                return {"latents": tensors["latents"]}

            images = [torch.from_numpy(np.ascontiguousarray(c[t:t + 1])).float() for c in controls]
            result = self.pipeline(
                prompt=prompt, image=images if self.controls > 1 else images[0], height=height, width=width,
                num_inference_steps=steps, guidance_scale=guidance, latents=latents, output_type="latent",
                controlnet_conditioning_scale=weights if self.controls > 1 else weights[0],
                generator=torch.Generator().manual_seed(generator_seed * 1_000_003 + t),
                callback_on_step_end=hold, callback_on_step_end_tensor_inputs=["latents"])
            sampled.append(result.images)
            previous = current
        return torch.cat(sampled).cpu()

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> np.ndarray:
        """(T, 3, H, W) float32 frames in [0, 1] of (T, C, h, w) latents, through the pipeline's VAE."""
        vae = self.pipeline.vae
        frames = [vae.decode(latents[t:t + 1].to(vae.device) / vae.config.scaling_factor, return_dict=False)[0].cpu()
                  for t in range(len(latents))]
        return (torch.cat(frames) / 2 + 0.5).clamp(0, 1).float().numpy()


def _pipeline_class(name: str):
    """diffusers' pipeline class ``name`` when it is one that takes ControlNets, else None."""
    import diffusers

    candidate = getattr(diffusers, name, None)
    if not isinstance(candidate, type) or not issubclass(candidate, diffusers.DiffusionPipeline):
        return None
    return candidate if "controlnet" in inspect.signature(candidate.__init__).parameters else None


def _quiet_libraries() -> None:
    """Keep transformers' and diffusers' notices (optional backends, progress) off the terminal."""
    import diffusers
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    diffusers.logging.set_verbosity_error()
    diffusers.logging.disable_progress_bar()
