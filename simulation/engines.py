"""The one engine factory: an engine by name, with its options."""

from __future__ import annotations

from pathlib import Path

from simulation.engine import Engine

ENGINES = ("pybullet", "learned")


def make_engine(name: str, checkpoint: str | Path | None = None, *, contacts: bool = True, sleep: bool = True,
                floor: bool = True) -> Engine:
    """The one engine factory: ``pybullet`` or ``learned`` (the learned world model).

    ``checkpoint``: the learned engine's checkpoint folder (default: the shipped one);
    ``contacts``: whether pybullet records contact events; ``sleep`` / ``floor``: whether the
    learned engine deactivates bodies at rest / lifts bodies out of the floor. An option
    that the named engine does not have is a ValueError, an unknown name a KeyError."""
    if name not in ENGINES:
        raise KeyError(f"unknown dynamics engine {name!r}; expected {' or '.join(ENGINES)}")
    if name == "pybullet":
        for option, given in (("checkpoint", checkpoint is not None), ("sleep", not sleep), ("floor", not floor)):
            if given:
                raise ValueError(f"the pybullet engine has no {option} option; only the learned engine does")
        from simulation.pybullet_engine import PybulletEngine

        return PybulletEngine(contacts=contacts)
    from simulation.dynamics import LearnedEngine
    from simulation.dynamics.sleep import SleepRule

    return LearnedEngine.from_pretrained(checkpoint, sleep=SleepRule() if sleep else None, floor=floor)
