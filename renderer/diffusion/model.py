"""The video denoiser: a small pixel-space video transformer (Latte-style: spatial then
temporal attention in every block) with a ControlNet-style control branch.

It paints frames from the control stack and the state. Inputs, per clip of T frames:

- ``sample`` (B, T, 3, H, W): noisy frames in the scheduler's [-1, 1] space;
- ``timestep`` (B,): diffusion timestep in [0, num_train_timesteps);
- ``tokens`` (B, T, S, F) float32 and ``token_mask`` (B, T, S) bool: per frame, S "state
  tokens" (objects, lights, camera) of F features; True marks a real token, False padding;
- ``controls`` (B, T, C, H, W) float32: the control stack, channels in the order of the
  config's ``control_channels`` (by default the project's layout, :data:`CONTROL_CHANNEL_NAMES`);
- ``control_weights``: how strongly each control group steers the frames (a number per
  group, or a spatiotemporal map, as in Cosmos-Transfer).

The model predicts the clean clip x0 (B, T, 3, H, W) in [-1, 1] space (not clamped).

Frames are cut into p x p patches (``patch_size``) embedded to ``width``, with a 2D sincos
position embedding (patch row and column indices) computed for the grid of each call, so
any H and W that are multiples of p work. The timestep goes through PixArt's adaLN-single
(``AdaLayerNormSingle``): one (B, 6 * width) modulation shared by every block, each block
adding its own learned ``scale_shift_table``. A block is a spatial
``BasicTransformerBlock`` (self-attention over the patches of one frame, cross-attention to
that frame's state tokens, feed-forward) followed, with ``temporal=True``, by a temporal one
(self-attention over the T frames at each patch position, bidirectional). A 1D sincos
embedding of the frame index is added to the hidden states before the first temporal block,
as in Latte; it travels on in the residual stream.

The control branch (:class:`ControlBranch`) is ControlNet's recipe on this transformer: a
trainable copy of the first ``control_blocks`` blocks, fed with the base's patch embedding
of the noisy frames plus, per control group, a projection of that group's patch embedding;
after each copied block a zero-initialised linear gives a residual added to the base's
hidden states after the same block. A transformer of p x p patches has no layer at full
resolution, where a U-Net's ControlNet adds its last residuals, so the branch can also end
in a **pixel head** (``pixel_head`` > 0 hidden channels): a small convolutional net at full
resolution that reads the weighted control channels, the base's prediction and the noisy
frames and adds a residual to the predicted frames through a zero-initialised last
convolution (per-pixel shading from G-buffers, as in Deep Shading). Untrained, the branch
adds exact zeros.

Checkpoints: ``save_pretrained`` / ``from_pretrained`` (diffusers' ``ModelMixin``): a folder
with ``config.json`` and ``diffusion_pytorch_model.safetensors``."""

from __future__ import annotations

import copy
import numbers
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping, Sequence

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.attention import BasicTransformerBlock
from diffusers.models.embeddings import (
    PixArtAlphaTextProjection,
    get_1d_sincos_pos_embed_from_grid,
    get_2d_sincos_pos_embed_from_grid,
)
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.normalization import AdaLayerNormSingle
from torch import nn
from torch.nn import functional as F

CONTROL_CHANNEL_NAMES: tuple[str, ...] = (
    "depth",
    "skeleton_r", "skeleton_g", "skeleton_b",
    "segmentation_r", "segmentation_g", "segmentation_b",
    "normal_r", "normal_g", "normal_b",
    "flow_x", "flow_y", "occlusion",
)
"""The control stack's channels 0..12, in order (docs/design.md, "The control stack")."""

CONTROL_GROUPS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "depth": ("depth",),
    "skeleton": ("skeleton_r", "skeleton_g", "skeleton_b"),
    "segmentation": ("segmentation_r", "segmentation_g", "segmentation_b"),
    "normal": ("normal_r", "normal_g", "normal_b"),
    "flow": ("flow_x", "flow_y", "occlusion"),
})
"""Control groups: each has its own input embedding and weight (read-only)."""

def patchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """(M, C, H, W) -> (M, N, C * p * p), N = (H / p) * (W / p) patches in row-major order;
    each patch's values ordered (channel, row, column)."""
    M, C, H, W = x.shape
    h, w = H // p, W // p
    return x.reshape(M, C, h, p, w, p).permute(0, 2, 4, 1, 3, 5).reshape(M, h * w, C * p * p)


