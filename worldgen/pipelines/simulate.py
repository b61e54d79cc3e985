"""The simulate job: scene -> dynamics engine -> saved trajectory, with its timing."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from simulation.engines import make_engine
from simulation.state import Trajectory
from worldgen.scene import RunConfig


@dataclass
class SimulationReport:
    """What a simulation run did and how fast."""

    trajectory: Trajectory
    wall_seconds: float
    steps: int
    step_rate: float
    files: tuple[Path, ...]

    @property
    def simulated_seconds(self) -> float:
        return (len(self.trajectory) - 1) / self.trajectory.fps

    @property
    def real_time_factor(self) -> float:
        """Simulated seconds per wall-clock second."""
        return self.simulated_seconds / max(self.wall_seconds, 1e-9)

    def summary(self) -> str:
        traj = self.trajectory
        name = traj.scene.get("name", "scene")
        return (
            f"{name}: {len(traj)} frames ({self.simulated_seconds:.2f} s at {traj.fps} fps), "
            f"{len(traj.bodies)} bodies, {len(traj.humanoids)} humanoids, {len(traj.lights)} lights, "
            f"{len(traj.contacts)} contact events\n"
            f"{self.steps} engine steps at {self.step_rate:g} Hz in {self.wall_seconds:.2f} s "
            f"(real-time factor {self.real_time_factor:.1f}x, engine {traj.engine})\n"
            + "".join(f"wrote {path}\n" for path in self.files)
        ).rstrip("\n")


def simulate(config: RunConfig, out_dir: Path | None, progress: bool = False) -> SimulationReport:
    """Advance ``config.scene`` with the engine named by ``config.options['dynamics']`` and
    save the trajectory into ``out_dir`` (when given)."""
    engine = make_engine(str(config.options.get("dynamics", "pybullet")))
    start = time.perf_counter()
    trajectory = engine.rollout(config.scene, progress=progress)
    wall = time.perf_counter() - start
    files = trajectory.save(out_dir) if out_dir is not None else ()
    rate = engine.step_rate(config.scene)
    steps = round((len(trajectory) - 1) / trajectory.fps * rate)
    return SimulationReport(trajectory=trajectory, wall_seconds=wall, steps=steps, step_rate=rate, files=tuple(files))
