"""Renderers. ``renderer.pbr``: the mitsuba 3 reference renderer (RGB and geometry buffers).
The video diffusion renderer (``renderer.diffusion``) is not built yet."""