def unpatchify(x: torch.Tensor, channels: int, h: int, w: int, p: int) -> torch.Tensor:
    """Inverse of :func:`patchify`: (M, h * w, channels * p * p) -> (M, channels, h * p, w * p)."""
    M = x.shape[0]
    return x.reshape(M, h, w, channels, p, p).permute(0, 3, 1, 4, 2, 5).reshape(M, channels, h * p, w * p)


def zero_linear(inputs: int, outputs: int) -> nn.Linear:
    """A linear layer whose weight and bias start at exactly zero (ControlNet's zero convolution)."""
    layer = nn.Linear(inputs, outputs)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def transformer_block(width: int, heads: int, cross_attention: bool) -> BasicTransformerBlock:
    """A PixArt-style ``BasicTransformerBlock`` (adaLN-single modulation, tanh-GELU MLP),
    with cross-attention to ``width``-wide context when ``cross_attention``."""
    return BasicTransformerBlock(
        width, heads, width // heads,
        cross_attention_dim=width if cross_attention else None,
        activation_fn="gelu-approximate", attention_bias=True,
        norm_type="ada_norm_single", norm_elementwise_affine=False, norm_eps=1e-6,
    )


@dataclass
class Conditioning:
    """What every block of one call shares. ``frames``: T; ``spatial`` (B*T, 6*width) and
    ``temporal`` (B*N, 6*width): the adaLN-single modulation repeated for the frame-batched
    and the patch-batched layouts; ``context`` (B*T, S, width): embedded state tokens (zero
    where padding); ``context_bias`` (B*T, 1, S): 0 for real tokens, -10000 for padding
    (the bias format of diffusers' attention); ``frame_position`` (1, T, width): the frame
    index embedding added before the first temporal block; ``embedded_timestep`` (B, width):
    the timestep embedding, for the output layer; ``state`` (B*T, width): the mean of each
    frame's embedded real tokens (the pixel head's view of the state)."""

    frames: int
    spatial: torch.Tensor
    temporal: torch.Tensor
    context: torch.Tensor
    context_bias: torch.Tensor
    frame_position: torch.Tensor
    embedded_timestep: torch.Tensor
    state: torch.Tensor


class SpaceTimeBlock(nn.Module):
    """A spatial transformer block then, when ``temporal``, a temporal one. Hidden states are
    (B*T, N, width) in and out (frame-batched: one row per frame, N patches)."""

    def __init__(self, width: int, heads: int, temporal: bool):
        super().__init__()
        self.spatial = transformer_block(width, heads, cross_attention=True)
        self.temporal = transformer_block(width, heads, cross_attention=False) if temporal else None

    def forward(self, h: torch.Tensor, cond: Conditioning, first: bool) -> torch.Tensor:
        """``first``: add the frame index embedding before the temporal attention."""
        h = self.spatial(h, encoder_hidden_states=cond.context, encoder_attention_mask=cond.context_bias,
                         timestep=cond.spatial)
        if self.temporal is None:
            return h
        BT, N, D = h.shape
        T = cond.frames
        h = h.reshape(BT // T, T, N, D).transpose(1, 2).reshape(-1, T, D)  # (B*N, T, D): patch-batched
        if first:
            h = h + cond.frame_position
        h = self.temporal(h, timestep=cond.temporal)
        return h.reshape(BT // T, N, T, D).transpose(1, 2).reshape(BT, N, D)


class PixelHead(nn.Module):
    """The branch's full-resolution end: three 3 x 3 convolutions (SiLU between) from the
    weighted control channels (C), the base's predicted frames (3) and the noisy frames (3)
    to a residual on the predicted frames (3); the last convolution starts at exactly zero.
    With ``state_width``, the first convolution's output is modulated (FiLM: scale and
    shift per channel) by the mean of the frame's embedded state tokens, through a
    zero-initialised linear, so the per-pixel shading can read the lights."""

    def __init__(self, control_channels: int, hidden: int, state_width: int | None = None):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(control_channels + 6, hidden, 3, padding=1), nn.SiLU(),
            nn.Conv2d(hidden, hidden, 3, padding=1), nn.SiLU(),
            nn.Conv2d(hidden, 3, 3, padding=1),
        )
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)
        self.film = zero_linear(state_width, 2 * hidden) if state_width else None

    def forward(self, controls: torch.Tensor, predicted: torch.Tensor, sample: torch.Tensor,
                state: torch.Tensor | None = None) -> torch.Tensor:
        """controls (M, C, H, W) weighted; predicted, sample (M, 3, H, W); state (M, width):
        the mean embedded state token of each frame -> residual (M, 3, H, W)."""
        h = self.net[0](torch.cat([controls, predicted, sample], dim=1))
        if self.film is not None:
            scale, shift = self.film(state)[..., None, None].chunk(2, dim=1)
            h = h * (1 + scale) + shift
        return self.net[2:](self.net[1](h))


