"""The video diffusion renderer: frames painted from the control stack (a plain
(T, C, H, W) tensor with its channel names) and per-frame state tokens. Needs the
``diffusion`` extra (diffusers)."""

from renderer.diffusion.model import CONTROL_CHANNEL_NAMES, CONTROL_GROUPS, VideoDenoiser
from renderer.diffusion.sampling import make_scheduler, paint, training_pair

__all__ = ["CONTROL_CHANNEL_NAMES", "CONTROL_GROUPS", "VideoDenoiser", "make_scheduler", "paint", "training_pair"]
