"""Bring your own weights: a diffusers ControlNet pipeline saved on disk paints worldgen's
control maps frame by frame (:mod:`renderer.controlnet.painter`). Needs the ``diffusion``
extra (diffusers, and transformers for the pipeline's text encoder)."""
