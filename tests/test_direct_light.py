"""The unshadowed direct shading the renderer reads agrees with the path tracer where
nothing casts a shadow: a matte floor lit by one light of each type."""

from __future__ import annotations

import numpy as np
import pytest

from renderer.pbr.render import RenderSettings
from simulation.engines import make_engine
from worldgen.pipelines.clip import render_controls
from worldgen.pipelines.render import RenderOptions, pick_camera
from worldgen.pipelines.renderer_inputs import SHADING_CHANNELS, clip_inputs
from worldgen.scene.loading import compose_config

LIGHTS = {
    "point": "{type: point, position: [0.6, -0.4, 1.2], intensity: 3, color: [1.0, 0.6, 0.3]}",
    "spot": "{type: spot, position: [0, 0, 2.0], look_at: [0.3, 0.2, 0], spot_angle: 50, spot_softness: 0.4, "
            "intensity: 12, color: [0.4, 0.7, 1.0]}",
    "directional": "{type: directional, direction: [0.4, 0.2, -1.0], intensity: 2.5, color: [0.9, 1.0, 0.5]}",
    "area": "{type: area, position: [-0.5, 0.3, 1.0], look_at: [0, 0, 0], size: [0.3, 0.3], intensity: 40, "
            "color: [1.0, 0.8, 0.8]}",
}


def _floor_under(light: str, tmp_path):
    """Reference frame and shading channels (3, H, W) of a matte grey floor under ``light``."""
    scene = tmp_path / "floor.yaml"
    scene.write_text(f"name: floor\nduration: 0.1\nfloor: {{size: [20, 20], material: {{color: [0.6, 0.6, 0.6], "
                     f"roughness: 1.0}}}}\nlights: [{light}]\n"
                     "cameras: [{name: main, position: [0, -2.2, 2.2], look_at: [0, 0, 0], fov: 60}]\n")
    config = compose_config(str(scene))
    trajectory = make_engine("pybullet").rollout(config.scene, num_frames=1)
    rendered = render_controls(trajectory, pick_camera(config, RenderOptions(resolution=(48, 36))),
                               RenderSettings(rgb=True, spp=256), frames=np.arange(1))
    stack, _ = clip_inputs(trajectory, np.arange(1), rendered)
    return rendered.clip.rgb[0], stack[0, -len(SHADING_CHANNELS):]


@pytest.mark.parametrize("kind", LIGHTS)
def test_shading_matches_the_path_tracer_on_an_unshadowed_floor(kind, tmp_path):
    reference, shading = _floor_under(LIGHTS[kind], tmp_path)
    lit = (shading > 0.08) & (shading < 0.9)  # away from black and from clipping
    assert lit.sum() > 300, kind
    # Per pixel and channel, within the path tracer's noise and the floor's small specular lobe.
    ratio = np.median(reference[lit] / shading[lit])
    assert 0.97 < ratio < 1.07, (kind, ratio)
    assert np.abs(reference[lit] - shading[lit]).mean() < 0.025, kind
    dark = shading.max(axis=0) == 0  # where the light does not reach (outside the spot's cone)
    if dark.any():
        assert reference[:, dark].mean() < 0.02, kind
