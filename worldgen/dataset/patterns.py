"""Object patterns that independent draws cannot express, generated from a few drawn
parameters: a family lists them under ``patterns`` (values may be distributions, drawn
from the episode seed) and each becomes concrete scene objects before validation."""

from __future__ import annotations

import colorsys
from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from worldgen.scene.schema import PositiveFloat, Size3, Spec


class DominoChain(Spec):
    """``count`` dominoes (box ``size`` [thickness, width, height], m) standing ``spacing``
    metres apart along a path whose heading turns by ``curvature`` rad per metre (0 =
    straight; the sign turns left or right) and, with ``wiggle`` > 0, swings sinusoidally
    (amplitude ``wiggle`` rad, one swing per ``wiggle_length`` m). The chain is centred on
    the origin and starts heading ``heading`` degrees; colours run round the hue circle from
    ``hue`` (in [0, 1]) over ``hue_span``. The first domino is flicked: it starts rotating
    forward about its bottom front edge at ``flick`` rad/s."""

    type: Literal["domino_chain"]
    count: Annotated[int, Field(ge=2)]
    spacing: PositiveFloat
    size: Size3 = (0.04, 0.15, 0.3)
    curvature: float = 0.0
    wiggle: float = 0.0
    wiggle_length: PositiveFloat = 2.0
    heading: float = 0.0
    hue: Annotated[float, Field(ge=0, le=1)] = 0.0
    hue_span: Annotated[float, Field(ge=0, le=1)] = 0.8
    mass: PositiveFloat = 0.2
    friction: Annotated[float, Field(ge=0)] = 0.5
    flick: Annotated[float, Field(ge=0)] = 3.0

    def objects(self) -> list[dict]:
        """The dominoes as scene object entries, in chain order."""
        n, step = self.count, self.spacing
        s = np.arange(n) * step
        theta = np.radians(self.heading) + self.curvature * s + self.wiggle * np.sin(2 * np.pi * s / self.wiggle_length)
        mid = (theta[:-1] + theta[1:]) / 2
        xy = np.concatenate([[[0.0, 0.0]], np.cumsum(step * np.stack([np.cos(mid), np.sin(mid)], 1), axis=0)])
        xy -= xy.mean(axis=0)
        thickness, _, height = self.size
        entries = []
        for i in range(n):
            colour = colorsys.hsv_to_rgb((self.hue + self.hue_span * i / max(n - 1, 1)) % 1.0, 0.7, 0.93)
            entry = {
                "name": f"domino_{i:02d}", "shape": "box", "size": list(self.size),
                "position": [float(xy[i, 0]), float(xy[i, 1]), height / 2],
                "euler": [0.0, 0.0, float(np.degrees(theta[i]))],
                "material": {"color": [float(c) for c in colour], "roughness": 0.3},
                "physics": {"mass": self.mass, "friction": self.friction},
            }
            if i == 0 and self.flick > 0:
                forward = np.array([np.cos(theta[0]), np.sin(theta[0]), 0.0])
                across = np.array([-np.sin(theta[0]), np.cos(theta[0]), 0.0])
                # omega about the bottom front edge: v = omega x (centre - edge)
                entry["angular_velocity"] = (self.flick * across).tolist()
                entry["linear_velocity"] = (self.flick * (height / 2 * forward + thickness / 2 * np.array([0, 0, 1.0]))).tolist()
            entries.append(entry)
        return entries


PATTERNS = {"domino_chain": DominoChain}