class ControlBranch(nn.Module):
    """ControlNet on the transformer: ``blocks`` (a trainable copy of the base's first blocks),
    per group an input embedding (c_g * p * p -> width) and a projection (``project``), and
    after each block a zero-initialised projection (``zero_out``) giving the residual for the
    base. Only the outputs start at zero: that alone keeps an untrained branch from changing
    the base, and with ControlNet's zero input projections too the branch's inputs get no
    gradient until its outputs have moved, which cost the first thousand CPU steps nothing
    but background."""

    def __init__(self, blocks: Sequence[SpaceTimeBlock], width: int, patch_size: int, groups: Mapping[str, Sequence[int]],
                 pixel_head: int = 0, pixel_head_state: bool = False):
        super().__init__()
        self.patch_size = patch_size
        self.group_channels = {g: list(channels) for g, channels in groups.items()}
        self.blocks = nn.ModuleList(copy.deepcopy(block) for block in blocks)
        self.embed = nn.ModuleDict({g: nn.Linear(len(c) * patch_size ** 2, width) for g, c in self.group_channels.items()})
        self.project = nn.ModuleDict({g: nn.Linear(width, width) for g in self.group_channels})
        self.zero_out = nn.ModuleList(zero_linear(width, width) for _ in self.blocks)
        channels = sum(len(c) for c in self.group_channels.values())
        self.pixel = PixelHead(channels, pixel_head, width if pixel_head_state else None) if pixel_head > 0 else None

    def grid_weights(self, control_weights, batch: int, frames: int, height: int, width: int,
                     like: torch.Tensor) -> dict[str, "float | torch.Tensor"]:
        """Each group's weight per pixel: a float, or (B*T, 1, H, W) for a map.
        ``control_weights``: None (1 for every group), a mapping group -> number or map
        (groups not named keep 1), or a map for all groups; a map is (T, H, W) or (B, T, H, W)."""
        names = list(self.group_channels)
        if control_weights is None:
            return dict.fromkeys(names, 1.0)
        if isinstance(control_weights, torch.Tensor):
            grid = self._weight_map(control_weights, "control_weights", batch, frames, height, width, like)
            return dict.fromkeys(names, grid)
        if not isinstance(control_weights, Mapping):
            raise ValueError(f"control_weights: expected None, a mapping group -> weight or a (T, H, W) / (B, T, H, W) "
                             f"map, got {type(control_weights).__name__}")
        unknown = [str(name) for name in control_weights if name not in self.group_channels]
        if unknown:
            raise ValueError(f"control_weights: unknown group {', '.join(unknown)}; expected one of {', '.join(names)}")
        weights: dict[str, float | torch.Tensor] = {}
        for name in names:
            value = control_weights.get(name, 1.0)
            if isinstance(value, torch.Tensor) and value.ndim > 0:
                weights[name] = self._weight_map(value, f"control_weights[{name!r}]", batch, frames, height, width, like)
            elif isinstance(value, (numbers.Real, torch.Tensor)) and not isinstance(value, bool):
                weights[name] = float(value)
            else:
                raise ValueError(f"control_weights[{name!r}]: expected a number or a (T, H, W) / (B, T, H, W) map, "
                                 f"got {type(value).__name__}")
        return weights

    def _weight_map(self, value: torch.Tensor, what: str, batch: int, frames: int, height: int, width: int,
                    like: torch.Tensor) -> torch.Tensor:
        """A (T, H, W) or (B, T, H, W) map -> (B*T, 1, H, W)."""
        if value.shape == (frames, height, width):
            value = value.expand(batch, frames, height, width)
        elif value.shape != (batch, frames, height, width):
            raise ValueError(f"{what}: expected a weight map of shape ({frames}, {height}, {width}) or "
                             f"({batch}, {frames}, {height}, {width}), got {tuple(value.shape)}")
        return value.to(device=like.device, dtype=like.dtype).reshape(batch * frames, 1, height, width)

    def on_patches(self, weight: "float | torch.Tensor") -> "float | torch.Tensor":
        """A weight per pixel (float or (M, 1, H, W)) on the patch grid: (M, N, 1), the mean over each patch."""
        if isinstance(weight, float):
            return weight
        return F.avg_pool2d(weight, self.patch_size).reshape(weight.shape[0], -1, 1)

    @staticmethod
    def gate(weights: Mapping[str, "float | torch.Tensor"]) -> "float | torch.Tensor":
        """max over groups of |w_g|: the factor on the branch's residuals (0 where every weight is 0)."""
        values = [abs(w) if isinstance(w, float) else w.abs() for w in weights.values()]
        if all(isinstance(v, float) for v in values):
            return max(values, default=0.0)
        maps = [v for v in values if isinstance(v, torch.Tensor)]
        gate = maps[0]
        for v in maps[1:]:
            gate = torch.maximum(gate, v)
        numbers_only = [v for v in values if isinstance(v, float)]
        return gate.clamp_min(max(numbers_only)) if numbers_only else gate

    def forward(self, h0: torch.Tensor, controls: torch.Tensor, weights: Mapping[str, "float | torch.Tensor"],
                gate: "float | torch.Tensor", cond: Conditioning) -> list[torch.Tensor]:
        """h0 (B*T, N, width): the base's embedded noisy frames; controls (B*T, C, H, W);
        ``weights`` and ``gate`` from :meth:`grid_weights` and :meth:`gate`. Returns one
        residual (B*T, N, width) per block, to add after the base block of the same index."""
        h = h0
        for name, channels in self.group_channels.items():
            w = weights[name]
            if isinstance(w, float) and w == 0.0:
                continue
            h = h + self.on_patches(w) * self.project[name](self.embed[name](patchify(controls[:, channels],
                                                                                       self.patch_size)))
        residuals = []
        gate = self.on_patches(gate)
        for i, (block, zero) in enumerate(zip(self.blocks, self.zero_out)):
            h = block(h, cond, first=i == 0)
            residuals.append(zero(h) * gate)
        return residuals

    def pixel_residual(self, controls: torch.Tensor, weights: Mapping[str, "float | torch.Tensor"],
                       gate: "float | torch.Tensor", predicted: torch.Tensor, sample: torch.Tensor,
                       state: torch.Tensor) -> torch.Tensor:
        """The pixel head's residual (M, 3, H, W) on ``predicted`` (M, 3, H, W), from the
        controls (M, C, H, W) each group scaled by its weight, ``sample`` (M, 3, H, W) and
        ``state`` (M, width); times the gate, so it is 0 where every weight is."""
        weighted = torch.cat([controls[:, channels] * weights[name] for name, channels in self.group_channels.items()],
                             dim=1)
        return self.pixel(weighted, predicted, sample, state) * gate


