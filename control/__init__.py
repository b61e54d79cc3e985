"""Control maps from state and camera buffers (depth, skeleton, segmentation, flow).

Not built yet: see the rendering/control-maps issue.
"""
