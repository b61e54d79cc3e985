"""Jobs that compose the packages: simulate, the render chain (trajectory -> buffers -> exact
flow -> control maps), the render job, dataset episodes and their generation, pose
extraction, world-model training."""