class VideoDenoiser(ModelMixin, ConfigMixin):
    """Predicts the clean clip x0 from noisy frames, the timestep, per-frame state tokens and
    (optionally) the control stack; see the module docstring for the architecture.

    Config: ``patch_size`` p (pixels), ``width`` (hidden size), ``depth`` (blocks), ``heads``
    (attention heads; width must divide by it), ``control_blocks`` (blocks copied into the
    control branch, at most depth), ``token_features`` F (features per state token),
    ``control_channels`` (names of the control stack's channels, in order),
    ``control_groups`` ({group: [channel names]}), ``temporal`` (False: no temporal blocks, a
    per-frame model), ``pixel_head`` (hidden channels of the branch's full-resolution head;
    0: none), ``pixel_head_state`` (the head reads the frame's mean state token)."""

    @register_to_config
    def __init__(
        self,
        patch_size: int = 4,
        width: int = 128,
        depth: int = 6,
        heads: int = 4,
        control_blocks: int = 2,
        token_features: int = 32,
        control_channels: Sequence[str] = CONTROL_CHANNEL_NAMES,
        control_groups: Mapping[str, Sequence[str]] = CONTROL_GROUPS,
        temporal: bool = True,
        pixel_head: int = 0,
        pixel_head_state: bool = False,
    ):
        super().__init__()
        if patch_size < 1 or depth < 1 or heads < 1 or token_features < 1 or pixel_head < 0:
            raise ValueError("VideoDenoiser: expected patch_size, depth, heads and token_features of at least 1 "
                             "and pixel_head of at least 0")
        if width % heads or width % 4:
            raise ValueError(f"VideoDenoiser: expected width ({width}) divisible by heads ({heads}) and by 4")
        if not 0 <= control_blocks <= depth:
            raise ValueError(f"VideoDenoiser: expected 0 <= control_blocks ({control_blocks}) <= depth ({depth})")
        channels = [str(c) for c in control_channels]
        if len(set(channels)) != len(channels):
            raise ValueError(f"VideoDenoiser: expected distinct control channel names, got {channels}")
        groups = {str(g): [str(c) for c in members] for g, members in control_groups.items()}
        for g, members in groups.items():
            if not g or "." in g:
                raise ValueError(f"VideoDenoiser: control group name {g!r}: expected a non-empty name without '.'")
            if not members or any(c not in channels for c in members):
                raise ValueError(f"VideoDenoiser: control group {g!r}: expected a non-empty list of channels among "
                                 f"{', '.join(channels)}, got {members}")
        # Groups in the order of their first channel: config.json sorts keys, and the order fixes
        # the order of the branch's sum over groups (bit-exact reloads). The config holds plain
        # lists and dicts, as they come back from config.json.
        groups = dict(sorted(groups.items(), key=lambda item: (min(channels.index(c) for c in item[1]), item[0])))
        self.register_to_config(control_channels=channels, control_groups=groups)

        p = patch_size
        self.patch_embed = nn.Linear(3 * p * p, width)
        self.token_embed = PixArtAlphaTextProjection(token_features, width)  # F -> width -> width MLP
        self.adaln_single = AdaLayerNormSingle(width)
        self.blocks = nn.ModuleList(SpaceTimeBlock(width, heads, temporal) for _ in range(depth))
        self.norm_out = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.scale_shift_table = nn.Parameter(torch.randn(2, width) / width ** 0.5)
        self.proj_out = zero_linear(width, 3 * p * p)  # DiT: the model starts by predicting 0
        self.control = ControlBranch(self.blocks[:control_blocks], width, p,
                                     {g: [channels.index(c) for c in members] for g, members in groups.items()},
                                     pixel_head, pixel_head_state)

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, tokens: torch.Tensor, token_mask: torch.Tensor,
                controls: torch.Tensor | None = None, control_weights=None) -> torch.Tensor:
        """sample (B, T, 3, H, W) noisy frames in [-1, 1] space, H and W multiples of
        ``patch_size``; timestep (B,) (or a scalar for all) in [0, num_train_timesteps);
        tokens (B, T, S, F) float; token_mask (B, T, S) bool, True = real token; controls
        (B, T, C, H, W) float in the order of ``control_channels``, or None; control_weights:
        None (1 for every group), a mapping group -> number or map (groups not named keep 1),
        or one map for every group: (T, H, W) or (B, T, H, W), averaged over each patch.

        Returns the predicted clean frames (B, T, 3, H, W) in [-1, 1] space, not clamped.
        Without controls, or when every weight is 0 everywhere, the branch is not run."""
        B, T, H, W = self._check_inputs(sample, tokens, token_mask, controls)
        p = self.config.patch_size
        h, w = H // p, W // p
        dtype = sample.dtype

        x = patchify(sample.reshape(B * T, 3, H, W), p)
        h0 = self.patch_embed(x) + self._grid_position(h, w, sample.device, dtype)  # (B*T, N, width)
        cond = self._conditioning(timestep, tokens, token_mask, B, T, h * w, dtype)

        residuals: list[torch.Tensor] = []
        steered = False
        if controls is not None or control_weights is not None:
            weights = self.control.grid_weights(control_weights, B, T, H, W, like=sample)  # checked even if unused
            gate = self.control.gate(weights)
            steered = controls is not None and bool(torch.as_tensor(gate).ne(0).any())
            if steered:
                controls = controls.reshape(B * T, -1, H, W).to(dtype)
            if steered and len(self.control.blocks) > 0:
                residuals = self.control(h0, controls, weights, gate, cond)

        hidden = h0
        for i, block in enumerate(self.blocks):
            hidden = block(hidden, cond, first=i == 0)
            if i < len(residuals):
                hidden = hidden + residuals[i]

        embedded = cond.embedded_timestep.repeat_interleave(T, dim=0)[:, None]  # (B*T, 1, width)
        shift, scale = (self.scale_shift_table[None] + embedded).chunk(2, dim=1)
        out = self.proj_out(self.norm_out(hidden) * (1 + scale) + shift)  # (B*T, N, 3*p*p)
        predicted = unpatchify(out, 3, h, w, p)  # (B*T, 3, H, W)
        if steered and self.control.pixel is not None:
            predicted = predicted + self.control.pixel_residual(controls, weights, gate, predicted,
                                                                sample.reshape(B * T, 3, H, W), cond.state)
        return predicted.reshape(B, T, 3, H, W)

    def _check_inputs(self, sample, tokens, token_mask, controls) -> tuple[int, int, int, int]:
        """Shapes of the inputs (ValueError with what was expected). Returns B, T, H, W."""
        p = self.config.patch_size
        if sample.ndim != 5 or sample.shape[2] != 3:
            raise ValueError(f"sample: expected (B, T, 3, H, W) frames, got {tuple(sample.shape)}")
        B, T, _, H, W = sample.shape
        if H % p or W % p:
            raise ValueError(f"sample: expected height and width multiples of the patch size {p}, got {H}x{W}")
        F_ = self.config.token_features
        if tokens.ndim != 4 or tokens.shape[:2] != (B, T) or tokens.shape[3] != F_:
            raise ValueError(f"tokens: expected ({B}, {T}, S, {F_}) (token_features={F_}), got {tuple(tokens.shape)}")
        if tokens.shape[2] < 1:
            raise ValueError("tokens: expected at least one token slot per frame (S >= 1)")
        if tuple(token_mask.shape) != tuple(tokens.shape[:3]):
            raise ValueError(f"token_mask: expected {tuple(tokens.shape[:3])} (B, T, S), got {tuple(token_mask.shape)}")
        if controls is not None:
            C = len(self.config.control_channels)
            if controls.ndim != 5 or controls.shape[2] != C:
                got = controls.shape[2] if controls.ndim == 5 else f"shape {tuple(controls.shape)}"
                raise ValueError(f"controls: expected {C} channels ({', '.join(self.config.control_channels)}), got {got}")
            if controls.shape != (B, T, C, H, W):
                raise ValueError(f"controls: expected shape {(B, T, C, H, W)} to match the sample, got {tuple(controls.shape)}")
        return B, T, H, W

    def _grid_position(self, h: int, w: int, device, dtype) -> torch.Tensor:
        """2D sincos embedding (1, h * w, width) of the patch row and column indices."""
        rows, cols = torch.meshgrid(torch.arange(h, device=device, dtype=torch.float32),
                                    torch.arange(w, device=device, dtype=torch.float32), indexing="ij")
        grid = torch.stack([rows.reshape(-1), cols.reshape(-1)])
        return get_2d_sincos_pos_embed_from_grid(self.config.width, grid).to(dtype)[None]

    def _conditioning(self, timestep, tokens, token_mask, B: int, T: int, N: int, dtype) -> Conditioning:
        """Timestep modulation, state-token context and frame embedding shared by every block."""
        device = tokens.device
        timestep = torch.as_tensor(timestep, device=device)
        if timestep.ndim == 0:
            timestep = timestep.expand(B)
        if timestep.shape != (B,):
            raise ValueError(f"timestep: expected ({B},) or a scalar, got {tuple(timestep.shape)}")
        modulation, embedded = self.adaln_single(timestep, batch_size=B, hidden_dtype=dtype)  # (B, 6W), (B, W)
        mask = token_mask.reshape(B * T, -1).to(device=device, dtype=dtype)
        context = self.token_embed(tokens.reshape(B * T, -1, tokens.shape[-1]).to(dtype)) * mask[..., None]
        frames = torch.arange(T, device=device, dtype=torch.float32)
        return Conditioning(
            frames=T,
            spatial=modulation.repeat_interleave(T, dim=0),
            temporal=modulation.repeat_interleave(N, dim=0),
            context=context,
            context_bias=((1 - mask) * -10000.0)[:, None],
            frame_position=get_1d_sincos_pos_embed_from_grid(self.config.width, frames).to(dtype)[None],
            embedded_timestep=embedded,
            state=context.sum(dim=1) / mask.sum(dim=1, keepdim=True).clamp_min(1),
        )
