"""Renderers: mitsuba reference renderer and the video diffusion renderer.

Not built yet: see the rendering and diffusion issues.
"""
