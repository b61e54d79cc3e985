"""Training clips for the diffusion renderer: worldgen datasets (``rgb``, ``controls``,
``segmentation``, ``depth``, ``normal``, ``camera`` and the trajectory of every episode) held in memory with their state tokens,
and random windows of them as batches.

A batch (B clips of T frames, H x W pixels, S token slots):

==============  ===================  ==================================================
key             shape                content
==============  ===================  ==================================================
``rgb``         (B, T, 3, H, W)      the reference frames in [-1, 1] (the diffusion space)
``controls``    (B, T, 21, H, W)     the renderer stack (:mod:`worldgen.pipelines.renderer_inputs`:
                                     the control stack, material maps, shading), float32
``tokens``      (B, T, S, F)         state tokens (:mod:`worldgen.pipelines.state_tokens`)
``token_mask``  (B, T, S)            True where a token is real, False on padding
``flow``        (B, T, 2, H, W)      exact forward flow, pixels (from the stack's flow channels)
``flow_occluded`` (B, T, H, W)       True where the forward flow has no target
==============  ===================  ==================================================

The window's last frame has its forward flow zeroed and marked occluded: the flow leaves
the window (as the dataset readers do)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from worldgen.dataset.reader import DatasetFormatError, EpisodeDataset
from worldgen.pipelines.renderer_inputs import RENDERER_CHANNELS, end_window, renderer_stack
from worldgen.pipelines.state_tokens import state_tokens
from worldgen.scene import SceneError


@dataclass
class Episode:
    """One episode in memory: ``rgb`` (T, 3, H, W) uint8, ``controls`` (T, 21, H, W)
    float16 (the renderer stack), ``tokens`` (T, S, F) float32; ``name`` says where it came from."""

    name: str
    rgb: torch.Tensor
    controls: torch.Tensor
    tokens: torch.Tensor


def load_episodes(root: str | Path, size: int | None = None, episodes: int | None = None,
                  field: str = "data") -> list[Episode]:
    """The (first ``episodes``) episodes of the dataset folder ``root``, brought to ``size``
    x ``size`` pixels by area averaging when they are larger (None: as stored); a one-line
    SceneError on ``field`` when the folder is not a full worldgen dataset or is smaller."""
    try:
        dataset = EpisodeDataset(root, modalities=("rgb", "controls", "segmentation", "depth", "normal", "camera"))
        loaded = []
        for index in range(min(len(dataset), episodes or len(dataset))):
            item = dataset[index]
            height, width = item["rgb"].shape[-2:]
            frames = np.arange(len(item["rgb"]))
            trajectory = dataset.trajectory(index)
            K, world_to_camera = item["K"][0].double().numpy(), item["world_to_camera"].double().numpy()
            tokens = state_tokens(trajectory, frames, K, world_to_camera, width, height)
            rgb = item["rgb"]
            controls = torch.from_numpy(renderer_stack(trajectory, frames, item["controls"].numpy(),
                                                       item["segmentation"].numpy(), item["depth"][:, 0].numpy(),
                                                       item["normal"].numpy(), K, world_to_camera))
            if size is not None and (height, width) != (size, size):
                if height < size or width < size or height % size or width % size:
                    raise SceneError(field, f"{root}: episodes are {width}x{height}; expected a whole multiple of "
                                     f"{size}x{size} (the model's size)", "config")
                rgb = F.interpolate(rgb, size=(size, size), mode="area")
                controls = F.interpolate(controls, size=(size, size), mode="area")
            loaded.append(Episode(f"{Path(root).name}/{item['key']}", (rgb * 255).round().to(torch.uint8),
                                  controls.half(), torch.from_numpy(tokens)))
    except (DatasetFormatError, ValueError) as err:
        raise SceneError(field, f"{root}: {err}", "config") from None
    if not loaded:
        raise SceneError(field, f"{root}: the dataset holds no episodes", "config")
    return loaded


def clip_batch(episodes: list[Episode], indices: list[int], starts: list[int], length: int,
               slots: int) -> dict[str, torch.Tensor]:
    """The batch (module docstring) of frames ``start .. start + length - 1`` of each chosen
    episode, tokens padded to ``slots``."""
    rgb, controls, tokens, mask = [], [], [], []
    for index, start in zip(indices, starts):
        episode = episodes[index]
        window = slice(start, start + length)
        rgb.append(episode.rgb[window].float() / 127.5 - 1)
        controls.append(end_window(episode.controls[window].float()))
        count = episode.tokens.shape[1]
        if count > slots:
            raise ValueError(f"{episode.name} has {count} state tokens; the model takes at most {slots}")
        tokens.append(F.pad(episode.tokens[window], (0, 0, 0, slots - count)))
        mask.append(torch.arange(slots).expand(length, slots) < count)
    stack = torch.stack(controls)
    x, y, occlusion = (RENDERER_CHANNELS.index(c) for c in ("flow_x", "flow_y", "occlusion"))
    height, width = stack.shape[-2:]
    flow = torch.stack([stack[:, :, x] * width, stack[:, :, y] * height], dim=2)  # stack: image widths and heights
    return {"rgb": torch.stack(rgb), "controls": stack, "tokens": torch.stack(tokens),
            "token_mask": torch.stack(mask), "flow": flow, "flow_occluded": stack[:, :, occlusion] > 0.5}


def random_batch(episodes: list[Episode], batch_size: int, length: int, slots: int,
                 generator: torch.Generator) -> dict[str, torch.Tensor]:
    """A batch of random windows of ``length`` frames of random episodes (``generator``
    draws both, so a resumed run continues the same sequence)."""
    indices = torch.randint(len(episodes), (batch_size,), generator=generator).tolist()
    starts = [int(torch.randint(len(episodes[i].rgb) - length + 1, (1,), generator=generator)) for i in indices]
    return clip_batch(episodes, indices, starts, length, slots)
