"""A renderer folder: the denoiser, its scheduler and what it was trained for, saved and
loaded together, and the call that paints a clip.

Folder layout: ``config.json`` + ``diffusion_pytorch_model.safetensors`` (the
:class:`~renderer.diffusion.model.VideoDenoiser`), ``scheduler_config.json`` (the
DDIM scheduler) and ``renderer.json``: ``sample_size`` (the training resolution, pixels),
``clip_length`` (frames per training clip), ``token_features`` (names of the state-token
features, in order) and ``objective`` (``diffusion`` or ``regression``)."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import torch

from renderer.diffusion.experts import NoiseExperts
from renderer.diffusion.model import VideoDenoiser
from renderer.diffusion.sampling import make_scheduler, paint

FORMAT = "worldgen.renderer/1"
WEIGHTS = "diffusion_pytorch_model.safetensors"


@dataclass
class VideoRenderer:
    """A trained denoiser with its scheduler and training facts."""

    model: VideoDenoiser
    scheduler: object = field(default_factory=make_scheduler)
    sample_size: int = 64
    clip_length: int = 16
    token_features: list[str] = field(default_factory=list)
    objective: str = "diffusion"

    def save_pretrained(self, folder: str | Path) -> None:
        folder = Path(folder)
        self.model.save_pretrained(folder)
        self.scheduler.save_pretrained(folder)
        facts = {k: v for k, v in asdict(self).items() if k not in ("model", "scheduler")}
        (folder / "renderer.json").write_text(json.dumps({"format": FORMAT, **facts}, indent=1) + "\n")

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "VideoRenderer":
        """The renderer saved in ``folder``; a ValueError saying what is missing or wrong."""
        from diffusers import DDIMScheduler

        folder = Path(folder)
        missing = [name for name in ("config.json", WEIGHTS, "renderer.json", "scheduler_config.json")
                   if not (folder / name).is_file()]
        if not folder.is_dir() or missing:
            pickled = " (weights are read from safetensors only, never from a pickle)" if WEIGHTS in missing else ""
            raise ValueError(f"{folder}: expected a renderer folder (config.json, {WEIGHTS}, scheduler_config.json, "
                             f"renderer.json); missing {', '.join(missing) if folder.is_dir() else 'the folder'}{pickled}")
        facts = _read_facts(folder / "renderer.json")
        try:
            model = VideoDenoiser.from_pretrained(folder, use_safetensors=True).eval()
            scheduler = DDIMScheduler.from_pretrained(folder)
        except (OSError, RuntimeError, ValueError, TypeError) as err:
            reason = str(err).strip().splitlines()[0].split(" If you want")[0]  # not diffusers' hint to load anyway
            reason = re.sub(r"^Cannot load \S* ?because ", "", reason)
            raise ValueError(f"{folder}: cannot load the denoiser: {reason}") from None
        return cls(model, scheduler, **facts)

    def with_low_noise_expert(self, low: "VideoRenderer", boundary: int) -> "VideoRenderer":
        """This renderer as the high-noise expert and ``low``'s denoiser as the low-noise one,
        switched at timestep ``boundary`` (:class:`~renderer.diffusion.experts.NoiseExperts`)."""
        return replace(self, model=NoiseExperts(self.model, low.model, boundary))

    def paint(self, tokens: torch.Tensor, token_mask: torch.Tensor, controls: torch.Tensor | None,
              control_weights: dict | None = None, steps: int = 4, generator: torch.Generator | None = None,
              noise: torch.Tensor | None = None, size: tuple[int, int] | None = None,
              lock: torch.Tensor | None = None, known: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, 3, H, W) frames in [0, 1] (arguments: :func:`~renderer.diffusion.sampling.paint`);
        a regression renderer takes one step from zeros."""
        if self.objective == "regression" and noise is None:
            height, width = controls.shape[-2:] if controls is not None else size
            steps, noise = 1, torch.zeros(tokens.shape[:2] + (3, height, width))
        return paint(self.model, self.scheduler, tokens, token_mask, controls, control_weights, steps, generator, noise,
                     size, lock, known)


def _read_facts(path: Path) -> dict:
    """renderer.json's fields (without ``format``); a one-line ValueError when it is not
    the JSON object of this format with the fields :class:`VideoRenderer` knows."""
    try:
        facts = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: expected JSON ({err})") from None
    if not isinstance(facts, dict) or facts.pop("format", None) != FORMAT:
        raise ValueError(f"{path}: expected a JSON object with format {FORMAT}")
    known = {f.name for f in fields(VideoRenderer)} - {"model", "scheduler"}
    unknown = sorted(set(facts) - known)
    if unknown:
        raise ValueError(f"{path}: unknown field {', '.join(unknown)}; expected some of {', '.join(sorted(known))}")
    return facts
