"""The learned world model: an encode-process-decode graph network over entities.

Why a graph network with relative edge features rather than a transformer: contact is
local and pairwise, so messages are computed per pair from relative geometry (offsets,
gaps from support functions, relative velocities) and summed at the receiver, as in GNS
(Sanchez-Gonzalez et al. 2020) and FIGNet (Allen et al. 2022). The graph is sparse
(connectivity radius), so cost grows with the number of nearby pairs instead of the square
of the entity count, results do not depend on padding, and no absolute x-y position enters
the model (translation invariance in the floor plane).

Inputs and targets are normalised with statistics of the training set (buffers of the
model, saved with it). The model predicts, per entity, the normalised change over one frame
of the velocity (3) and angular velocity (3) — linear and angular acceleration times the
frame time — and, for lights, of direction (3), colour (3) and log-intensity (1).

Checkpoints are a folder with ``config.json`` and ``model.safetensors`` (never pickle)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from simulation.dynamics.features import EDGE_FEATURES, KIND_FEATURES, NODE_FEATURES

OUTPUTS = 13  # velocity change (3), angular velocity change (3), light direction (3), colour (3), log-intensity (1)
FORMAT = "worldgen.dynamics/3"  # /2: contact patch and gap basis edge features; /3: floor lookahead


@dataclass
class DynamicsConfig:
    """Architecture and the physical constants the model was trained for."""

    latent: int = 64  # width of node and edge latents
    hidden_layers: int = 2  # hidden layers per MLP
    message_steps: int = 3  # rounds of message passing
    radius: float = 0.5  # m: two solids exchange messages when their estimated gap is below this
    fps: int = 12  # frames per second the model steps at (one prediction per video frame)


def mlp(inputs: int, width: int, outputs: int, hidden_layers: int, layer_norm: bool = True) -> nn.Sequential:
    """``hidden_layers`` ReLU layers of ``width``, a linear output, optionally LayerNorm."""
    layers: list[nn.Module] = []
    size = inputs
    for _ in range(hidden_layers):
        layers += [nn.Linear(size, width), nn.ReLU()]
        size = width
    layers.append(nn.Linear(size, outputs))
    if layer_norm:
        layers.append(nn.LayerNorm(outputs))
    return nn.Sequential(*layers)


class Normaliser(nn.Module):
    """Per-feature mean and standard deviation (buffers) of a training set.
    ``fit`` accumulates them in float64; a std below ``floor`` counts as ``floor`` so
    that features constant in training (e.g. an unused one-hot) cannot blow up."""

    def __init__(self, size: int, floor: float = 1e-2):
        super().__init__()
        self.floor = floor
        self.register_buffer("mean", torch.zeros(size))
        self.register_buffer("std", torch.ones(size))

    @torch.no_grad()
    def fit(self, samples: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        """Set the statistics from ``samples`` (M, size), counting only the entries where
        ``mask`` (M, size) is non-zero when given."""
        x = samples.double()
        w = torch.ones_like(x) if mask is None else (mask > 0).double()
        count = w.sum(0).clamp_min(1.0)
        mean = (x * w).sum(0) / count
        var = (((x - mean) ** 2) * w).sum(0) / (count - 1).clamp_min(1.0)
        self.mean.copy_(mean.float())
        self.std.copy_(var.sqrt().clamp_min(self.floor).float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std + self.mean


class InteractionBlock(nn.Module):
    """One round of message passing with residual updates (edge, then node)."""

    def __init__(self, latent: int, hidden_layers: int):
        super().__init__()
        self.edge = mlp(3 * latent, latent, latent, hidden_layers)
        self.node = mlp(2 * latent, latent, latent, hidden_layers)

    def forward(self, nodes: torch.Tensor, edges: torch.Tensor, receiver: torch.Tensor, sender: torch.Tensor):
        """nodes (M, latent), edges (E, latent), receiver/sender (E,) flat node indices.

        The edge MLP reads ``[edge, sender node, receiver node]`` and the node MLP
        ``[node, summed messages]``. Their first layers are applied to each part separately
        (the weight's column blocks), the node parts before gathering them onto the edges:
        the same function as on the concatenation, without copying it, and with about two
        thirds of the edge MLP's first-layer work (there are about twice as many edges as
        nodes)."""
        L = nodes.shape[-1]
        first, rest = self.edge[0], self.edge[1:]
        hidden = nn.functional.linear(edges, first.weight[:, :L], first.bias)
        hidden = hidden + nn.functional.linear(nodes, first.weight[:, L:2 * L]).index_select(0, sender)
        hidden = hidden + nn.functional.linear(nodes, first.weight[:, 2 * L:]).index_select(0, receiver)
        edges = edges + rest(hidden)
        inbox = torch.zeros_like(nodes).index_add_(0, receiver, edges)
        first, rest = self.node[0], self.node[1:]
        hidden = nn.functional.linear(nodes, first.weight[:, :L], first.bias) + nn.functional.linear(inbox, first.weight[:, L:])
        return nodes + rest(hidden), edges


class DynamicsModel(nn.Module):
    """Graph network: node/edge features -> normalised per-entity outputs (OUTPUTS)."""

    def __init__(self, config: DynamicsConfig):
        super().__init__()
        self.config = config
        L, H = config.latent, config.hidden_layers
        self.node_normaliser = Normaliser(NODE_FEATURES)
        self.edge_normaliser = Normaliser(EDGE_FEATURES)
        self.target_normaliser = Normaliser(OUTPUTS, floor=1e-4)
        self.node_encoder = mlp(NODE_FEATURES, L, L, H)
        self.edge_encoder = mlp(EDGE_FEATURES, L, L, H)
        self.blocks = nn.ModuleList(InteractionBlock(L, H) for _ in range(config.message_steps))
        self.decoder = mlp(L, L, OUTPUTS, H, layer_norm=False)

    def forward(self, nodes: torch.Tensor, edges) -> torch.Tensor:
        """nodes (S, N, NODE_FEATURES); edges (scene, receiver, sender, features) as from
        :func:`simulation.dynamics.features.build_edges`. Returns normalised outputs
        (S, N, OUTPUTS), zero for padding; de-normalise with ``target_normaliser.inverse``.
        Padding entities (no kind) are left out of the network, not just masked."""
        S, N, _ = nodes.shape
        scene, receiver, sender, features = edges
        present = nodes[..., KIND_FEATURES].sum(-1).flatten() > 0  # (S * N,)
        compact = torch.cumsum(present, 0) - 1  # flat entity index -> row among the present ones
        h = self.node_encoder(self.node_normaliser(nodes.reshape(S * N, -1)[present]))
        e = self.edge_encoder(self.edge_normaliser(features))
        r, s = compact[scene * N + receiver], compact[scene * N + sender]
        for block in self.blocks:
            h, e = block(h, e, r, s)
        out = self.decoder(h)
        return out.new_zeros(S * N, OUTPUTS).index_copy_(0, present.nonzero().squeeze(1), out).reshape(S, N, OUTPUTS)

    def save_pretrained(self, folder: str | Path) -> None:
        """Write ``config.json`` and ``model.safetensors`` into ``folder`` (each through a
        temporary file renamed into place)."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / ".model.safetensors.tmp"
        save_file({k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}, str(tmp), metadata={"format": FORMAT})
        tmp.replace(folder / "model.safetensors")
        tmp = folder / ".config.json.tmp"
        tmp.write_text(json.dumps({"format": FORMAT, **dataclasses.asdict(self.config)}, indent=1) + "\n")
        tmp.replace(folder / "config.json")

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "DynamicsModel":
        """Load a model written by :meth:`save_pretrained` (ValueError if it is not one)."""
        from safetensors.torch import load_file

        folder = Path(folder)
        config_file, weights = folder / "config.json", folder / "model.safetensors"
        if not config_file.is_file() or not weights.is_file():
            raise ValueError(f"{folder}: expected a checkpoint folder with config.json and model.safetensors")
        doc = json.loads(config_file.read_text())
        if doc.pop("format", None) != FORMAT:
            raise ValueError(f"{config_file}: expected format {FORMAT}")
        model = cls(DynamicsConfig(**doc))
        model.load_state_dict(load_file(str(weights)))
        return model.eval()
