"""Control maps from state and camera buffers: depth map, skeleton map, segmentation map,
normal map, exact optical flow with occlusion, the stacked control tensor, and pose
extraction from real images and video (mediapipe)."""
