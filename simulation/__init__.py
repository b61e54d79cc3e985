"""Scene dynamics: state types, the pybullet engine, humanoid mocap playback."""

from simulation.quiet import quiet_stdout

with quiet_stdout():
    import pybullet  # noqa: F401  (prints its build time once, on first import)
