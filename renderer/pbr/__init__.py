"""The mitsuba 3 reference renderer: a trajectory seen through a camera as physically based
RGB frames plus exact per-pixel z-depth, normals, instance ids and world positions."""

from renderer.pbr.render import RenderedClip, RenderSettings, render_trajectory

__all__ = ["RenderedClip", "RenderSettings", "render_trajectory"]
