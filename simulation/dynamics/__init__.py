"""The learned world model: a graph network over entities (bodies, floor, lights, humanoid
links) trained on pybullet trajectories to advance the scene state frame by frame.

``entities`` (what a node is, padding), ``features`` (graph and inputs), ``model`` (the
network, normalisation, checkpoints), ``integrate`` (state update and training targets),
``rollout`` (batched rollouts, :class:`LearnedEngine`), ``training`` (the training loop),
``allocator`` (malloc settings for many short-lived tensors)."""

from simulation.dynamics.model import DynamicsConfig, DynamicsModel
from simulation.dynamics.rollout import DEFAULT_CHECKPOINT, LearnedEngine

__all__ = ["DEFAULT_CHECKPOINT", "DynamicsConfig", "DynamicsModel", "LearnedEngine"]
