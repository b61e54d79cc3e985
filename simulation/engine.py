"""The interface every dynamics engine implements (pybullet and the learned world model),
so that the rest of the pipeline does not care which one ran. The engines are made by
:func:`simulation.engines.make_engine`."""

from __future__ import annotations

from abc import ABC, abstractmethod

from simulation.state import SceneState, Trajectory
from worldgen.scene.schema import Scene


class Engine(ABC):
    """Advances a scene from an initial state: (scene, initial SceneState) -> Trajectory."""

    name: str

    @abstractmethod
    def rollout(
        self,
        scene: Scene,
        initial: SceneState | None = None,
        num_frames: int | None = None,
        progress: bool = False,
    ) -> Trajectory:
        """Simulate ``num_frames`` video frames (default ``scene.frame_count``).

        ``initial``: one-frame state whose body poses and velocities replace the scene's
        initial ones (e.g. a perturbed start); None starts from the scene as written.
        Frame 0 of the result is the initial state. ``progress`` shows a progress bar
        on stderr when the rollout takes more than a few seconds."""

    @abstractmethod
    def step_rate(self, scene: Scene) -> float:
        """Steps per simulated second (Hz) this engine takes on ``scene``: physics steps
        for a simulator, network calls for a learned model."""
