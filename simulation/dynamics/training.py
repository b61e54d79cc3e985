"""Training of the learned world model on pybullet trajectories (GNS recipe).

* Samples are (episode, frame t) pairs; the model sees frame t and learns the change that
  takes it to frame t + 1.
* Normalisation: input features and targets are standardised with statistics of the
  training set, measured once before training and stored in the model.
* Noise injection: the input frame's positions, orientations and velocities are
  perturbed with Gaussian noise, and the target is the change that leads from the *noisy*
  frame to the true next one, so the model learns to correct its own drift and long
  rollouts stay stable.
* Symmetry augmentation (``augment``): physics under gravity along -z above the plane
  z = 0 is unchanged by turning the whole scene about the z axis and by mirroring it in a
  vertical plane (every primitive is mirror-symmetric in its own frame), so each sample is
  turned by a random yaw and mirrored with chance 1/2: the network sees the same contact
  in every direction instead of learning each direction from its own samples. (A mesh
  that is not mirror-symmetric makes the mirror inexact: turn ``augment`` off for data with
  such meshes; the bundled families have primitives only.)
* ``rollout_steps`` k > 1 makes the loss a multi-step one: from the noisy frame t the model
  rolls out k frames on its own, and the loss averages, over the k steps, the error of each
  step's prediction against the change that would take the model's own state back to the
  true next frame; gradients flow through the whole rollout (backpropagation through
  time), so a small bias that only shows as drift over several frames is penalised as the
  drift it causes. (Best used to fine-tune a model trained one step at a time: ``init``.)
* ``average_decay`` d > 0 keeps an exponential moving average of the weights (each step
  ``avg <- d avg + (1 - d) weights``, Polyak averaging): validation and the final model
  use the average, which smooths out the noise of the last steps' updates.
* Adam with exponential learning-rate decay; runs through ``accelerate`` (CPU, one GPU, or
  several with ``accelerate launch``); validation on held-out episodes (one-step loss and
  24-frame rollout errors); resumable checkpoints in safetensors + JSON; loss curves as PNG.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from simulation.dynamics import rotations
from simulation.dynamics.entities import BODY, LIGHT, EntityState, EntityTable
from simulation.dynamics.features import graph_inputs
from simulation.dynamics.integrate import advance, output_mask, targets
from simulation.dynamics.model import DynamicsModel
from simulation.dynamics.rollout import rollout

LOSSES = {"mse": torch.square, "l1": torch.abs}  # of the normalised residual


@dataclass
class TrainConfig:
    """Optimisation and noise settings (units: m, rad, m/s, rad/s)."""

    steps: int = 120000  # the shipped model's first stage (configs/train/dynamics.yaml)
    batch_size: int = 128  # (episode, frame) samples per step and process
    learning_rate: float = 1e-3
    final_learning_rate: float = 1e-4  # exponential decay reaches this at the last step
    noise_position: float = 0.002  # std of the input position noise, m
    noise_rotation: float = 0.01  # std of the input rotation noise (per axis), rad
    noise_velocity: float = 0.03  # std of the input velocity noise, m/s
    noise_angular_velocity: float = 0.1  # std of the input angular velocity noise, rad/s
    augment: bool = False  # turn each sample by a random yaw and mirror it with chance 1/2 (the shipped recipe does)
    rollout_steps: int = 1  # k > 1: loss over k steps of the model's own rollout, gradients through it
    average_decay: float = 0.0  # > 0: validate and output an exponential moving average of the weights with this decay per step
    loss: str = "mse"  # mse | l1 (of the normalised outputs); validation reports mse either way
    statistics_batches: int = 100  # batches measured for the normalisation statistics
    log_every: int = 50  # steps per entry of the training-loss history
    validate_every: int = 2500
    checkpoint_every: int = 1000
    validation_episodes: int = 64  # per validation group, for the rollout errors
    seed: int = 0


@dataclass
class Group:
    """Episodes of one dataset, padded together: table (E, N) and states (E, T, N)."""

    name: str
    table: EntityTable
    states: EntityState

    @property
    def episodes(self) -> int:
        return int(self.table.kind.shape[0])

    @property
    def frames(self) -> int:
        return int(self.states.position.shape[1])

    def select(self, episodes: torch.Tensor) -> tuple[EntityTable, EntityState]:
        """Table (S, N) and states (S, T, N) of the given episodes."""
        return self.table.rows(episodes), self.states.map(lambda x: x[episodes])


def sample_batch(groups: list[Group], batch_size: int, history: int, generator: torch.Generator,
                 augment: bool = False):
    """One group (chance proportional to its number of samples) and ``batch_size`` random
    (episode, t) of it with ``t >= history - 1``: returns table (S, N), the frames
    ``t - history + 1 .. t + 1`` (S, history + 1, N), each scene :func:`turned_and_mirrored`
    if ``augment``."""
    weights = torch.tensor([g.episodes * max(g.frames - history, 0) for g in groups], dtype=torch.float64)
    group = groups[int(torch.multinomial(weights, 1, generator=generator))]
    episodes = torch.randint(group.episodes, (batch_size,), generator=generator)
    start = torch.randint(group.frames - history, (batch_size,), generator=generator)
    frames = start.unsqueeze(1) + torch.arange(history + 1).unsqueeze(0)
    table, states = group.table.rows(episodes), group.states.map(lambda x: x[episodes.unsqueeze(1), frames])
    return table, turned_and_mirrored(table, states, generator) if augment else states


def turned_and_mirrored(table: EntityTable, frames: EntityState, generator: torch.Generator) -> EntityState:
    """``frames`` (S, T, N) with each scene turned about the world z axis by a random angle
    and mirrored in the x-z plane (y -> -y) with chance 1/2: positions, velocities and light
    directions transform as vectors, angular velocities as pseudovectors (mirroring maps w
    to (-wx, wy, -wz)), and the orientations of solids (bodies, fixed bodies, humanoid
    links) as ``R -> M R M`` (quaternion (x, y, z, w) -> (-x, y, -z, w)), then turned; the
    floor's and lights' identity orientations stay. Colours and intensities do not change."""
    S = table.kind.shape[0]
    angle = torch.rand(S, generator=generator) * (2 * torch.pi)
    sign = 1.0 - 2.0 * (torch.rand(S, generator=generator) < 0.5).float()  # -1: mirrored
    cos, sin, zero, one = torch.cos(angle), torch.sin(angle), torch.zeros(S), torch.ones(S)
    turn = torch.stack([cos, -sin, zero, sin, cos, zero, zero, zero, one], -1).reshape(S, 1, 1, 3, 3)
    mirror = torch.diag_embed(torch.stack([one, sign, one], -1)).reshape(S, 1, 1, 3, 3)
    vector = (turn @ mirror).to(frames.position)
    pseudo = (turn @ (mirror * sign.reshape(S, 1, 1, 1, 1))).to(frames.position)

    def apply(matrix: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return (matrix @ v.unsqueeze(-1)).squeeze(-1)

    q, flip = frames.orientation, sign.reshape(S, 1, 1).to(frames.orientation)
    mirrored_q = torch.stack([q[..., 0] * flip, q[..., 1], q[..., 2] * flip, q[..., 3]], -1)
    half = torch.stack([zero, zero, torch.sin(angle / 2), torch.cos(angle / 2)], -1).reshape(S, 1, 1, 4)
    solid = table.solid.reshape(S, 1, -1, 1)
    orientation = torch.where(solid, rotations.normalise(rotations.multiply(half.to(q), mirrored_q)), q)
    return dataclasses.replace(
        frames,
        position=apply(vector, frames.position),
        orientation=orientation,
        velocity=apply(vector, frames.velocity),
        previous_velocity=apply(vector, frames.previous_velocity),
        angular_velocity=apply(pseudo, frames.angular_velocity),
        previous_angular_velocity=apply(pseudo, frames.previous_angular_velocity),
        direction=apply(vector, frames.direction),
        direction_change=apply(vector, frames.direction_change),
    )


def add_noise(table: EntityTable, state: EntityState, config: TrainConfig, generator: torch.Generator) -> EntityState:
    """``state`` with Gaussian noise on the predicted entities' positions, orientations and
    velocities (the current and previous ones)."""
    body = (table.kind == BODY).unsqueeze(-1).float()
    moving = ((table.kind == BODY) | (table.kind == LIGHT)).unsqueeze(-1).float()

    def noise(like: torch.Tensor, std: float) -> torch.Tensor:
        return torch.randn(like.shape, generator=generator).to(like.device) * std

    spin = rotations.from_rotation_vector(noise(state.position, config.noise_rotation) * body)
    known = state.has_velocity.unsqueeze(-1)
    before = state.has_previous.unsqueeze(-1)
    return dataclasses.replace(
        state,
        position=state.position + noise(state.position, config.noise_position) * moving,
        orientation=rotations.normalise(rotations.multiply(spin, state.orientation)),
        velocity=state.velocity + noise(state.velocity, config.noise_velocity) * moving * known,
        angular_velocity=state.angular_velocity + noise(state.velocity, config.noise_angular_velocity) * body * known,
        previous_velocity=state.previous_velocity + noise(state.velocity, config.noise_velocity) * moving * before,
        previous_angular_velocity=state.previous_angular_velocity
        + noise(state.velocity, config.noise_angular_velocity) * body * before,
    )


def _frame(states: EntityState, t: int) -> EntityState:
    return states.map(lambda x: x[:, t])


def training_pair(model: DynamicsModel, table: EntityTable, frames: EntityState, config: TrainConfig,
                  generator: torch.Generator):
    """Inputs and targets of one step: graph inputs of the noisy frame 0 of ``frames``
    (S, 2, N), the targets (S, N, 13) in physical units that lead to frame 1, their mask."""
    state = add_noise(table, _frame(frames, 0), config, generator)
    target = targets(table, state, _frame(frames, 1), model.config.fps)
    return graph_inputs(table, state, model.config.radius, model.config.fps), target, output_mask(table.kind)


def rollout_loss(model, unwrapped: DynamicsModel, table: EntityTable, frames: EntityState, config: TrainConfig,
                 generator: torch.Generator) -> torch.Tensor:
    """The training loss of a batch of frames (S, k + 1, N) on the model's device: the mean
    over k = ``config.rollout_steps`` steps of the ``LOSSES[config.loss]`` error of the
    normalised prediction from the model's own state (the noisy frame 0, then its own
    rollout, with gradients) against the targets that lead from that state to the true
    next frame. ``model`` is the (possibly wrapped) module to call, ``unwrapped`` the
    :class:`DynamicsModel` inside it."""
    fps, mask = unwrapped.config.fps, output_mask(table.kind)
    state = add_noise(table, _frame(frames, 0), config, generator)
    total = 0.0
    k = frames.position.shape[1] - 1
    for t in range(k):
        nodes, edges = graph_inputs(table, state, unwrapped.config.radius, fps)
        predicted = model(nodes, edges)
        target = unwrapped.target_normaliser(targets(table, state, _frame(frames, t + 1), fps))
        total = total + (LOSSES[config.loss](predicted - target) * mask).sum() / mask.sum().clamp_min(1.0)
        if t + 1 < k:
            following = advance(table, state, unwrapped.target_normaliser.inverse(predicted), fps)
            state = following.where(table.predicted, _frame(frames, t + 1))
    return total / k


@torch.no_grad()
def fit_normalisers(model: DynamicsModel, groups: list[Group], config: TrainConfig, generator: torch.Generator) -> None:
    """Measure input and target statistics on ``config.statistics_batches`` noisy batches."""
    nodes, edges, outputs, masks = [], [], [], []
    for _ in range(config.statistics_batches):
        table, frames = sample_batch(groups, config.batch_size, 1, generator, config.augment)
        (node, edge), target, mask = training_pair(model, table, frames, config, generator)
        valid = table.kind >= 0
        nodes.append(node[valid])
        edges.append(edge[3])
        outputs.append(target[valid])
        masks.append(mask[valid])
    model.node_normaliser.fit(torch.cat(nodes))
    model.edge_normaliser.fit(torch.cat(edges))
    model.target_normaliser.fit(torch.cat(outputs), torch.cat(masks))


def loss_of(model: DynamicsModel, inputs, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error of the normalised outputs over the outputs that exist."""
    nodes, edges = inputs
    error = torch.square(model(nodes, edges) - model.target_normaliser(target)) * mask
    return error.sum() / mask.sum().clamp_min(1.0)


