"""Scene dynamics: state types, the pybullet engine, humanoid mocap playback."""
