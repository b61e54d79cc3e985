"""worldgen: physics-conditioned world-model video generator."""

__version__ = "0.1.0"