@torch.no_grad()
def validate(model: DynamicsModel, groups: list[Group], config: TrainConfig, horizon: int = 24) -> dict:
    """Per validation group: the one-step loss (no noise) over every frame of the first
    ``validation_episodes`` episodes, and their rollout errors from frame 0 over ``horizon``
    frames: mean body translation (m) and rotation (rad) errors and light position error."""
    quiet = dataclasses.replace(config, noise_position=0.0, noise_rotation=0.0, noise_velocity=0.0,
                                noise_angular_velocity=0.0)
    report = {}
    for group in groups:
        episodes = torch.arange(min(config.validation_episodes, group.episodes))
        table, states = group.select(episodes)
        losses = []
        for t in range(group.frames - 1):
            frames = states.map(lambda x: x[:, t:t + 2])
            inputs, target, mask = training_pair(model, table, frames, quiet, torch.Generator())
            losses.append(float(loss_of(model, inputs, target, mask)))
        T = min(horizon + 1, group.frames)
        predicted = rollout(model, table, states, T)
        body = (table.kind == BODY).unsqueeze(1).expand(-1, T - 1, -1)
        light = (table.kind == LIGHT).unsqueeze(1).expand(-1, T - 1, -1)
        position_error = (predicted.position[:, 1:] - states.position[:, 1:T]).norm(dim=-1)
        angle = rotations.angle_between(predicted.orientation[:, 1:], states.orientation[:, 1:T])
        report[group.name] = {
            "one_step_loss": float(np.mean(losses)),
            "translation_error": float(position_error[body].mean()) if body.any() else None,
            "rotation_error": float(angle[body].mean()) if body.any() else None,
            "light_position_error": float(position_error[light].mean()) if light.any() else None,
        }
    return report
